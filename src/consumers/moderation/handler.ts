import type { AfterSendMsgCallback, Envelope } from '../../tencent/callback';
import type { RecallClient, RecallResult } from './recall';
import type { RuleAction, RuleKind, RuleSet } from './rules';
import { textParts, type TextPartsOptions } from './texts';

/**
 * The moderation decision for one message: every rule that matches any text-bearing part gives
 * one verdict (all the parts it matched, by path). When a matching rule's action is `recall`,
 * the message is recalled once (not once per rule), unless its send failed (`SendMsgResult`
 * non-zero: nothing was delivered, Tencent would answer "no such message") or recall is off.
 * A missing `SendMsgResult` counts as a successful send.
 * Pure apart from the injected recall client; verdicts never carry the user's text.
 */

export type VerdictOutcome =
  | 'FLAGGED'
  | 'RECALLED'
  | 'ALREADY_RECALLED'
  | 'RECALL_FAILED'
  | 'NOT_RECALLED_FAILED_SEND'
  | 'RECALL_DISABLED';

/** A value of `schemas/c2c-moderation-verdict.avsc`, as avsc encodes it. */
export interface VerdictRecord {
  MsgKey: string;
  From_Account: string;
  To_Account: string;
  MsgTime: number;
  SdkAppid: string;
  RuleId: string;
  RuleKind: RuleKind;
  Category: string | null;
  Parts: string[];
  Action: RuleAction;
  Outcome: VerdictOutcome;
  RecallErrorCode: number | null;
  RecallErrorInfo: string | null;
  RecallAttempts: number | null;
  /** Unix milliseconds. */
  DecidedAt: number;
}

/** Instrumentation hooks (see `createModerationMetrics`). */
export interface ModerationObserver {
  messageScanned(): void;
  ruleMatched(ruleId: string): void;
  /** Once per message that has a matching recall rule. */
  recallDecided(outcome: VerdictOutcome): void;
}

export interface ModerationHandlerDeps {
  rules: RuleSet;
  recall?: Pick<RecallClient, 'recall'>;
  /** Call Tencent for `recall` rules; when false their verdicts say RECALL_DISABLED. */
  recallEnabled: boolean;
  /** Wall clock, Unix milliseconds (DecidedAt). */
  clock: { now(): number };
  observer?: ModerationObserver;
  texts?: TextPartsOptions;
}

export interface ModerationInput {
  callback: AfterSendMsgCallback;
  envelope: Pick<Envelope, 'SdkAppid'>;
}

export type ModerationHandler = (input: ModerationInput) => Promise<VerdictRecord[]>;

interface RecallDecision {
  outcome: VerdictOutcome;
  errorCode: number | null;
  errorInfo: string | null;
  attempts: number | null;
}

const FROM_RESULT: Record<RecallResult['outcome'], VerdictOutcome> = {
  recalled: 'RECALLED',
  already_recalled: 'ALREADY_RECALLED',
  failed: 'RECALL_FAILED',
};

const NO_RECALL = { errorCode: null, errorInfo: null, attempts: null };

/** A rule that matched a message, with the paths of every part it matched, in message order. */
export interface RuleMatch {
  rule: RuleSet['rules'][number];
  parts: string[];
}

/**
 * The rules matching any text-bearing part of a message (C2C or group: the same elements), in
 * the rules file's order. The texts are read here and nowhere else; only paths come out.
 */
export function matchRules(
  rules: RuleSet,
  message: Pick<AfterSendMsgCallback, 'MsgBody' | 'CloudCustomData'>,
  texts?: TextPartsOptions,
): RuleMatch[] {
  const partsByRule = new Map<number, string[]>();
  for (const part of textParts(message, texts)) {
    const scan = rules.prepare(part.text);
    rules.rules.forEach((rule, i) => {
      if (!rule.matches(scan)) return;
      const parts = partsByRule.get(i);
      if (parts === undefined) partsByRule.set(i, [part.path]);
      else parts.push(part.path);
    });
  }
  if (partsByRule.size === 0) return [];
  return rules.rules.flatMap((rule, i) => {
    const parts = partsByRule.get(i);
    return parts === undefined ? [] : [{ rule, parts }];
  });
}

export function createModerationHandler(deps: ModerationHandlerDeps): ModerationHandler {
  const { rules, recall, recallEnabled, clock, observer } = deps;
  if (recallEnabled && recall === undefined) {
    throw new TypeError('recallEnabled is true but no recall client was given');
  }

  async function decideRecall(callback: AfterSendMsgCallback): Promise<RecallDecision> {
    const sendResult = callback.SendMsgResult ?? 0;
    if (sendResult !== 0) return { outcome: 'NOT_RECALLED_FAILED_SEND', ...NO_RECALL };
    if (!recallEnabled || recall === undefined) return { outcome: 'RECALL_DISABLED', ...NO_RECALL };
    let result: RecallResult;
    try {
      result = await recall.recall({
        From_Account: callback.From_Account,
        To_Account: callback.To_Account,
        MsgKey: callback.MsgKey,
      });
    } catch (err) {
      // a bug or a misconfiguration in the client, not Tencent's answer: still a verdict
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
    const matched = matchRules(rules, callback, deps.texts);
    if (matched.length === 0) return [];
    for (const { rule } of matched) observer?.ruleMatched(rule.id);
    const wantsRecall = matched.some(({ rule }) => rule.action === 'recall');
    const recallDecision = wantsRecall ? await decideRecall(callback) : null;
    if (recallDecision !== null) observer?.recallDecided(recallDecision.outcome);

    const decidedAt = clock.now();
    return matched.map(({ rule, parts }): VerdictRecord => {
      const decision: RecallDecision =
        rule.action === 'recall' && recallDecision !== null
          ? recallDecision
          : { outcome: 'FLAGGED', ...NO_RECALL };
      return {
        MsgKey: callback.MsgKey,
        From_Account: callback.From_Account,
        To_Account: callback.To_Account,
        MsgTime: callback.MsgTime,
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
