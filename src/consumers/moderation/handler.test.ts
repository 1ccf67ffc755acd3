import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as avro from 'avsc';
import type { AfterSendMsgCallback } from '../../tencent/callback';
import { loadFixtures } from '../../../test/support/fixtures';
import { createModerationHandler, type ModerationObserver, type VerdictRecord } from './handler';
import type { RecallResult, RecallTarget } from './recall';
import { compileRules } from './rules';

const verdictType = avro.Type.forSchema(
  JSON.parse(
    readFileSync(
      join(__dirname, '..', '..', '..', 'schemas', 'c2c-moderation-verdict.avsc'),
      'utf8',
    ),
  ) as avro.Schema,
  { wrapUnions: 'auto' },
);

const fixtures = new Map(loadFixtures().map((f) => [f.name, f.json as AfterSendMsgCallback]));
function fixture(name: string): AfterSendMsgCallback {
  return structuredClone(fixtures.get(name) as AfterSendMsgCallback);
}

const rules = compileRules({
  rules: [
    { id: 'lunch', kind: 'word', words: ['LUNCH', 'heidi'], category: 'food', action: 'flag' },
    { id: 'followers', kind: 'word', words: ['cheap followers'], action: 'recall' },
    { id: 'packet', kind: 'regex', pattern: 'red\\s+packet', action: 'recall', category: 'scam' },
    { id: 'packet-word', kind: 'word', words: ['packet'], action: 'recall' },
    { id: 'order', kind: 'word', words: ['order'], action: 'flag' },
  ],
});

const envelope = { SdkAppid: '1400000001' };
const clock = { now: () => 1_764_115_999_000 };

function fakeRecall(result: RecallResult | Error = { outcome: 'recalled', attempts: 1 }) {
  const calls: RecallTarget[] = [];
  return {
    calls,
    recall: (target: RecallTarget): Promise<RecallResult> => {
      calls.push(target);
      return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
    },
  };
}

function valid(verdicts: VerdictRecord[]): VerdictRecord[] {
  for (const v of verdicts) {
    const errors: string[] = [];
    verdictType.isValid(v, { errorHook: (path) => errors.push(path.join('.')) });
    expect(errors).toEqual([]);
  }
  return verdicts;
}

