import { loadFixtures } from '../../test/support/fixtures';
import { BridgeError } from '../errors';
import { parseJsonBody } from './parse';
import { createCallbackValidator, fieldPath } from './validate';
import { model } from './test-model';

const validate = createCallbackValidator(model);
const fixtures = loadFixtures();
const text = () => JSON.parse(fixtures.find((f) => f.name === 'text.json')!.text);
const media = () => JSON.parse(fixtures.find((f) => f.name === 'media.json')!.text);
const relay = () => JSON.parse(fixtures.find((f) => f.name === 'relay.json')!.text);
const locationFace = () => JSON.parse(fixtures.find((f) => f.name === 'location-face.json')!.text);

function messageOf(body: unknown): string {
  try {
    validate(body);
  } catch (err) {
    expect(err).toBeInstanceOf(BridgeError);
    expect((err as BridgeError).status).toBe(400);
    return (err as Error).message;
  }
  throw new Error('expected the body to be refused');
}

describe('callback validation', () => {
  test.each(fixtures.map((f) => [f.name, f.json]))('accepts the fixture %s', (_name, body) => {
    expect(validate(body)).toBe(body);
  });

  // one mutation per negative case, each naming the field
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mutations reach into any field
  const negative: [string, (b: Record<string, any>) => unknown, string][] = [
    [
      'latitude as a string',
      (b) => ((b.MsgBody[0].MsgContent.Latitude = '22.5'), b),
      'MsgBody[0].MsgContent.Latitude must be a number',
    ],
    ['missing To_Account', (b) => (delete b.To_Account, b), 'To_Account is required'],
    ['numeric From_Account', (b) => ((b.From_Account = 42), b), 'From_Account must be a string'],
    [
      'MsgSeq above 2^32-1',
      (b) => ((b.MsgSeq = 4294967296), b),
      'MsgSeq must be an integer between 0 and 4294967295',
    ],
    [
      'negative MsgRandom',
      (b) => ((b.MsgRandom = -1), b),
      'MsgRandom must be an integer between 0 and 4294967295',
    ],
    ['fractional MsgTime', (b) => ((b.MsgTime = 1.5), b), 'MsgTime must be an integer'],
    [
      'UnreadMsgNum below -1',
      (b) => ((b.UnreadMsgNum = -2), b),
      'UnreadMsgNum must be an integer >= -1',
    ],
    ['MsgBody not an array', (b) => ((b.MsgBody = {}), b), 'MsgBody must be an array'],
    [
      'element without MsgType',
      (b) => (delete b.MsgBody[1].MsgType, b),
      'MsgBody[1].MsgType is required',
    ],
    [
      'element without MsgContent',
      (b) => (delete b.MsgBody[1].MsgContent, b),
      'MsgBody[1].MsgContent is required',
    ],
    [
      'face index as a string',
      (b) => ((b.MsgBody[1].MsgContent.Index = '12'), b),
      'MsgBody[1].MsgContent.Index must be an integer',
    ],
    [
      'text element content not an object',
      (b) => ((b.MsgBody[0] = { MsgType: 'TIMTextElem', MsgContent: 'hi' }), b),
      'MsgBody[0].MsgContent must be an object',
    ],
    [
      'CloudCustomData null',
      (b) => ((b.CloudCustomData = null), b),
      'CloudCustomData must be a string',
    ],
    ['body an array', () => [], 'body must be a JSON object'],
    [
      'a size beyond 2^53',
      (b) => ((b.MsgBody[1].MsgContent.Index = 2 ** 60), b),
      'MsgBody[1].MsgContent.Index must be a safe integer (between -(2^53-1) and 2^53-1)',
    ],
  ];
  test.each(negative)('refuses %s, naming the field', (_name, mutate, message) => {
    expect(messageOf(mutate(locationFace()))).toBe(message);
  });

  test('names fields deep inside images and relays', () => {
    const m = media();
    m.MsgBody[0].MsgContent.ImageInfoArray[2].Width = 'wide';
    expect(messageOf(m)).toBe('MsgBody[0].MsgContent.ImageInfoArray[2].Width must be an integer');
    const r = relay();
    r.MsgBody[0].MsgContent.MsgList[1].MsgBody[0].MsgContent.Text = 7;
    expect(messageOf(r)).toBe(
      'MsgBody[0].MsgContent.MsgList[1].MsgBody[0].MsgContent.Text must be a string',
    );
  });

  test('a big number (kept exact as raw JSON) where an object belongs is refused like any number', () => {
    const body = (content: string) =>
      parseJsonBody(
        Buffer.from(
          JSON.stringify(text()).replace(/"MsgContent":\{[^}]*\}/, `"MsgContent":${content}`),
        ),
      );
    const message = 'MsgBody[0].MsgContent must be an object';
    expect(messageOf(body('18446744073709551616'))).toBe(message);
    expect(messageOf(body('1e400'))).toBe(message);
    expect(messageOf(body('5'))).toBe(message);
    expect(messageOf(parseJsonBody(Buffer.from('18446744073709551616')))).toBe(
      'body must be a JSON object',
    );
  });

  test('takes the unsigned 32-bit extremes and an UnreadMsgNum of -1', () => {
    const b = text();
    Object.assign(b, { MsgSeq: 4294967295, MsgRandom: 0, UnreadMsgNum: -1 });
    expect(() => validate(b)).not.toThrow();
  });

  test('keeps what Tencent may add: unknown elements, fields and undocumented ones of any type', () => {
    const b = text();
    b.MsgBody.push({ MsgType: 'TIMStreamElem', MsgContent: { Anything: [1, { x: null }] } });
    b.MsgBody.push({ MsgType: 'TIMFutureElem', MsgContent: 'not even an object', Extra: true });
    b.MsgBody[0].MsgContent.Translation = 'rouge';
    Object.assign(b, {
      MsgId: 12,
      EventTime: { odd: true },
      SupportMessageExtension: 'yes',
      NewThing: [1],
    });
    expect(validate(b)).toBe(b);
    expect(() => validate({ ...text(), EventTime: 1764115205123 })).not.toThrow();
    expect(() => validate({ ...text(), EventTime: '1764115205123' })).not.toThrow();
  });
});

test('field paths read like code', () => {
  expect(fieldPath('/MsgBody/1/MsgContent/Latitude')).toBe('MsgBody[1].MsgContent.Latitude');
  expect(fieldPath('', 'To_Account')).toBe('To_Account');
  expect(fieldPath('/a~1b/0')).toBe('["a/b"][0]');
});
