import { ConfigResourceTypes, type Kafka } from 'kafkajs';
import { BridgeError } from '../errors';
import {
  kafkajsProducers,
  type OutgoingMessage,
  type ProducerFactory,
  type PublisherProducer,
  type TopicMessages,
} from './producers';

export interface OutgoingRecord {
  topic: string;
  /** UTF-8 string key: partitioned with Java's murmur2 (KafkaJS's DefaultPartitioner). */
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
}

/** Named events for whoever watches the publisher (metrics, logs), like KafkaJS's instrumentation. */
export interface PublisherEvents {
  batchAcked?(records: number, seconds: number): void;
  batchFailed?(records: number, err: Error): void;
  connectionChanged?(connected: boolean): void;
  /** The producer was replaced by a fresh one (new producer id) after a failed request. */
  producerReplaced?(reason: string): void;
}

export interface PublisherOptions {
  /** For the topics' `max.message.bytes`, and the producers unless `producers` makes them. */
  kafka: Kafka;
  /** The producer engine (default: KafkaJS's producer on `kafka`); see producers.ts. */
  producers?: ProducerFactory;
  /** Most records in one produce request. */
  maxBatchRecords: number;
  /**
   * Most bytes of records in one produce request (default 1,000,000, below the broker's default
   * `message.max.bytes` of 1,048,588). Lowered per request to the smallest `max.message.bytes`
   * of its topics once known (`watchTopics`). A request is cut before it is sent, never after.
   */
  maxBatchBytes?: number;
  /** Longest a record waits for others to share its request when nothing is in flight. */
  maxWaitMs: number;
  /** A publish not acknowledged within this many ms is rejected (retriable, 503) by default. */
  timeoutMs: number;
  events?: PublisherEvents;
}

interface Pending {
  topic: string;
  message: OutgoingMessage;
  bytes: number;
  deadline: number;
  settled: boolean;
  resolve: () => void;
  reject: (err: BridgeError) => void;
}

const SWEEP_MS = 20;
export const DEFAULT_MAX_BATCH_BYTES = 1_000_000;
/** A v2 record batch's fixed header. */
const BATCH_OVERHEAD = 61;
/** Upper bound of a record's own framing (length, attributes, deltas, key/value/header lengths). */
const RECORD_OVERHEAD = 40;
const HEADER_OVERHEAD = 10;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

/**
 * Kafka errors that belong to the records of a request, not to the cluster: sending the same
 * record again fails again. Any other error may pass (an operator fixes an ACL, a leader moves).
 */
const RECORD_ERRORS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_TIMESTAMP',
]);
const SIZE_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/** Bytes a record takes in a produce request, at most. */
export function recordBytes(r: Pick<OutgoingRecord, 'key' | 'value' | 'headers'>): number {
  let n = RECORD_OVERHEAD + r.value.length + (r.key === null ? 0 : Buffer.byteLength(r.key));
  for (const k in r.headers) {
    n += HEADER_OVERHEAD + Buffer.byteLength(k) + Buffer.byteLength(r.headers[k] as string);
  }
  return n;
}

/**
 * Publishes records with `acks: -1` through an idempotent producer with one request in flight
 * (KafkaJS's condition for idempotence to keep order). KafkaJS has no `linger.ms`, so concurrent
 * publishes are coalesced: while a request is in flight the next batch accumulates and goes as
 * soon as it returns; when idle, a record waits at most `maxWaitMs` for company. A request holds
 * at most `maxBatchRecords` records and `maxBatchBytes` bytes (or less, for a topic whose
 * `max.message.bytes` is lower). Each `publish()` resolves only once Kafka acknowledged its own
 * record.
 *
 * The producer (producers.ts) retries what is retriable by itself, forever; a request that fails
 * all the same (the broker refused it) is never retried here: its records and everything queued
 * behind them are rejected, in order, for the caller to keep (the spool), and the producer is
 * replaced by a fresh one with a new producer id before anything else is sent. KafkaJS rolls back
 * the sequence numbers of every partition of a failed request, also of those the broker wrote; a
 * producer that went on would reuse them, and the broker would acknowledge the next batch as a
 * duplicate without writing it (any engine's sequences are in doubt after a failed request).
 */
export class BatchingPublisher {
  private readonly producers: ProducerFactory;
  private producer: PublisherProducer;
  private unsubscribe: () => void = () => undefined;
  private queue: Pending[] = [];
  private inFlight: Pending[] = [];
  private sending = false;
  private sendingSince = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private idle: (() => void) | undefined;
  private _connected = false;
  private readonly maxBatchBytes: number;
  /** `max.message.bytes` of the topics watched. */
  private readonly topicLimits = new Map<string, number>();
  private readonly watched = new Set<string>();
  private _replacements = 0;

