import { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { BridgeError } from '../errors';

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
}

export interface PublisherOptions {
  kafka: Kafka;
  /** Most records in one produce request. */
  maxBatchRecords: number;
  /** Longest a record waits for others to share its request when nothing is in flight. */
  maxWaitMs: number;
  /** A publish not acknowledged within this many ms is rejected (retriable, 503) by default. */
  timeoutMs: number;
  events?: PublisherEvents;
}

interface Pending {
  topic: string;
  message: Message;
  deadline: number;
  settled: boolean;
  resolve: () => void;
  reject: (err: BridgeError) => void;
}

const SWEEP_MS = 20;

/**
 * Publishes records to one topic with `acks: -1` through an idempotent producer with one request
 * in flight (KafkaJS's condition for idempotence to keep order). KafkaJS has no `linger.ms`, so
 * concurrent publishes are coalesced: while a request is in flight the next batch accumulates and
 * goes as soon as it returns; when idle, a record waits at most `maxWaitMs` for company. Each
 * `publish()` resolves only once Kafka acknowledged its own record.
 */
export class BatchingPublisher {
  private readonly producer: Producer;
  private queue: Pending[] = [];
  private inFlight: Pending[] = [];
  private sending = false;
  private sendingSince = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private idle: (() => void) | undefined;
  private _connected = false;

  constructor(private readonly opts: PublisherOptions) {
    this.producer = opts.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // An idempotent producer must retry a batch until it lands: giving up would let the next
      // batch reuse its sequence numbers, and the broker would drop it as a duplicate (a loss).
      // Replies do not wait for this: each publish has its own deadline (timeoutMs).
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 1000 },
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.producer.on(this.producer.events.CONNECT, () => this.setConnected(true));
    this.producer.on(this.producer.events.DISCONNECT, () => this.setConnected(false));
  }

  get connected(): boolean {
    return this._connected;
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
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Resolves once Kafka acknowledged the record. Rejects with a retriable BridgeError when it
   * was not acknowledged within the timeout; then every record queued behind it is rejected
   * too, in order, so that a caller who keeps them elsewhere (the spool) keeps their order.
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
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        topic: record.topic,
        message: { key: record.key, value: record.value, headers: record.headers },
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

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sending || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.opts.maxBatchRecords);
    this.sending = true;
    this.sendingSince = Date.now();
    this.inFlight = batch;
    const started = process.hrtime.bigint();
    this.producer
      .sendBatch({ acks: -1, topicMessages: byTopic(batch) })
      .then(
        () => {
          for (const p of batch) settle(p);
          this.opts.events?.batchAcked?.(
            batch.length,
            Number(process.hrtime.bigint() - started) / 1e9,
          );
        },
        (err: Error & { retriable?: boolean }) => {
          const failure = new BridgeError(
            `Kafka did not acknowledge the callback: ${err.message}`,
            {
              status: 503,
              reason: 'kafka_unavailable',
              retriable: err.retriable !== false,
              cause: err,
            },
          );
          for (const p of batch) settle(p, failure);
          this.opts.events?.batchFailed?.(batch.length, err);
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
function byTopic(batch: Pending[]): { topic: string; messages: Message[] }[] {
  const groups = new Map<string, Message[]>();
  for (const p of batch) {
    const messages = groups.get(p.topic);
    if (messages) messages.push(p.message);
    else groups.set(p.topic, [p.message]);
  }
  return [...groups].map(([topic, messages]) => ({ topic, messages }));
}

function settle(p: Pending, err?: BridgeError): void {
  if (p.settled) return;
  p.settled = true;
  if (err) p.reject(err);
  else p.resolve();
}
