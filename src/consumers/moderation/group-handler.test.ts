import { loadCommandFixtures } from '../../../test/support/fixtures';
import { avroType } from '../../kafka/codec';
import { loadSchema } from '../../schemas';
import { GROUP_AFTER_SEND_MSG, type GroupMessageCallback } from '../group';
import {
  createGroupModerationHandler,
  type GroupModerationObserver,
  type GroupVerdictRecord,
} from './group-handler';
import type { GroupRecallTarget } from './group-recall';
import type { RecallResult } from './recall';
import { compileRules } from './rules';

const verdictType = avroType(loadSchema('group-moderation-verdict.avsc'));

const fixtures = new Map(
  loadCommandFixtures()
    .filter((f) => f.command === GROUP_AFTER_SEND_MSG)
    .map((f) => [f.name.replace(/\.json$/, ''), f.json as GroupMessageCallback]),
);
function fixture(name: string, over: Record<string, unknown> = {}): GroupMessageCallback {
  const f = structuredClone(fixtures.get(name)) as GroupMessageCallback;
  return { ...f, ...over } as GroupMessageCallback;
}

const rules = compileRules({
  rules: [
    { id: 'packet', kind: 'regex', pattern: 'red\\s+packet', action: 'recall', category: 'scam' },
    { id: 'steep', kind: 'word', words: ['steep'], action: 'flag' },
    { id: 'ridge', kind: 'word', words: ['north ridge'], action: 'recall' },
    { id: 'custom-data', kind: 'word', words: ['cloud custom data'], action: 'flag' },
    { id: 'hiking', kind: 'word', words: ['爬山'], action: 'recall', category: 'cjk' },
  ],
});

const envelope = { SdkAppid: '1400000001' };
const clock = { now: () => 1_764_115_999_000 };

function fakeRecall(result: RecallResult | Error = { outcome: 'recalled', attempts: 1 }) {
  const calls: GroupRecallTarget[] = [];
  return {
    calls,
    recall: (target: GroupRecallTarget): Promise<RecallResult> => {
      calls.push(target);
      return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
    },
  };
}

function valid(verdicts: GroupVerdictRecord[]): GroupVerdictRecord[] {
  for (const v of verdicts) {
    const errors: string[] = [];
    verdictType.isValid(v, { errorHook: (path) => errors.push(path.join('.')) });
    expect(errors).toEqual([]);
  }
  return verdicts;
}

