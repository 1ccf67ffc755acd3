import type { Envelope } from '../../tencent/callback';
import { msgSeqOf, text, topicIdOf, whole, type GroupMessageCallback } from '../group';
import type { GroupRecallClient } from './group-recall';
import { matchRules } from './handler';
import type { RecallResult } from './recall';
import type { RuleAction, RuleKind, RuleSet } from './rules';
import type { TextPartsOptions } from './texts';

/**
 * The moderation decision for one group message, the group counterpart of `handler.ts`: the
 * same rules over the same text-bearing parts (group messages carry the same elements and
 * `CloudCustomData`), one verdict per matching rule, and at most one recall per message through
 * `group_msg_recall` (by GroupId, MsgSeq and, in a community topic, TopicId). A group message
 * without a usable MsgSeq cannot be recalled (`NOT_RECALLED_NO_MSGSEQ`). There is no failed-send
 * case: Tencent reports failed group sends with another webhook (`Group.CallbackSendMsgException`).
 * Pure apart from the injected recall client; verdicts never carry the user's text.
 */

export type GroupVerdictOutcome =
  'FLAGGED' | 'RECALLED' | 'RECALL_FAILED' | 'NOT_RECALLED_NO_MSGSEQ' | 'RECALL_DISABLED';

/** A value of `schemas/group-moderation-verdict.avsc`, as avsc encodes it. */
export interface GroupVerdictRecord {
  GroupId: string;
  TopicId: string | null;
  GroupType: string | null;
  MsgSeq: number | null;
  Random: number | null;
  From_Account: string | null;
  MsgTime: number | null;
  SdkAppid: string;
  RuleId: string;
  RuleKind: RuleKind;
  Category: string | null;
  Parts: string[];
  Action: RuleAction;
  Outcome: GroupVerdictOutcome;
  RecallErrorCode: number | null;
  RecallErrorInfo: string | null;
  RecallAttempts: number | null;
  /** Unix milliseconds. */
  DecidedAt: number;
}

export interface GroupModerationObserver {
  messageScanned(): void;
  ruleMatched(ruleId: string): void;
  /** Once per message that has a matching recall rule. */
  recallDecided(outcome: GroupVerdictOutcome): void;
}

export interface GroupModerationHandlerDeps {
  rules: RuleSet;
  recall?: Pick<GroupRecallClient, 'recall'>;
  recallEnabled: boolean;
  clock: { now(): number };
  observer?: GroupModerationObserver;
  texts?: TextPartsOptions;
}

export interface GroupModerationInput {
  callback: GroupMessageCallback;
  envelope: Pick<Envelope, 'SdkAppid'>;
}

export type GroupModerationHandler = (input: GroupModerationInput) => Promise<GroupVerdictRecord[]>;

interface Decision {
  outcome: GroupVerdictOutcome;
  errorCode: number | null;
  errorInfo: string | null;
  attempts: number | null;
}

const NO_RECALL = { errorCode: null, errorInfo: null, attempts: null };

/** No group code means "already recalled" (see group-recall.ts), so that outcome maps to RECALLED. */
const FROM_RESULT: Record<RecallResult['outcome'], GroupVerdictOutcome> = {
  recalled: 'RECALLED',
  already_recalled: 'RECALLED',
  failed: 'RECALL_FAILED',
};

export function createGroupModerationHandler(
  deps: GroupModerationHandlerDeps,
): GroupModerationHandler {
  const { rules, recall, recallEnabled, clock, observer } = deps;
  if (recallEnabled && recall === undefined) {
    throw new TypeError('recallEnabled is true but no recall client was given');
  }

  async function decideRecall(callback: GroupMessageCallback): Promise<Decision> {
    if (!recallEnabled || recall === undefined) return { outcome: 'RECALL_DISABLED', ...NO_RECALL };
    const msgSeq = msgSeqOf(callback);
    if (msgSeq === undefined) return { outcome: 'NOT_RECALLED_NO_MSGSEQ', ...NO_RECALL };
    const topicId = topicIdOf(callback);
    let result: RecallResult;
    try {
      result = await recall.recall({
        GroupId: callback.GroupId,
        MsgSeq: msgSeq,
        ...(topicId !== undefined ? { TopicId: topicId } : {}),
      });
    } catch (err) {
      return {
        outcome: 'RECALL_FAILED',
        errorCode: null,
        errorInfo: `recall client error: ${(err as Error).message}`,
        attempts: null,
      };
    }
    return {
      outcome: FROM_RESULT[result.outcome],
      errorCode: result.errorCode ?? null,
      errorInfo: result.errorInfo ?? null,
      attempts: result.attempts,
    };
  }

  return async ({ callback, envelope }) => {
    observer?.messageScanned();
    const cloud = text(callback.CloudCustomData);
    const matched = matchRules(
      rules,
      { MsgBody: callback.MsgBody, ...(cloud !== undefined ? { CloudCustomData: cloud } : {}) },
      deps.texts,
    );
    if (matched.length === 0) return [];
    for (const { rule } of matched) observer?.ruleMatched(rule.id);
    const wantsRecall = matched.some(({ rule }) => rule.action === 'recall');
    const recallDecision = wantsRecall ? await decideRecall(callback) : null;
    if (recallDecision !== null) observer?.recallDecided(recallDecision.outcome);

    const decidedAt = clock.now();
    return matched.map(({ rule, parts }): GroupVerdictRecord => {
      const decision: Decision =
        rule.action === 'recall' && recallDecision !== null
          ? recallDecision
          : { outcome: 'FLAGGED', ...NO_RECALL };
      return {
        GroupId: callback.GroupId,
        TopicId: topicIdOf(callback) ?? null,
        GroupType: text(callback.Type) ?? null,
        MsgSeq: msgSeqOf(callback) ?? null,
        Random: whole(callback.Random) ?? null,
        From_Account: text(callback.From_Account) ?? null,
        MsgTime: whole(callback.MsgTime) ?? null,
        SdkAppid: envelope.SdkAppid,
        RuleId: rule.id,
        RuleKind: rule.kind,
        Category: rule.category,
        Parts: parts,
        Action: rule.action,
        Outcome: decision.outcome,
        RecallErrorCode: decision.errorCode,
        RecallErrorInfo: decision.errorInfo,
        RecallAttempts: decision.attempts,
        DecidedAt: decidedAt,
      };
    });
  };
}
