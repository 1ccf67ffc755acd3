import { UPSTREAM_PROBLEMS } from '../before/decide';
import { refusalReasons } from '../errors';
import { BRIDGE_READINESS_PROBE_PATH } from '../http/readiness';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRIC_PREFIX = 'tim_bridge_';

/** Seconds, resolving 1 ms to Tencent's 2 s limit. */
export const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5,
];

/** The bridge's metrics, on a registry passed in (never prom-client's global one). */
export function createBridgeMetrics(registry: Registry) {
  const p = METRIC_PREFIX;
  const registers = [registry];
  return {
    received: new Counter({
      name: `${p}callbacks_received_total`,
      help: 'POST /callback requests received (before any check), by CallbackCommand and normalised OptPlatform.',
      labelNames: ['command', 'platform'] as const,
      registers,
    }),
    refused: new Counter({
      name: `${p}callbacks_refused_total`,
      help: 'Callbacks answered with FAIL, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    unrouted: new Counter({
      name: `${p}requests_unrouted_total`,
      help: 'Requests to the callback port that are no callback: another path (not_found) or method (method_not_allowed).',
      labelNames: ['reason'] as const,
      registers,
    }),
    accepted: new Counter({
      name: `${p}callbacks_accepted_total`,
      help: 'Callbacks made durable, by where: kafka (acknowledged), spooled (local spool), dlq (invalid, kept raw in the dead-letter topic and answered FAIL).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    commandRecords: new Counter({
      name: `${p}command_records_total`,
      help: "What became of each command's callbacks, by command (the catalogue, or other) and outcome: kafka, spooled (records made durable), off (routed off: answered, not stored), dlq (invalid, dead-lettered), lost (a before-callback answered but not stored: Kafka and spool both failed).",
      labelNames: ['command', 'outcome'] as const,
      registers,
    }),
    beforeDecisions: new Counter({
      name: `${p}before_callback_decisions_total`,
      help: 'Before-callbacks answered, by command, outcome (allow, block, drop, modify) and who decided (policy, upstream, fail-open, fail-closed).',
      labelNames: ['command', 'outcome', 'decided_by'] as const,
      registers,
    }),
    upstreamDuration: new Histogram({
      name: `${p}before_callback_upstream_duration_seconds`,
      help: 'Time the decision service took to answer a forwarded before-callback (or until the deadline).',
      labelNames: ['command'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    upstreamFailures: new Counter({
      name: `${p}before_callback_upstream_failures_total`,
      help: 'Forwarded before-callbacks the decision service did not answer usefully, by command and problem (timeout, status, malformed, network); BEFORE_CALLBACK_ON_FAILURE answered them.',
      labelNames: ['command', 'problem'] as const,
      registers,
    }),
    replyDuration: new Histogram({
      name: `${p}reply_duration_seconds`,
      help: 'Time from receiving a callback to sending the reply, by HTTP status class.',
      labelNames: ['status_class'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    kafkaAckDuration: new Histogram({
      name: `${p}kafka_ack_duration_seconds`,
      help: 'Time from sending a produce request to its acknowledgement (acks=all).',
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    batchRecords: new Histogram({
      name: `${p}producer_batch_records`,
      help: 'Records per produce request.',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers,
    }),
    produceFailures: new Counter({
      name: `${p}producer_batch_failures_total`,
      help: 'Produce requests that failed after the client retries.',
      registers,
    }),
    producerReplacements: new Counter({
      name: `${p}producer_replacements_total`,
      help: 'Times the idempotent producer was replaced by a fresh one (new producer id) after Kafka refused a request.',
      registers,
    }),
    inFlight: new Gauge({
      name: `${p}requests_in_flight`,
      help: 'Callbacks received and not yet answered.',
      registers,
    }),
    kafkaConnected: new Gauge({
      name: `${p}kafka_connected`,
      help: '1 when the producer is connected and the periodic Kafka probe answers, else 0.',
      registers,
    }),
    registryRequests: new Counter({
      name: `${p}schema_registry_requests_total`,
      help: 'Schema registry lookups, by result (ok, error).',
      labelNames: ['result'] as const,
      registers,
    }),
    spoolRecords: new Gauge({
      name: `${p}spool_records`,
      help: 'Records in the local spool, waiting for Kafka.',
      registers,
    }),
    spoolBytes: new Gauge({
      name: `${p}spool_bytes`,
      help: 'Bytes of record values in the local spool.',
      registers,
    }),
    spoolOldestAge: new Gauge({
      name: `${p}spool_oldest_record_age_seconds`,
      help: 'Age of the oldest record in the spool (0 when empty).',
      registers,
    }),
    spoolCapacityRatio: new Gauge({
      name: `${p}spool_usage_ratio`,
      help: 'How full the spool is: the larger of records/limit and bytes/limit (0 to 1).',
      registers,
    }),
    spoolDrained: new Counter({
      name: `${p}spool_drained_records_total`,
      help: 'Records moved from the spool to Kafka.',
      registers,
    }),
    spoolDrainFailures: new Counter({
      name: `${p}spool_drain_failures_total`,
      help: 'Drain steps that Kafka did not acknowledge (retried with backoff).',
      registers,
    }),
    spoolDeadLettered: new Counter({
      name: `${p}spool_dead_lettered_total`,
      help: 'Spooled records that Kafka refused for themselves (too large for their topic, invalid), moved to the dead-letter topic with the reason.',
      registers,
    }),
    spoolQuarantined: new Gauge({
      name: `${p}spool_quarantined_records`,
      help: 'Records that neither their topic nor the dead-letter topic accepts, kept aside in the spool file (see the runbook).',
      registers,
    }),
    refusalLogsSuppressed: new Counter({
      name: `${p}refusal_logs_suppressed_total`,
      help: 'Refusal log lines left out by the per-reason rate limit (the refusals are all counted in callbacks_refused_total).',
      labelNames: ['reason'] as const,
      registers,
    }),
    unauthenticatedMode: new Gauge({
      name: `${p}unauthenticated_mode`,
      help: '1 when callbacks are accepted without a signature check (no TENCENT_CALLBACK_TOKEN).',
      registers,
    }),
    ready: new Gauge({
      name: `${p}ready`,
      help: `1 when the Kubernetes readiness probe (${BRIDGE_READINESS_PROBE_PATH}) answers 200: the replica is in service (during a Kafka outage, callbacks go to its spool); else 0.`,
      registers,
    }),
    readyStrict: new Gauge({
      name: `${p}ready_strict`,
      help: '1 when every readiness check passes, Kafka included (/readyz answers 200), else 0.',
      registers,
    }),
  };
}

export type BridgeMetrics = ReturnType<typeof createBridgeMetrics>;

/**
 * Series that exist from the start at 0, so that `increase()` and `rate()` see their first event
 * (a series born at 1 hides it).
 */
export function initialiseSeries(m: BridgeMetrics): void {
  for (const outcome of ['kafka', 'spooled', 'dlq']) m.accepted.labels({ outcome }).inc(0);
  for (const reason of refusalReasons('unrouted')) m.unrouted.labels({ reason }).inc(0);
  for (const reason of [
    'invalid',
    'malformed_json',
    'too_large',
    'unauthenticated',
    'foreign_app',
    'publish_timeout',
    'kafka_unavailable',
    'kafka_refused',
    'spool_full',
    'not_ready',
    'shutting_down',
  ]) {
    m.refused.labels({ reason }).inc(0);
  }
  // the SLO's ratios (docs/operate.md, "SLOs") divide by the 2xx and 5xx replies: present from
  // the start, so that a bridge that has failed every callback since it started still counts
  for (const status_class of ['2xx', '5xx']) m.replyDuration.zero({ status_class });
  for (const result of ['ok', 'error']) m.registryRequests.labels({ result }).inc(0);
}

/**
 * The before-callback series at 0, for each catalogued before-callback: `lost` records where it is
 * stored, and the decision service's failures by problem where it is forwarded (bounded: a few
 * commands, four problems).
 */
export function initialiseBeforeSeries(
  m: BridgeMetrics,
  commands: readonly { command: string; stored: boolean; forwarded: boolean }[],
): void {
  for (const { command, stored, forwarded } of commands) {
    if (stored) m.commandRecords.labels({ command, outcome: 'lost' }).inc(0);
    if (!forwarded) continue;
    for (const problem of UPSTREAM_PROBLEMS) {
      m.upstreamFailures.labels({ command, problem }).inc(0);
    }
  }
}

/** A registry with Node's process metrics (event loop lag, heap, GC) registered. */
export function createMetricsRegistry(defaultLabels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(defaultLabels);
  collectDefaultMetrics({ register: registry });
  return registry;
}