describe('createGroupModerationHandler', () => {
  it('gives no verdict and recalls nothing when nothing matches', async () => {
    const recall = fakeRecall();
    const handle = createGroupModerationHandler({ rules, recall, recallEnabled: true, clock });
    expect(await handle({ callback: fixture('max-uint32'), envelope })).toEqual([]);
    expect(recall.calls).toEqual([]);
  });

  it('recalls a matching message once by GroupId and MsgSeq, with a verdict per matching rule', async () => {
    const recall = fakeRecall({ outcome: 'recalled', attempts: 2 });
    const handle = createGroupModerationHandler({ rules, recall, recallEnabled: true, clock });
    const verdicts = valid(await handle({ callback: fixture('sample'), envelope }));
    expect(recall.calls).toEqual([{ GroupId: '@TGS#2J4SZEAEL', MsgSeq: 123 }]);
    expect(verdicts).toEqual([
      {
        GroupId: '@TGS#2J4SZEAEL',
        TopicId: null,
        GroupType: 'Public',
        MsgSeq: 123,
        Random: 123456,
        From_Account: 'jared',
        MsgTime: 1490686222,
        SdkAppid: '1400000001',
        RuleId: 'packet',
        RuleKind: 'regex',
        Category: 'scam',
        Parts: ['MsgBody[0].MsgContent.Text'],
        Action: 'recall',
        Outcome: 'RECALLED',
        RecallErrorCode: null,
        RecallErrorInfo: null,
        RecallAttempts: 2,
        DecidedAt: 1_764_115_999_000,
      },
      expect.objectContaining({
        RuleId: 'custom-data',
        Parts: ['CloudCustomData'],
        Action: 'flag',
        Outcome: 'FLAGGED',
        RecallAttempts: null,
      }),
    ]);
    // the verdicts name where, never what
    expect(JSON.stringify(verdicts)).not.toMatch(/red packet|your cloud/);
  });

  it('recalls a community topic message in its topic', async () => {
    const recall = fakeRecall();
    const handle = createGroupModerationHandler({ rules, recall, recallEnabled: true, clock });
    const verdicts = valid(await handle({ callback: fixture('topic-id'), envelope }));
    const topic = '@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_@TOPIC#cRTE3HIM62C5';
    expect(recall.calls).toEqual([
      { GroupId: '@TGS#_@TGS#cQVLVHIM62CJ', MsgSeq: 57, TopicId: topic },
    ]);
    expect(verdicts).toEqual([
      expect.objectContaining({
        RuleId: 'ridge',
        TopicId: topic,
        GroupType: 'Community',
        Outcome: 'RECALLED',
      }),
    ]);
  });

  it('scans every text-bearing element, nested relayed messages and CJK text included', async () => {
    const recall = fakeRecall();
    const handle = createGroupModerationHandler({ rules, recall, recallEnabled: false, clock });
    const relay = valid(await handle({ callback: fixture('all-element-types'), envelope }));
    expect(relay).toEqual([
      expect.objectContaining({
        RuleId: 'steep',
        Parts: [
          'MsgBody[8].MsgContent.AbstractList[1]',
          'MsgBody[8].MsgContent.MsgList[1].MsgBody[0].MsgContent.Text',
        ],
        Outcome: 'FLAGGED',
      }),
    ]);
    const cjk = valid(await handle({ callback: fixture('unicode-text'), envelope }));
    expect(cjk).toEqual([
      expect.objectContaining({
        RuleId: 'hiking',
        From_Account: '用户_李雷',
        Outcome: 'RECALL_DISABLED',
      }),
    ]);
    expect(recall.calls).toEqual([]);
  });

  it('cannot recall a message without a usable MsgSeq', async () => {
    const recall = fakeRecall();
    const handle = createGroupModerationHandler({ rules, recall, recallEnabled: true, clock });
    for (const MsgSeq of [undefined, 'x', -3]) {
      const verdicts = valid(await handle({ callback: fixture('topic-id', { MsgSeq }), envelope }));
      expect(verdicts).toEqual([
        expect.objectContaining({
          MsgSeq: null,
          Outcome: 'NOT_RECALLED_NO_MSGSEQ',
          RecallAttempts: null,
        }),
      ]);
    }
    expect(recall.calls).toEqual([]);
  });

  it("reports Tencent's failure, or the client's error, as RECALL_FAILED", async () => {
    const failing = fakeRecall({
      outcome: 'failed',
      errorCode: 10030,
      errorInfo: 'RetCode 10030 for MsgSeq 57',
      attempts: 1,
    });
    let handle = createGroupModerationHandler({
      rules,
      recall: failing,
      recallEnabled: true,
      clock,
    });
    expect(valid(await handle({ callback: fixture('topic-id'), envelope }))).toEqual([
      expect.objectContaining({
        Outcome: 'RECALL_FAILED',
        RecallErrorCode: 10030,
        RecallErrorInfo: 'RetCode 10030 for MsgSeq 57',
        RecallAttempts: 1,
      }),
    ]);
    handle = createGroupModerationHandler({
      rules,
      recall: fakeRecall(new Error('boom')),
      recallEnabled: true,
      clock,
    });
    expect(valid(await handle({ callback: fixture('topic-id'), envelope }))).toEqual([
      expect.objectContaining({
        Outcome: 'RECALL_FAILED',
        RecallErrorCode: null,
        RecallErrorInfo: 'recall client error: boom',
      }),
    ]);
  });

  it('tells the observer what it scanned, matched and decided', async () => {
    const seen: string[] = [];
    const observer: GroupModerationObserver = {
      messageScanned: () => seen.push('scanned'),
      ruleMatched: (id) => seen.push(`matched ${id}`),
      recallDecided: (outcome) => seen.push(`decided ${outcome}`),
    };
    const handle = createGroupModerationHandler({
      rules,
      recall: fakeRecall(),
      recallEnabled: true,
      clock,
      observer,
    });
    await handle({ callback: fixture('sample'), envelope });
    await handle({ callback: fixture('max-uint32'), envelope });
    expect(seen).toEqual([
      'scanned',
      'matched packet',
      'matched custom-data',
      'decided RECALLED',
      'scanned',
    ]);
  });

  it('refuses recallEnabled without a client', () => {
    expect(() => createGroupModerationHandler({ rules, recallEnabled: true, clock })).toThrow(
      /no recall client/,
    );
  });
});
