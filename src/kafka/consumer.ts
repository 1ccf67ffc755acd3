import type { Consumer, Kafka, Producer } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import type { Logger } from '../observability/logger';
import { LagTracker } from './lag';

/**
 * A consumer group member and the producer that goes with it, behind an interface that does not
 * leak KafkaJS: the consumer runner (src/consumers/runner.ts) is written against this only.
 * Two ways to produce what a record led to:
 * - at least once: `produce()` (idempotent, acks=all) then `commit()` the offsets;
 * - exactly once: `transact()` puts the outputs and the offsets in one Kafka transaction (the
 *   transactional id fences any older instance with the same id).
 */

export interface InputRecord {
  topic: string;
  partition: number;
  /** Offset as a decimal string (Kafka offsets are 64-bit). */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

export interface OutputRecord {
  topic: string;
  /** Unset: by key (murmur2, as Java clients). */
  partition?: number;
  key: string | Buffer | null;
  value: Buffer;
  headers?: Record<string, string>;
}

/** Where the first record a produce sent to a topic-partition landed. */
export interface Landed {
  topic: string;
  partition: number;
  /** Offset of that first record (decimal string); the batch's others follow it. */
  baseOffset: string;
}

/** The next offset to read of a partition, with optional commit metadata. */
export interface PartitionOffset {
  partition: number;
  offset: string;
  metadata?: string | null;
}

export interface BatchControl {
  heartbeat(): Promise<void>;
  /** False once stop() was called or the group rebalanced away from this batch. */
  isRunning(): boolean;
  /** Marks `record` as processed, so a later commit includes it. */
  resolveOffset(offset: string): void;
}

export interface GroupConsumerEvents {
  joined?(partitions: number[]): void;
  crashed?(err: Error, restarting: boolean): void;
  /**
   * Records between the group's committed offset and the end, for every partition assigned to
   * this member and no other (the full current set: a partition missing from it is no longer
   * this member's). Asked of the broker every `lagIntervalMs` and at each join; after a join
   * without the revoked partitions at once; empty once the member stopped. See `LagTracker`.
   */
  lag?(partitions: Map<number, number>): void;
}

/** Default of `GroupConsumerOptions.lagIntervalMs`. */
export const DEFAULT_LAG_INTERVAL_MS = 10_000;

export interface GroupConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  fromBeginning: boolean;
  /** Set for exactly-once processing with transact(). */
  transactionalId?: string;
  events?: GroupConsumerEvents;
  /** How often the lag is asked of the broker (default DEFAULT_LAG_INTERVAL_MS). */
  lagIntervalMs?: number;
  /** For the lag timer's failures (logged, never thrown). */
  logger?: Logger;
}

export class GroupConsumer {
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly lag: LagTracker;
  private running = false;

