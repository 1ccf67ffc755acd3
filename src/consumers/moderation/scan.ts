import type { AfterSendMsgCallback, Envelope } from '../../tencent/callback';
import type { RecallResult } from './recall';
import type { RuleAction, RuleKind, RuleSet } from './rules';
import { textParts, type TextPartsOptions } from './texts';

/**
 * The scan-and-verdict step shared by C2C messages (`handler.ts`) and group messages
 * (`group-handler.ts`): every rule that matches any text-bearing part of a message gives one
 * verdict (all the parts it matched, by path), and when a matching rule's action is `recall` the
 * message is recalled once (not once per rule). What differs between the two is the
 * `MessageKind`: how to read the message, what to recall it by, and the verdict record.
 * Pure apart from the injected recall client; verdicts never carry the user's text.
 */

/** The outcomes every kind of message has (each kind adds its own reasons not to recall). */
export type BaseOutcome = 'FLAGGED' | 'RECALLED' | 'RECALL_FAILED' | 'RECALL_DISABLED';

/** How the recall of a message went, as a verdict reports it. */
export interface RecallDecision<O extends string> {
  outcome: O;
  errorCode: number | null;
  errorInfo: string | null;
  attempts: number | null;
}

/** What every verdict says of its rule and its recall, after what identifies the message. */
export interface RuleVerdict<O extends string> {
  RuleId: string;
  RuleKind: RuleKind;
  Category: string | null;
  Parts: string[];
  Action: RuleAction;
  Outcome: O;
  RecallErrorCode: number | null;
  RecallErrorInfo: string | null;
  RecallAttempts: number | null;
  /** Unix milliseconds. */
  DecidedAt: number;
}

/** The `RuleVerdict` fields of one match. */
export function ruleVerdict<O extends string>(
  { rule, parts }: RuleMatch,
  decision: RecallDecision<O>,
  decidedAt: number,
): RuleVerdict<O> {
  return {
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
}

/** Instrumentation hooks (see `createModerationMetrics`). */
export interface ScanObserver<O extends string> {
  messageScanned(): void;
  ruleMatched(ruleId: string): void;
  /** Once per message that has a matching recall rule. */
  recallDecided(outcome: O): void;
}

/** A rule that matched a message, with the paths of every part it matched, in message order. */
export interface RuleMatch {
  rule: RuleSet['rules'][number];
  parts: string[];
}

/** What the text-bearing parts are read from (C2C and group messages carry the same elements). */
export type ScannedContent = Pick<AfterSendMsgCallback, 'MsgBody' | 'CloudCustomData'>;

/** One kind of message: `M` the callback, `T` the recall client's target, `O` the outcomes, `V` the verdict. */
export interface MessageKind<M, T, O extends string, V> {
  content(message: M): ScannedContent;
  /** Why the message is not recalled, whether recall is on or not (C2C: its send failed). */
  notRecallable?(message: M): O | undefined;
  /** What to recall the message by, or why it cannot be (asked only when recall is on). */
  recallTarget(message: M): { target: T } | { outcome: O };
  /** The verdict outcome of each recall result. */
  fromResult: Record<RecallResult['outcome'], O>;
  verdict(
    message: M,
    envelope: Pick<Envelope, 'SdkAppid'>,
    match: RuleMatch,
    decision: RecallDecision<O>,
    decidedAt: number,
  ): V;
}

export interface ScanHandlerDeps<T, O extends string> {
  rules: RuleSet;
  recall?: { recall(target: T): Promise<RecallResult> };
  /** Call Tencent for `recall` rules; when false their verdicts say RECALL_DISABLED. */
  recallEnabled: boolean;
  /** Wall clock, Unix milliseconds (DecidedAt). */
  clock: { now(): number };
  observer?: ScanObserver<O>;
  texts?: TextPartsOptions;
}

export type ScanHandler<M, V> = (input: {
  callback: M;
  envelope: Pick<Envelope, 'SdkAppid'>;
}) => Promise<V[]>;

const NO_RECALL = { errorCode: null, errorInfo: null, attempts: null };

/**
 * The rules matching any text-bearing part of a message, in the rules file's order. The texts
 * are read here and nowhere else; only paths come out.
 */
export function matchRules(
  rules: RuleSet,
  message: ScannedContent,
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

export function createScanHandler<M, T, O extends string, V>(
  kind: MessageKind<M, T, O | BaseOutcome, V>,
  deps: ScanHandlerDeps<T, O | BaseOutcome>,
): ScanHandler<M, V> {
  type Decision = RecallDecision<O | BaseOutcome>;
  const { rules, recall, recallEnabled, clock, observer } = deps;
  if (recallEnabled && recall === undefined) {
    throw new TypeError('recallEnabled is true but no recall client was given');
  }

  async function decideRecall(message: M): Promise<Decision> {
    const refused = kind.notRecallable?.(message);
    if (refused !== undefined) return { outcome: refused, ...NO_RECALL };
    if (!recallEnabled || recall === undefined) return { outcome: 'RECALL_DISABLED', ...NO_RECALL };
    const target = kind.recallTarget(message);
    if ('outcome' in target) return { outcome: target.outcome, ...NO_RECALL };
    let result: RecallResult;
    try {
      result = await recall.recall(target.target);
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
      outcome: kind.fromResult[result.outcome],
      errorCode: result.errorCode ?? null,
      errorInfo: result.errorInfo ?? null,
      attempts: result.attempts,
    };
  }

  return async ({ callback, envelope }) => {
    observer?.messageScanned();
    const matched = matchRules(rules, kind.content(callback), deps.texts);
    if (matched.length === 0) return [];
    for (const { rule } of matched) observer?.ruleMatched(rule.id);
    const wantsRecall = matched.some(({ rule }) => rule.action === 'recall');
    const recallDecision = wantsRecall ? await decideRecall(callback) : null;
    if (recallDecision !== null) observer?.recallDecided(recallDecision.outcome);

    const decidedAt = clock.now();
    return matched.map((match) => {
      const decision: Decision =
        match.rule.action === 'recall' && recallDecision !== null
          ? recallDecision
          : { outcome: 'FLAGGED', ...NO_RECALL };
      return kind.verdict(callback, envelope, match, decision, decidedAt);
    });
  };
}
