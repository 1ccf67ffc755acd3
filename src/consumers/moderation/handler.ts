import type { AfterSendMsgCallback } from '../../tencent/callback';
import type { RecallTarget } from './recall';
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
 * The moderation decision for one C2C message (the shared step: `scan.ts`): one verdict per
 * matching rule, at most one recall per message through `admin_msgwithdraw` (by From_Account,
 * To_Account and MsgKey), unless its send failed (`SendMsgResult` non-zero: nothing was
 * delivered, Tencent would answer "no such message") or recall is off. A missing
 * `SendMsgResult` counts as a successful send.
 */

export type VerdictOutcome =
  | 'FLAGGED'
  | 'RECALLED'
  | 'ALREADY_RECALLED'
  | 'RECALL_FAILED'
  | 'NOT_RECALLED_FAILED_SEND'
  | 'RECALL_DISABLED';

/** A value of `schemas/c2c-moderation-verdict.avsc`, as avsc encodes it. */
export interface VerdictRecord extends RuleVerdict<VerdictOutcome> {
  MsgKey: string;
  From_Account: string;
  To_Account: string;
  MsgTime: number;
  SdkAppid: string;
}

/** Instrumentation hooks (see `createModerationMetrics`). */
export type ModerationObserver = ScanObserver<VerdictOutcome>;

export type ModerationHandlerDeps = ScanHandlerDeps<RecallTarget, VerdictOutcome>;

export type ModerationHandler = ScanHandler<AfterSendMsgCallback, VerdictRecord>;

const C2C_MESSAGES: MessageKind<AfterSendMsgCallback, RecallTarget, VerdictOutcome, VerdictRecord> =
  {
    content: (callback) => callback,
    notRecallable: (callback) =>
      (callback.SendMsgResult ?? 0) !== 0 ? 'NOT_RECALLED_FAILED_SEND' : undefined,
    recallTarget: (callback) => ({
      target: {
        From_Account: callback.From_Account,
        To_Account: callback.To_Account,
        MsgKey: callback.MsgKey,
      },
    }),
    fromResult: {
      recalled: 'RECALLED',
      already_recalled: 'ALREADY_RECALLED',
      failed: 'RECALL_FAILED',
    },
    verdict: (callback, envelope, match, decision, decidedAt) => ({
      MsgKey: callback.MsgKey,
      From_Account: callback.From_Account,
      To_Account: callback.To_Account,
      MsgTime: callback.MsgTime,
      SdkAppid: envelope.SdkAppid,
      ...ruleVerdict(match, decision, decidedAt),
    }),
  };

export function createModerationHandler(deps: ModerationHandlerDeps): ModerationHandler {
  return createScanHandler(C2C_MESSAGES, deps);
}