  constructor(private readonly opts: GroupConsumerOptions) {
    this.consumer = opts.kafka.consumer({
      groupId: opts.groupId,
      allowAutoTopicCreation: false,
      // read_committed: outputs of aborted transactions are never seen (KafkaJS's default)
      readUncommitted: false,
      maxBytesPerPartition: 10 * 1024 * 1024,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 300, maxRetryTime: 10000 },
    });
    this.producer = opts.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      // as the bridge's publisher: an idempotent producer that gives up may reuse sequence numbers
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 2000 },
      ...(opts.transactionalId
        ? { transactionalId: opts.transactionalId, transactionTimeout: 60000 }
        : {}),
    });
    const { events } = opts;
    this.lag = new LagTracker({
      kafka: opts.kafka,
      groupId: opts.groupId,
      topic: opts.topic,
      fromBeginning: opts.fromBeginning,
      intervalMs: opts.lagIntervalMs ?? DEFAULT_LAG_INTERVAL_MS,
      report: (partitions) => events?.lag?.(partitions),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    const ev = this.consumer.events;
    this.consumer.on(ev.GROUP_JOIN, (e) => {
      const assigned = e.payload.memberAssignment[opts.topic] ?? [];
      events?.joined?.(assigned);
      this.lag.assigned(assigned);
    });
    this.consumer.on(ev.CRASH, (e) => events?.crashed?.(e.payload.error, e.payload.restart));
  }

  /** Connects the producer (for a transactional one: fences older instances) and the consumer. */
  async connect(): Promise<void> {
    await this.producer.connect();
    if (this.opts.transactionalId) {
      // KafkaJS takes the transactional producer id at the first transaction; an empty one,
      // aborted without a request, takes it now: an older instance with the same transactional
      // id (a rolling update's previous pod) is fenced before this one joins the group, and its
      // next transaction fails, whatever work this one has yet
      await (await this.producer.transaction()).abort();
    }
    await this.consumer.connect();
    await this.consumer.subscribe({
      topics: [this.opts.topic],
      fromBeginning: this.opts.fromBeginning,
    });
  }

  /**
   * Runs `onBatch` for every fetched batch, one partition's batch at a time. Offsets are never
   * committed automatically: the caller commits (commit() or transact()) once the work is done.
   */
  async run(
    onBatch: (partition: number, records: InputRecord[], ctl: BatchControl) => Promise<void>,
  ): Promise<void> {
    this.running = true;
    this.lag.start();
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        const records = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          headers: headerStrings(m.headers),
          timestamp: m.timestamp,
        }));
        await onBatch(batch.partition, records, {
          heartbeat,
          isRunning: () => this.running && isRunning() && !isStale(),
          resolveOffset,
        });
      },
    });
  }

  /** At least once: produce and wait for acks=all. */
  async produce(records: OutputRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.producer.sendBatch({ acks: -1, topicMessages: toTopicMessages(records) });
  }

  /** At least once: commits offsets (the next offset to read) of the subscribed topic. */
  async commit(offsets: PartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    await this.consumer.commitOffsets(
      offsets.map((o) => ({ topic: this.opts.topic, ...o, metadata: o.metadata ?? null })),
    );
  }

  /**
   * Exactly once: `records`, `opts.alone` and the group's offsets commit together or not at all.
   * The records of `alone` are sent one per request after the others, and the offsets may depend
   * on where they landed (`landed`, in their order): commit metadata naming state records.
   */
  async transact(
    records: OutputRecord[],
    offsetsFor: PartitionOffset[] | ((landed: Landed[]) => PartitionOffset[]),
    opts: { alone?: OutputRecord[] } = {},
  ): Promise<void> {
    const tx = await this.producer.transaction();
    try {
      if (records.length > 0)
        await tx.sendBatch({ acks: -1, topicMessages: toTopicMessages(records) });
      // each in a request (a record batch) of its own: a batch must fit max.message.bytes whole
      const landed: Landed[] = [];
      for (const record of opts.alone ?? []) {
        const [m] = await tx.sendBatch({ acks: -1, topicMessages: toTopicMessages([record]) });
        if (m?.baseOffset === undefined)
          throw new Error(`no offset for a record of ${record.topic}`);
        landed.push({ topic: m.topicName, partition: m.partition, baseOffset: m.baseOffset });
      }
      const offsets = typeof offsetsFor === 'function' ? offsetsFor(landed) : offsetsFor;
      if (offsets.length > 0) {
        await tx.sendOffsets({
          consumerGroupId: this.opts.groupId,
          topics: [
            {
              topic: this.opts.topic,
              partitions: offsets.map((o) => ({
                partition: o.partition,
                offset: o.offset,
                metadata: o.metadata ?? null,
              })),
            },
          ],
        });
      }
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      throw err;
    }
  }

  /** The group's committed offsets (with their metadata) for the subscribed topic. */
  async committed(): Promise<PartitionOffset[]> {
    const admin = this.opts.kafka.admin();
    await admin.connect();
    try {
      const [t] = await admin.fetchOffsets({
        groupId: this.opts.groupId,
        topics: [this.opts.topic],
      });
      return (t?.partitions ?? [])
        .filter((p) => p.offset !== '-1')
        .map((p) => ({ partition: p.partition, offset: p.offset, metadata: p.metadata }));
    } finally {
      await admin.disconnect();
    }
  }

  /** Stops fetching (the batch in progress finishes), then leaves the group (no lag reported). */
  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.stop();
    this.lag.stop();
  }

  async disconnect(): Promise<void> {
    this.running = false;
    try {
      await this.consumer.disconnect();
    } finally {
      await this.lag.close();
    }
    await this.producer.disconnect();
  }
}

function headerStrings(h: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v !== undefined) out[k] = String(Array.isArray(v) ? v[0] : v);
  }
  return out;
}

function toTopicMessages(records: OutputRecord[]) {
  const byTopic = new Map<
    string,
    {
      key: string | Buffer | null;
      value: Buffer;
      partition?: number;
      headers?: Record<string, string>;
    }[]
  >();
  for (const r of records) {
    let list = byTopic.get(r.topic);
    if (!list) byTopic.set(r.topic, (list = []));
    list.push({
      key: r.key,
      value: r.value,
      ...(r.partition !== undefined ? { partition: r.partition } : {}),
      ...(r.headers ? { headers: r.headers } : {}),
    });
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
