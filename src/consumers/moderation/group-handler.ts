import { msgSeqOf, text, topicIdOf, whole, type GroupMessageCallback } from '../group';
import type { GroupRecallTarget } from './group-recall';
import {
  createScanHandler,
  ruleVerdict,
  type MessageKind,
  type RuleVerdict,
  type ScanHandler,
  type ScanHandlerDeps,
  type ScanObserver,
} from './scan';

/**
 * The moderation decision for one group message, the group counterpart of `handler.ts` (the
 * shared step: `scan.ts`): the same rules over the same text-bearing parts (group messages carry
 * the same elements and `CloudCustomData`), one verdict per matching rule, and at most one recall
 * per message through `group_msg_recall` (by GroupId, MsgSeq and, in a community topic, TopicId).
 * A group message without a usable MsgSeq cannot be recalled (`NOT_RECALLED_NO_MSGSEQ`). There is
 * no failed-send case: Tencent reports failed group sends with another webhook
 * (`Group.CallbackSendMsgException`).
 */

export type GroupVerdictOutcome =
  'FLAGGED' | 'RECALLED' | 'RECALL_FAILED' | 'NOT_RECALLED_NO_MSGSEQ' | 'RECALL_DISABLED';

/** A value of `schemas/group-moderation-verdict.avsc`, as avsc encodes it. */
export interface GroupVerdictRecord extends RuleVerdict<GroupVerdictOutcome> {
  GroupId: string;
  TopicId: string | null;
  GroupType: string | null;
  MsgSeq: number | null;
  Random: number | null;
  From_Account: string | null;
  MsgTime: number | null;
  SdkAppid: string;
}

export type GroupModerationObserver = ScanObserver<GroupVerdictOutcome>;

export type GroupModerationHandlerDeps = ScanHandlerDeps<GroupRecallTarget, GroupVerdictOutcome>;

export type GroupModerationHandler = ScanHandler<GroupMessageCallback, GroupVerdictRecord>;

const GROUP_MESSAGES: MessageKind<
  GroupMessageCallback,
  GroupRecallTarget,
  GroupVerdictOutcome,
  GroupVerdictRecord
> = {
  content(callback) {
    const cloud = text(callback.CloudCustomData);
    return {
      MsgBody: callback.MsgBody,
      ...(cloud !== undefined ? { CloudCustomData: cloud } : {}),
    };
  },
  recallTarget(callback) {
    const msgSeq = msgSeqOf(callback);
    if (msgSeq === undefined) return { outcome: 'NOT_RECALLED_NO_MSGSEQ' };
    const topicId = topicIdOf(callback);
    return {
      target: {
        GroupId: callback.GroupId,
        MsgSeq: msgSeq,
        ...(topicId !== undefined ? { TopicId: topicId } : {}),
      },
    };
  },
  /** No group code means "already recalled" (see group-recall.ts), so that outcome maps to RECALLED. */
  fromResult: { recalled: 'RECALLED', already_recalled: 'RECALLED', failed: 'RECALL_FAILED' },
  verdict: (callback, envelope, match, decision, decidedAt) => ({
    GroupId: callback.GroupId,
    TopicId: topicIdOf(callback) ?? null,
    GroupType: text(callback.Type) ?? null,
    MsgSeq: msgSeqOf(callback) ?? null,
    Random: whole(callback.Random) ?? null,
    From_Account: text(callback.From_Account) ?? null,
    MsgTime: whole(callback.MsgTime) ?? null,
    SdkAppid: envelope.SdkAppid,
    ...ruleVerdict(match, decision, decidedAt),
  }),
};

export function createGroupModerationHandler(
  deps: GroupModerationHandlerDeps,
): GroupModerationHandler {
  return createScanHandler(GROUP_MESSAGES, deps);
}
