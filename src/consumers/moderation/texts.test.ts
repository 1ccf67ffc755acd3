import type { AfterSendMsgCallback } from '../../tencent/callback';
import { loadFixtures } from '../../../test/support/fixtures';
import { textParts, type TextPart } from './texts';

const fixtures = new Map(loadFixtures().map((f) => [f.name, f.json as AfterSendMsgCallback]));

function fixture(name: string): AfterSendMsgCallback {
  const f = fixtures.get(name);
  if (f === undefined) throw new Error(`no fixture ${name}`);
  return f;
}

function parts(callback: Partial<AfterSendMsgCallback>, options = {}): [string, string][] {
  return [...textParts({ MsgBody: [], ...callback } as AfterSendMsgCallback, options)].map(
    (p: TextPart) => [p.path, p.text],
  );
}

describe('textParts on the fixtures', () => {
  it.each<[string, [string, string][]]>([
    [
      'custom.json',
      [
        ['MsgBody[0].MsgContent.Text', 'Your order has shipped'],
        ['MsgBody[1].MsgContent.Data', '{"orderId":"A-1001","status":"shipped"}'],
        ['MsgBody[1].MsgContent.Desc', 'order update'],
        ['MsgBody[1].MsgContent.Ext', '{"deeplink":"app://orders/A-1001"}'],
        ['MsgBody[1].MsgContent.Sound', 'dingdong.aiff'],
        ['CloudCustomData', '{"campaign":"autumn"}'],
      ],
    ],
    ['failed-send.json', [['MsgBody[0].MsgContent.Text', 'buy cheap followers now']]],
    [
      'location-face.json',
      [
        ['MsgBody[0].MsgContent.Desc', 'Shenzhen Bay Park'],
        ['MsgBody[1].MsgContent.Data', 'smile'],
      ],
    ],
    // image, sound and video carry no text: only the file name
    ['media.json', [['MsgBody[2].MsgContent.FileName', 'report.pdf']]],
    [
      'relay.json',
      [
        ['MsgBody[0].MsgContent.Title', 'Chat history of frank and heidi'],
        [
          'MsgBody[0].MsgContent.CompatibleText',
          'Your app version does not support merged messages',
        ],
        ['MsgBody[0].MsgContent.AbstractList[0]', 'frank: lunch?'],
        ['MsgBody[0].MsgContent.AbstractList[1]', 'heidi: sure'],
        ['MsgBody[0].MsgContent.MsgList[0].MsgBody[0].MsgContent.Text', 'lunch?'],
        ['MsgBody[0].MsgContent.MsgList[1].MsgBody[0].MsgContent.Text', 'sure'],
      ],
    ],
    [
      'text.json',
      [
        ['MsgBody[0].MsgContent.Text', 'red packet'],
        ['CloudCustomData', 'your cloud custom data'],
      ],
    ],
    [
      'unicode-extra-fields.json',
      [['MsgBody[0].MsgContent.Text', '👩‍👩‍👧 مرحبا 你好 \u0000 "quoted" \\ back\nslash']],
    ],
  ])('%s: every text-bearing part, in order, with its path', (name, expected) => {
    expect(parts(fixture(name))).toEqual(expected);
  });

  it('leaves CloudCustomData out when asked', () => {
    expect(parts(fixture('text.json'), { cloudCustomData: false })).toEqual([
      ['MsgBody[0].MsgContent.Text', 'red packet'],
    ]);
  });

  /** Tencent's text-bearing field names (reference §4), looked for anywhere in a callback. */
  const TEXT_KEYS = new Set(['Text', 'Desc', 'Data', 'Ext', 'Sound', 'FileName', 'Title']);
  TEXT_KEYS.add('CompatibleText').add('AbstractList').add('CloudCustomData');

  function textValues(value: unknown, key = ''): string[] {
    if (typeof value === 'string') return TEXT_KEYS.has(key) && value !== '' ? [value] : [];
    if (Array.isArray(value)) return value.flatMap((v) => textValues(v, key));
    if (value === null || typeof value !== 'object') return [];
    return Object.entries(value).flatMap(([k, v]) => textValues(v, k));
  }

  it.each(loadFixtures().map((f) => [f.name, f.json] as const))(
    '%s: every value of a text-bearing field, at any depth, is found',
    (_name, json) => {
      const found = parts(json as AfterSendMsgCallback).map(([, text]) => text);
      for (const t of textValues(json)) expect(found).toContain(t);
    },
  );
});

