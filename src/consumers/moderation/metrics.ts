import { Counter, Histogram, type Registry } from 'prom-client';
import type { GroupModerationObserver, GroupVerdictOutcome } from './group-handler';
import type { ModerationObserver, VerdictOutcome } from './handler';
import type { CallResult, RecallObserver } from './recall';

export const MODERATION_METRIC_PREFIX = 'tim_moderation_';

/** Fits the help texts of `createScanMetrics` to one kind of message. */
interface ScanMetricWords {
  /** What is scanned, capitalised: "Messages", "Group messages". */
  messages: string;
  /** The `outcome` label values of the recalls counter, as a list. */
  outcomes: string;
  /** The recall API whose calls are timed. */
  api: string;
  /** The `result` label values of the call durations, as a list. */
  results: string;
}

/**
 * What the moderation metrics of every kind of message are (`tim_moderation_` for C2C messages,
 * `tim_moderation_group_` for group messages): messages scanned, matches by rule, recalls by
 * outcome and recall API call durations by result, with an observer of the handler and the recall
 * client over them. Labels are bounded: rule ids come from the rules file (pass them as `ruleIds`
 * to see every rule at 0 from the start), outcomes and call results are fixed sets.
 */
function createScanMetrics<O extends string>(
  registry: Registry,
  p: string,
  words: ScanMetricWords,
  ruleIds: readonly string[],
) {
  const registers = [registry];
  const scanned = new Counter({
    name: `${p}messages_scanned_total`,
    help: `${words.messages} scanned against the rules.`,
    registers,
  });
  const matches = new Counter({
    name: `${p}rule_matches_total`,
    help: `${words.messages} matched, by rule id (one per message and rule, however many parts matched).`,
    labelNames: ['rule'] as const,
    registers,
  });
  // every configured rule shows up at 0 before its first match
  for (const rule of ruleIds) matches.labels({ rule }).inc(0);
  const recalls = new Counter({
    name: `${p}recalls_total`,
    help: `${words.messages} with a matching recall rule, by outcome: ${words.outcomes}.`,
    labelNames: ['outcome'] as const,
    registers,
  });
  const apiCalls = new Histogram({
    name: `${p}recall_api_call_duration_seconds`,
    help: `Duration of one HTTP call to ${words.api} (retries are separate calls), by result: ${words.results}.`,
    labelNames: ['result'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers,
  });
  const observer = {
    messageScanned: () => scanned.inc(),
    ruleMatched: (ruleId: string) => matches.inc({ rule: ruleId }),
    recallDecided: (outcome: O) => recalls.inc({ outcome: outcome.toLowerCase() }),
    call: (seconds: number, result: CallResult) => apiCalls.observe({ result }, seconds),
  };
  return { scanned, matches, recalls, apiCalls, observer };
}

/**
 * The moderation consumer's metrics, on a registry passed in (never prom-client's global one):
 * those of C2C messages (`createScanMetrics`) and the recall rate limiter's waits. The result is
 * both the handler's and the recall client's observer.
 */
export function createModerationMetrics(
  registry: Registry,
  options: { ruleIds?: readonly string[] } = {},
) {
  const metrics = createScanMetrics<VerdictOutcome>(
    registry,
    MODERATION_METRIC_PREFIX,
    {
      messages: 'Messages',
      outcomes:
        'recalled, already_recalled, recall_failed, not_recalled_failed_send, recall_disabled',
      api: 'admin_msgwithdraw',
      results:
        'ok, already_recalled, tencent_error, tencent_retryable, http_error, http_5xx, network_error, bad_reply',
    },
    options.ruleIds ?? [],
  );
  const rateLimitWait = new Histogram({
    name: `${MODERATION_METRIC_PREFIX}recall_rate_limit_wait_seconds`,
    help: 'Time a recall call (admin_msgwithdraw or group_msg_recall: one limiter) waited for the client-side rate limiter.',
    buckets: [0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const observer: ModerationObserver & RecallObserver = {
    ...metrics.observer,
    rateLimitWait: (seconds: number) => rateLimitWait.observe(seconds),
  };
  return { ...metrics, rateLimitWait, observer };
}

export type ModerationMetrics = ReturnType<typeof createModerationMetrics>;

/**
 * The group-message metrics (`tim_moderation_group_*`), beside the C2C ones on the same registry:
 * those of `createScanMetrics`, for group_msg_recall. The rate-limiter waits go to the C2C
 * metrics' histogram (`c2c`): both APIs share one limiter.
 */
export function createGroupModerationMetrics(
  registry: Registry,
  c2c: Pick<ModerationMetrics, 'observer'>,
  options: { ruleIds?: readonly string[] } = {},
) {
  const metrics = createScanMetrics<GroupVerdictOutcome>(
    registry,
    `${MODERATION_METRIC_PREFIX}group_`,
    {
      messages: 'Group messages',
      outcomes: 'recalled, recall_failed, not_recalled_no_msgseq, recall_disabled',
      api: 'group_msg_recall',
      results:
        'ok, tencent_error, tencent_retryable, http_error, http_5xx, network_error, bad_reply',
    },
    options.ruleIds ?? [],
  );
  const observer: GroupModerationObserver & RecallObserver = {
    ...metrics.observer,
    rateLimitWait: (seconds: number) => c2c.observer.rateLimitWait(seconds),
  };
  return { ...metrics, observer };
}

export type GroupModerationMetrics = ReturnType<typeof createGroupModerationMetrics>;