describe('createModerationHandler', () => {
  it('gives no verdict when nothing matches', async () => {
    const recall = fakeRecall();
    const handle = createModerationHandler({ rules, recall, recallEnabled: true, clock });
    expect(await handle({ callback: fixture('media.json'), envelope })).toEqual([]);
    expect(recall.calls).toEqual([]);
  });

  it('flags one verdict per rule naming every matched part, nested relay messages included', async () => {
    const recall = fakeRecall();
    const handle = createModerationHandler({ rules, recall, recallEnabled: true, clock });
    const verdicts = valid(await handle({ callback: fixture('relay.json'), envelope }));
    expect(verdicts).toEqual([
      {
        MsgKey: '4096_31337_1764115204',
        From_Account: 'frank',
        To_Account: 'grace',
        MsgTime: 1764115204,
        SdkAppid: '1400000001',
        RuleId: 'lunch',
        RuleKind: 'word',
        Category: 'food',
        Parts: [
          'MsgBody[0].MsgContent.Title',
          'MsgBody[0].MsgContent.AbstractList[0]',
          'MsgBody[0].MsgContent.AbstractList[1]',
          'MsgBody[0].MsgContent.MsgList[0].MsgBody[0].MsgContent.Text',
        ],
        Action: 'flag',
        Outcome: 'FLAGGED',
        RecallErrorCode: null,
        RecallErrorInfo: null,
        RecallAttempts: null,
        DecidedAt: 1_764_115_999_000,
      },
    ]);
    expect(recall.calls).toEqual([]);
  });

  it('recalls once per message however many recall rules match', async () => {
    const recall = fakeRecall({ outcome: 'recalled', attempts: 2 });
    const handle = createModerationHandler({ rules, recall, recallEnabled: true, clock });
    const callback = fixture('text.json'); // "red packet"
    callback.MsgBody.push({ MsgType: 'TIMTextElem', MsgContent: { Text: 'your order' } });
    const verdicts = valid(await handle({ callback, envelope }));
    expect(recall.calls).toEqual([
      { From_Account: 'jared', To_Account: 'Jonh', MsgKey: '48374_2837546_1557481126' },
    ]);
    expect(
      verdicts.map((v) => [v.RuleId, v.RuleKind, v.Action, v.Outcome, v.RecallAttempts]),
    ).toEqual([
      ['packet', 'regex', 'recall', 'RECALLED', 2],
      ['packet-word', 'word', 'recall', 'RECALLED', 2],
      ['order', 'word', 'flag', 'FLAGGED', null],
    ]);
    expect(verdicts[2]?.Parts).toEqual(['MsgBody[1].MsgContent.Text']);
  });

  it('never recalls a failed send (SendMsgResult non-zero)', async () => {
    const recall = fakeRecall();
    const handle = createModerationHandler({ rules, recall, recallEnabled: true, clock });
    const verdicts = valid(await handle({ callback: fixture('failed-send.json'), envelope }));
    expect(recall.calls).toEqual([]);
    expect(verdicts.map((v) => [v.RuleId, v.Outcome, v.Parts])).toEqual([
      ['followers', 'NOT_RECALLED_FAILED_SEND', ['MsgBody[0].MsgContent.Text']],
    ]);
  });

  it('counts a missing SendMsgResult as a delivered message', async () => {
    const recall = fakeRecall();
    const handle = createModerationHandler({ rules, recall, recallEnabled: true, clock });
    const callback = fixture('text.json');
    delete callback.SendMsgResult;
    await handle({ callback, envelope });
    expect(recall.calls).toHaveLength(1);
  });

  it('says RECALL_DISABLED and calls nobody when recall is off', async () => {
    const recall = fakeRecall();
    const handle = createModerationHandler({ rules, recall, recallEnabled: false, clock });
    const verdicts = valid(await handle({ callback: fixture('text.json'), envelope }));
    expect(recall.calls).toEqual([]);
    expect(verdicts.map((v) => v.Outcome)).toEqual(['RECALL_DISABLED', 'RECALL_DISABLED']);
    // and a handler without a client works when recall is off
    const without = createModerationHandler({ rules, recallEnabled: false, clock });
    expect((await without({ callback: fixture('text.json'), envelope })).length).toBe(2);
  });

  it.each<[RecallResult | Error, Partial<VerdictRecord>]>([
    [
      { outcome: 'already_recalled', errorCode: 20023, errorInfo: 'already', attempts: 1 },
      {
        Outcome: 'ALREADY_RECALLED',
        RecallErrorCode: 20023,
        RecallErrorInfo: 'already',
        RecallAttempts: 1,
      },
    ],
    [
      { outcome: 'failed', errorCode: 90054, errorInfo: 'bad MsgKey', attempts: 1 },
      {
        Outcome: 'RECALL_FAILED',
        RecallErrorCode: 90054,
        RecallErrorInfo: 'bad MsgKey',
        RecallAttempts: 1,
      },
    ],
    [
      { outcome: 'failed', errorInfo: 'HTTP 403', attempts: 1 },
      { Outcome: 'RECALL_FAILED', RecallErrorCode: null, RecallErrorInfo: 'HTTP 403' },
    ],
    [
      new Error('boom'),
      {
        Outcome: 'RECALL_FAILED',
        RecallErrorCode: null,
        RecallErrorInfo: 'recall client error: boom',
        RecallAttempts: null,
      },
    ],
  ])('maps the recall result %j to the verdict', async (result, expected) => {
    const handle = createModerationHandler({
      rules,
      recall: fakeRecall(result),
      recallEnabled: true,
      clock,
    });
    const [verdict] = valid(await handle({ callback: fixture('text.json'), envelope }));
    expect(verdict).toMatchObject(expected);
  });

  it('refuses recallEnabled without a recall client', () => {
    expect(() => createModerationHandler({ rules, recallEnabled: true, clock })).toThrow(
      /no recall client/,
    );
  });

  it('never puts the matched text in a verdict and reports to the observer', async () => {
    const events: string[] = [];
    const observer: ModerationObserver = {
      messageScanned: () => events.push('scanned'),
      ruleMatched: (id) => events.push(`matched:${id}`),
      recallDecided: (o) => events.push(`recall:${o}`),
    };
    const handle = createModerationHandler({
      rules,
      recall: fakeRecall(),
      recallEnabled: true,
      clock,
      observer,
    });
    const callback = fixture('text.json');
    const verdicts = await handle({ callback, envelope });
    expect(JSON.stringify(verdicts)).not.toContain('red packet');
    expect(JSON.stringify(verdicts)).not.toContain('cloud custom data');
    expect(events).toEqual(['scanned', 'matched:packet', 'matched:packet-word', 'recall:RECALLED']);
    await handle({ callback: fixture('media.json'), envelope });
    expect(events.slice(4)).toEqual(['scanned']);
  });
});