  constructor(private readonly opts: PublisherOptions) {
    this.maxBatchBytes = opts.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.producers = opts.producers ?? kafkajsProducers(opts.kafka);
    this.producer = this.newProducer();
  }

  private newProducer(): PublisherProducer {
    const producer = this.producers();
    this.unsubscribe = producer.onConnection((connected) => this.setConnected(connected));
    return producer;
  }

  get connected(): boolean {
    return this._connected;
  }

  /** How long a publish waits for its acknowledgement by default (ms). */
  get timeoutMs(): number {
    return this.opts.timeoutMs;
  }

  /** How many times the producer was replaced after a failed request. */
  get replacements(): number {
    return this._replacements;
  }

  /** Why Kafka cannot take records now, or undefined when it can. */
  health(): string | undefined {
    if (!this._connected) return 'producer not connected';
    const stalledMs = this.sending ? Date.now() - this.sendingSince : 0;
    if (stalledMs > this.opts.timeoutMs)
      return `produce request unacknowledged for ${stalledMs} ms`;
    return undefined;
  }

  /** Records waiting for a request or in one. */
  get pending(): number {
    return this.queue.length + this.inFlight.length;
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Reads the `max.message.bytes` of these topics (and again after the broker refuses a request
   * for its size), so that no request is cut too large for them.
   */
  async watchTopics(topics: string[]): Promise<void> {
    for (const t of topics) this.watched.add(t);
    await this.readTopicLimits([...this.watched]);
  }

  /** The largest request (bytes of records) that may carry a record of `topic`. */
  budget(topic: string): number {
    return Math.min(this.maxBatchBytes, this.topicLimits.get(topic) ?? Infinity) - BATCH_OVERHEAD;
  }

  private async readTopicLimits(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    const admin = this.opts.kafka.admin();
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: topics.map((name) => ({
          type: ConfigResourceTypes.TOPIC,
          name,
          configNames: ['max.message.bytes'],
        })),
      });
      for (const r of resources) {
        const value = Number(
          r.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue,
        );
        if (Number.isFinite(value) && value > 0) this.topicLimits.set(r.resourceName, value);
      }
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Resolves once Kafka acknowledged the record. Rejects with a BridgeError when it was not
   * acknowledged within the timeout or the broker refused its request; then every record queued
   * behind it is rejected too, in order, so that a caller who keeps them elsewhere (the spool)
   * keeps their order. `retriable` is false only when the record itself is at fault (too large
   * for its topic, refused as invalid): sending it again would fail again.
   */
  publish(record: OutgoingRecord, timeoutMs = this.opts.timeoutMs): Promise<void> {
    if (this.closed) {
      return Promise.reject(
        new BridgeError('the bridge is shutting down', {
          status: 503,
          reason: 'shutting_down',
          retriable: true,
        }),
      );
    }
    const bytes = recordBytes(record);
    const budget = this.budget(record.topic);
    if (bytes > budget) return Promise.reject(tooLarge(bytes, record.topic, budget));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        topic: record.topic,
        message: { key: record.key, value: record.value, headers: record.headers },
        bytes,
        deadline: Date.now() + timeoutMs,
        settled: false,
        resolve,
        reject,
      });
      if (this.sending) return; // goes with the next request, right after the one in flight
      if (this.queue.length >= this.opts.maxBatchRecords || this.opts.maxWaitMs === 0) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.maxWaitMs);
    });
  }

  /** The next request: the oldest records, within the record and byte limits (at least one). */
  private takeBatch(): Pending[] {
    let n = 0;
    let bytes = 0;
    let budget = Infinity;
    for (const p of this.queue) {
      if (n >= this.opts.maxBatchRecords) break;
      const b = Math.min(budget, this.budget(p.topic));
      if (n > 0 && bytes + p.bytes > b) break;
      budget = b;
      bytes += p.bytes;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sending || this.queue.length === 0) return;
    // records queued before a refusal taught a topic's lower limit: refused as publish() now would
    this.queue = this.queue.filter((p) => {
      const budget = this.budget(p.topic);
      if (p.bytes <= budget) return true;
      settle(p, tooLarge(p.bytes, p.topic, budget));
      return false;
    });
    if (this.queue.length === 0) {
      this.idle?.();
      return;
    }
    const batch = this.takeBatch();
    this.sending = true;
    this.sendingSince = Date.now();
    this.inFlight = batch;
    const started = process.hrtime.bigint();
    this.producer
      .send(byTopic(batch))
      .then(
        () => {
          for (const p of batch) settle(p);
          this.opts.events?.batchAcked?.(
            batch.length,
            Number(process.hrtime.bigint() - started) / 1e9,
          );
        },
        async (err: Error & { type?: string }) => {
          const atFault = err.type !== undefined && RECORD_ERRORS.has(err.type);
          const failure = new BridgeError(`Kafka refused the request: ${err.message}`, {
            status: atFault ? 500 : 503,
            reason: atFault ? 'kafka_refused' : 'kafka_unavailable',
            retriable: !(atFault && batch.length === 1),
            cause: err,
          });
          for (const p of batch) settle(p, failure);
          // what waits behind goes too, in order: nothing may overtake the failed records
          const behind = new BridgeError(
            `Kafka refused an earlier request; not sent: ${err.message}`,
            { status: 503, reason: 'kafka_unavailable', retriable: true, cause: err },
          );
          for (const p of this.queue.splice(0)) settle(p, behind);
          this.opts.events?.batchFailed?.(batch.length, err);
          if (err.type !== undefined && SIZE_ERRORS.has(err.type)) {
            await this.readTopicLimits([
              ...new Set([...this.watched, ...batch.map((p) => p.topic)]),
            ]).catch(() => undefined);
          }
          await this.replaceProducer(err.message);
        },
      )
      .finally(() => {
        this.sending = false;
        this.inFlight = [];
        if (this.queue.length > 0) this.flush();
        else this.idle?.();
      });
  }

  /**
   * A fresh producer (new producer id, sequences from 0) in place of one whose request failed.
   * Nothing is sent meanwhile (`sending` stays set): records wait, or time out to the spool.
   */
  private async replaceProducer(reason: string): Promise<void> {
    const old = this.producer;
    this.unsubscribe();
    this.setConnected(false);
    await old.disconnect().catch(() => undefined);
    this.producer = this.newProducer();
    this._replacements++;
    this.opts.events?.producerReplaced?.(reason);
    for (
      let backoff = RECONNECT_MIN_MS;
      !this.closed;
      backoff = Math.min(backoff * 2, RECONNECT_MAX_MS)
    ) {
      try {
        await this.producer.connect();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, backoff).unref());
      }
    }
  }

  /**
   * Rejects what waited past its deadline: late records of the request in flight (they may still
   * land: at-least-once), and when the oldest queued record is late, the whole queue, in order.
   */
  private sweep(): void {
    const now = Date.now();
    const late = this.inFlight.filter((p) => !p.settled && p.deadline <= now);
    const head = this.queue[0];
    const queued = head !== undefined && head.deadline <= now ? this.queue.splice(0) : [];
    if (late.length + queued.length === 0) return;
    const failure = new BridgeError(`Kafka did not acknowledge the callback in time`, {
      status: 503,
      reason: 'publish_timeout',
      retriable: true,
    });
    for (const p of late) settle(p, failure);
    for (const p of queued) settle(p, failure);
  }

  private setConnected(connected: boolean): void {
    if (this._connected === connected) return;
    this._connected = connected;
    this.opts.events?.connectionChanged?.(connected);
  }

  /**
   * Sends what is queued and waits for the request in flight (at most `waitMs`: Kafka may be
   * down, and the producer retries forever), then disconnects.
   */
  async close(waitMs = this.opts.timeoutMs): Promise<void> {
    this.closed = true;
    if (this.sending || this.queue.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        timer = setTimeout(resolve, waitMs);
        this.flush();
      });
      clearTimeout(timer);
    }
    clearInterval(this.sweeper);
    await this.producer.disconnect();
  }
}

/** Records grouped by topic, in their order within each topic. */
function byTopic(batch: Pending[]): TopicMessages {
  const groups = new Map<string, OutgoingMessage[]>();
  for (const p of batch) {
    const messages = groups.get(p.topic);
    if (messages) messages.push(p.message);
    else groups.set(p.topic, [p.message]);
  }
  return [...groups].map(([topic, messages]) => ({ topic, messages }));
}

/** A record larger than its topic takes: refused for itself, never sent. */
function tooLarge(bytes: number, topic: string, budget: number): BridgeError {
  return new BridgeError(
    `the record (${bytes} bytes) is larger than topic ${topic} accepts (${budget} bytes)`,
    { status: 500, reason: 'kafka_refused', retriable: false },
  );
}

function settle(p: Pending, err?: BridgeError): void {
  if (p.settled) return;
  p.settled = true;
  if (err) p.reject(err);
  else p.resolve();
}
