import { Counter, Histogram, type Registry } from 'prom-client';
import type { GroupModerationObserver, GroupVerdictOutcome } from './group-handler';
import type { ModerationObserver, VerdictOutcome } from './handler';
import type { CallResult, RecallObserver } from './recall';

export const MODERATION_METRIC_PREFIX = 'tim_moderation_';

/**
 * The moderation consumer's metrics, on a registry passed in (never prom-client's global one).
 * The result is both the handler's and the recall client's observer. Labels are bounded: rule
 * ids come from the rules file (pass them as `ruleIds` to see every rule at 0 from the start), outcomes and call results are fixed sets.
 */
export function createModerationMetrics(
  registry: Registry,
  options: { ruleIds?: readonly string[] } = {},
) {
  const p = MODERATION_METRIC_PREFIX;
  const registers = [registry];
  const scanned = new Counter({
    name: `${p}messages_scanned_total`,
    help: 'Messages scanned against the rules.',
    registers,
  });
  const matches = new Counter({
    name: `${p}rule_matches_total`,
    help: 'Messages matched, by rule id (one per message and rule, however many parts matched).',
    labelNames: ['rule'] as const,
    registers,
  });
  // every configured rule shows up at 0 before its first match
  for (const rule of options.ruleIds ?? []) matches.labels({ rule }).inc(0);
  const recalls = new Counter({
    name: `${p}recalls_total`,
    help: 'Messages with a matching recall rule, by outcome: recalled, already_recalled, recall_failed, not_recalled_failed_send, recall_disabled.',
    labelNames: ['outcome'] as const,
    registers,
  });
  const apiCalls = new Histogram({
    name: `${p}recall_api_call_duration_seconds`,
    help: 'Duration of one HTTP call to admin_msgwithdraw (retries are separate calls), by result: ok, already_recalled, tencent_error, tencent_retryable, http_error, http_5xx, network_error, bad_reply.',
    labelNames: ['result'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers,
  });
  const rateLimitWait = new Histogram({
    name: `${p}recall_rate_limit_wait_seconds`,
    help: 'Time a recall call (admin_msgwithdraw or group_msg_recall: one limiter) waited for the client-side rate limiter.',
    buckets: [0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });

  const observer: ModerationObserver & RecallObserver = {
    messageScanned: () => scanned.inc(),
    ruleMatched: (ruleId: string) => matches.inc({ rule: ruleId }),
    recallDecided: (outcome: VerdictOutcome) => recalls.inc({ outcome: outcome.toLowerCase() }),
    call: (seconds: number, result: CallResult) => apiCalls.observe({ result }, seconds),
    rateLimitWait: (seconds: number) => rateLimitWait.observe(seconds),
  };
  return { scanned, matches, recalls, apiCalls, rateLimitWait, observer };
}

export type ModerationMetrics = ReturnType<typeof createModerationMetrics>;

/**
 * The group-message metrics (`tim_moderation_group_*`), beside the C2C ones on the same registry:
 * messages scanned, matches by rule, recalls by outcome (recalled, recall_failed,
 * not_recalled_no_msgseq, recall_disabled), group_msg_recall call durations by result. The
 * rate-limiter waits go to the C2C metrics' histogram (`c2c`): both APIs share one limiter.
 */
export function createGroupModerationMetrics(
  registry: Registry,
  c2c: Pick<ModerationMetrics, 'observer'>,
  options: { ruleIds?: readonly string[] } = {},
) {
  const p = `${MODERATION_METRIC_PREFIX}group_`;
  const registers = [registry];
  const scanned = new Counter({
    name: `${p}messages_scanned_total`,
    help: 'Group messages scanned against the rules.',
    registers,
  });
  const matches = new Counter({
    name: `${p}rule_matches_total`,
    help: 'Group messages matched, by rule id (one per message and rule, however many parts matched).',
    labelNames: ['rule'] as const,
    registers,
  });
  for (const rule of options.ruleIds ?? []) matches.labels({ rule }).inc(0);
  const recalls = new Counter({
    name: `${p}recalls_total`,
    help: 'Group messages with a matching recall rule, by outcome: recalled, recall_failed, not_recalled_no_msgseq, recall_disabled.',
    labelNames: ['outcome'] as const,
    registers,
  });
  const apiCalls = new Histogram({
    name: `${p}recall_api_call_duration_seconds`,
    help: 'Duration of one HTTP call to group_msg_recall (retries are separate calls), by result: ok, tencent_error, tencent_retryable, http_error, http_5xx, network_error, bad_reply.',
    labelNames: ['result'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers,
  });
  const observer: GroupModerationObserver & RecallObserver = {
    messageScanned: () => scanned.inc(),
    ruleMatched: (ruleId: string) => matches.inc({ rule: ruleId }),
    recallDecided: (outcome: GroupVerdictOutcome) =>
      recalls.inc({ outcome: outcome.toLowerCase() }),
    call: (seconds: number, result: CallResult) => apiCalls.observe({ result }, seconds),
    rateLimitWait: (seconds: number) => c2c.observer.rateLimitWait(seconds),
  };
  return { scanned, matches, recalls, apiCalls, observer };
}

export type GroupModerationMetrics = ReturnType<typeof createGroupModerationMetrics>;
