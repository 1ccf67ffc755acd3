import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const CONSUMER_METRIC_PREFIX = 'tim_consumer_';

/** The runner's metrics (every consumer has them, labelled by `consumer`), on an injected registry. */
export function createRunnerMetrics(registry: Registry) {
  const p = CONSUMER_METRIC_PREFIX;
  const registers = [registry];
  return {
    records: new Counter({
      name: `${p}records_total`,
      help: 'Records consumed, by outcome: processed, duplicate (MsgKey seen recently, skipped), dead_lettered (undecodable or failed, sent to the dead-letter topic).',
      labelNames: ['consumer', 'outcome'] as const,
      registers,
    }),
    batchDuration: new Histogram({
      name: `${p}batch_duration_seconds`,
      help: 'Time to process one fetched batch (decode, work, produce).',
      labelNames: ['consumer'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
      registers,
    }),
    commits: new Counter({
      name: `${p}commits_total`,
      help: 'Offset commits (transactions for exactly-once consumers), by result (ok, error).',
      labelNames: ['consumer', 'result'] as const,
      registers,
    }),
    lag: new Gauge({
      name: `${p}lag_records`,
      help: "Records between the consumer group's committed offset and the end of the partition, for the partitions assigned to this instance (asked of Kafka every CONSUMER_LAG_INTERVAL_MS and at each rebalance; a partition revoked loses its series).",
      labelNames: ['consumer', 'partition'] as const,
      registers,
    }),
    assignedPartitions: new Gauge({
      name: `${p}assigned_partitions`,
      help: 'Partitions of the input topic assigned to this instance.',
      labelNames: ['consumer'] as const,
      registers,
    }),
    crashes: new Counter({
      name: `${p}crashes_total`,
      help: 'Times the Kafka consumer crashed (and was restarted when retriable).',
      labelNames: ['consumer'] as const,
      registers,
    }),
    ready: new Gauge({
      name: `${p}ready`,
      help: '1 when the consumer reports ready (see /readyz), else 0.',
      labelNames: ['consumer'] as const,
      registers,
    }),
  };
}

export type RunnerMetrics = ReturnType<typeof createRunnerMetrics>;

/** Series that exist from the start at 0, so that increase() sees their first event. */
export function initialiseRunnerSeries(m: RunnerMetrics, consumer: string): void {
  for (const outcome of ['processed', 'duplicate', 'dead_lettered']) {
    m.records.labels({ consumer, outcome }).inc(0);
  }
  for (const result of ['ok', 'error']) m.commits.labels({ consumer, result }).inc(0);
  m.crashes.labels({ consumer }).inc(0);
  m.assignedPartitions.labels({ consumer }).set(0);
}

/**
 * The receiver of a group member's lag reports (GroupConsumerEvents.lag): each report is the full
 * set of the member's partitions, so the series of a partition missing from it are removed (a
 * revoked partition is reported by its new owner only; summing over instances counts it once).
 */
export function lagReporter(
  gauge: RunnerMetrics['lag'],
  consumer: string,
): (partitions: Map<number, number>) => void {
  let shown = new Set<number>();
  return (partitions) => {
    for (const p of shown) {
      if (!partitions.has(p)) gauge.remove({ consumer, partition: String(p) });
    }
    for (const [p, records] of partitions) gauge.set({ consumer, partition: String(p) }, records);
    shown = new Set(partitions.keys());
  };
}