describe('textParts beyond the fixtures', () => {
  it('walks every string of an unknown element, and undocumented fields of known ones', () => {
    expect(
      parts({
        MsgBody: [
          {
            MsgType: 'TIMPollElem',
            MsgContent: { Question: 'q?', Options: ['yes', { Label: 'no', Votes: 3 }], N: 1 },
          },
          { MsgType: 'TIMTextElem', MsgContent: { Text: 't', Translation: 'tr', 'odd key': 'o' } },
          { MsgType: 'TIMImageElem', MsgContent: { UUID: 'u', Caption: 'cap' } },
          { MsgType: 'TIMWeirdElem', MsgContent: 'just a string' },
        ],
      }),
    ).toEqual([
      ['MsgBody[0].MsgContent.Question', 'q?'],
      ['MsgBody[0].MsgContent.Options[0]', 'yes'],
      ['MsgBody[0].MsgContent.Options[1].Label', 'no'],
      ['MsgBody[1].MsgContent.Text', 't'],
      ['MsgBody[1].MsgContent.Translation', 'tr'],
      ['MsgBody[1].MsgContent["odd key"]', 'o'],
      ['MsgBody[2].MsgContent.Caption', 'cap'],
      ['MsgBody[3].MsgContent', 'just a string'],
    ]);
  });

  function relay(inner: unknown[], title: string) {
    return {
      MsgType: 'TIMRelayElem',
      MsgContent: { Title: title, Abstract: `abstract ${title}`, MsgList: [{ MsgBody: inner }] },
    };
  }

  it('follows relays inside relays, with CloudCustomData of relayed messages, up to maxDepth', () => {
    const nested = relay(
      [relay([{ MsgType: 'TIMTextElem', MsgContent: { Text: 'deep' } }], 'b')],
      'a',
    );
    (nested.MsgContent.MsgList[0] as Record<string, unknown>).CloudCustomData = 'ccd';
    expect(parts({ MsgBody: [nested] })).toEqual([
      ['MsgBody[0].MsgContent.Title', 'a'],
      ['MsgBody[0].MsgContent.Abstract', 'abstract a'],
      ['MsgBody[0].MsgContent.MsgList[0].MsgBody[0].MsgContent.Title', 'b'],
      ['MsgBody[0].MsgContent.MsgList[0].MsgBody[0].MsgContent.Abstract', 'abstract b'],
      [
        'MsgBody[0].MsgContent.MsgList[0].MsgBody[0].MsgContent.MsgList[0].MsgBody[0].MsgContent.Text',
        'deep',
      ],
      ['MsgBody[0].MsgContent.MsgList[0].CloudCustomData', 'ccd'],
    ]);
    const capped = parts({ MsgBody: [nested] }, { maxDepth: 1 }).map(([p]) => p);
    expect(capped).toContain('MsgBody[0].MsgContent.MsgList[0].MsgBody[0].MsgContent.Title');
    expect(capped.some((p) => p.endsWith('.Text'))).toBe(false);
  });

  it('survives a hostile shape without throwing', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 1000; i++) deep = [deep];
    expect(() =>
      parts({
        MsgBody: [
          null,
          { MsgType: 'X', MsgContent: deep },
          { MsgType: 'TIMRelayElem', MsgContent: { MsgList: [null, 1, { MsgBody: 'no' }] } },
        ] as unknown as AfterSendMsgCallback['MsgBody'],
      }),
    ).not.toThrow();
  });
});
