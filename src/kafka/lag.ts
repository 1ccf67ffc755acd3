import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from '../observability/logger';

/**
 * A group member's consumer lag, asked of the broker on a timer: for each partition assigned to
 * this member, the records between the group's committed offset and the partition's end. Being
 * the broker's view, it grows while the member is stuck (nothing committed) and is the same
 * whoever asks; being limited to this member's partitions, the members' reports add up to the
 * group's lag with no partition counted twice.
 *
 * The end is the last stable offset (KafkaJS's admin lists offsets read_committed, as the
 * consumer reads).
 */

/** One partition's offsets as the broker gave them (decimal strings, Kafka offsets are 64-bit). */
export interface PartitionEnds {
  partition: number;
  /** The log start offset (oldest record still kept). */
  low: string;
  /** The offset the next record will get (read_committed: the last stable offset). */
  high: string;
}

/**
 * Records still to read of one partition, never negative:
 * - committed offset: end − committed (a committed offset below the log start counts from the
 *   log start: what retention deleted is not there to read);
 * - none yet, from the beginning: end − log start (everything kept is still to read);
 * - none yet, from the end: end − `baseline`, the end when this member first saw the partition
 *   uncommitted (the consumer started about there; see `LagTracker`).
 */
export function partitionLag(
  ends: { low: bigint; high: bigint },
  committed: bigint | undefined,
  start: { fromBeginning: true } | { fromBeginning: false; baseline: bigint },
): number {
  let from: bigint;
  if (committed !== undefined) from = committed > ends.low ? committed : ends.low;
  else from = start.fromBeginning ? ends.low : start.baseline;
  const lag = ends.high - from;
  return lag > 0n ? Number(lag) : 0;
}

export interface LagTrackerOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  /** CONSUMER_FROM_BEGINNING: where a partition with no committed offset is read from. */
  fromBeginning: boolean;
  intervalMs: number;
  /** The lag of every partition assigned to this member (and of no other), each time it is known. */
  report(partitions: Map<number, number>): void;
  logger?: Logger;
}

/**
 * The timer, with one admin client (connected at the first tick, kept, disconnected by `close()`).
 * `assigned()` on every join: partitions no longer assigned leave the report at once (no request
 * needed), the others keep their last value until the fetch that follows at once. A failed fetch
 * reports nothing (the last values stay: never invented, never dropped for an outage), is logged
 * at warn once, at debug while it keeps failing, and at info when it works again. `stop()` (the
 * member left the group) reports no partition.
 */
export class LagTracker {
  private admin: Admin | undefined;
  private connected: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** undefined until the first join: nothing to report. */
  private partitions: Set<number> | undefined;
  private last = new Map<number, number>();
  /** From the end, no committed offset: the end when first seen so (per assignment). */
  private readonly baselines = new Map<number, bigint>();
  private inFlight = false;
  private again = false;
  private failing = false;
  private stopped = false;

  constructor(private readonly o: LagTrackerOptions) {}

  start(): void {
    if (this.timer || this.stopped) return;
    // a tick finding a fetch in flight is skipped (a slow broker is not asked more often)
    this.timer = setInterval(() => this.fetchNow(false), this.o.intervalMs);
    this.timer.unref();
  }

  /** The member's new assignment (a join): revoked partitions are dropped from the report now. */
  assigned(partitions: number[]): void {
    if (this.stopped) return;
    this.partitions = new Set(partitions);
    for (const p of this.baselines.keys()) if (!this.partitions.has(p)) this.baselines.delete(p);
    this.emit(new Map([...this.last].filter(([p]) => this.partitions?.has(p))));
    this.fetchNow(true);
  }

  /** No more reports (the member left the group): reports no partition, stops the timer. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.partitions = undefined;
    this.emit(new Map());
  }

  /** stop(), and disconnects the admin client (a fetch in flight fails unheard). */
  async close(): Promise<void> {
    this.stop();
    const { admin } = this;
    this.admin = undefined;
    this.connected = undefined;
    await admin?.disconnect().catch(() => undefined);
  }

  /**
   * Fetches now; when a fetch is in flight, once more after it if `queue` (a join: the answer in
   * flight was asked for before it).
   */
  private fetchNow(queue: boolean): void {
    // nothing assigned (more members than partitions): nothing to ask
    if (this.stopped || this.partitions === undefined || this.partitions.size === 0) return;
    if (this.inFlight) {
      this.again ||= queue;
      return;
    }
    this.inFlight = true;
    this.fetch()
      .catch((err: unknown) => this.failed(err as Error))
      .finally(() => {
        this.inFlight = false;
        if (this.again) {
          this.again = false;
          this.fetchNow(false);
        }
      });
  }

  private async fetch(): Promise<void> {
    const admin = await this.connect();
    const { groupId, topic } = this.o;
    // the whole topic: the answer holds for whatever the assignment is when it arrives
    const ends = await admin.fetchTopicOffsets(topic);
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    if (this.stopped || this.partitions === undefined) return;
    const committed = new Map(
      (offsets?.partitions ?? [])
        .filter((p) => Number(p.offset) >= 0) // -1: nothing committed
        .map((p) => [p.partition, BigInt(p.offset)]),
    );
    const lag = new Map<number, number>();
    for (const e of ends) {
      if (!this.partitions.has(e.partition)) continue;
      const high = BigInt(e.high);
      const c = committed.get(e.partition);
      let baseline = this.baselines.get(e.partition);
      if (c !== undefined) this.baselines.delete(e.partition);
      else if (!this.o.fromBeginning && baseline === undefined) {
        this.baselines.set(e.partition, (baseline = high));
      }
      const start = this.o.fromBeginning
        ? ({ fromBeginning: true } as const)
        : ({ fromBeginning: false, baseline: baseline ?? high } as const);
      lag.set(e.partition, partitionLag({ low: BigInt(e.low), high }, c, start));
    }
    if (this.failing) {
      this.failing = false;
      this.o.logger?.info({ topic }, 'consumer lag known again');
    }
    this.emit(lag);
  }

  private async connect(): Promise<Admin> {
    if (!this.admin) this.admin = this.o.kafka.admin();
    const admin = this.admin;
    this.connected ??= admin.connect().catch((err: unknown) => {
      if (this.admin === admin) this.connected = undefined; // tried again at the next fetch
      throw err;
    });
    await this.connected;
    // closed while connecting: the connection is not kept
    if (this.admin !== admin) {
      await admin.disconnect();
      throw new Error('closed');
    }
    return admin;
  }

  private failed(err: Error): void {
    if (this.stopped) return;
    const fields = { topic: this.o.topic, err: err.message };
    const message = 'consumer lag unknown (Kafka did not answer); the last values stay';
    if (this.failing) this.o.logger?.debug(fields, message);
    else this.o.logger?.warn(fields, message);
    this.failing = true;
  }

  private emit(lag: Map<number, number>): void {
    this.last = lag;
    this.o.report(lag);
  }
}
