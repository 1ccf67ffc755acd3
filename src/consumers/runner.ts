import type avro from 'avsc';
import type {
  BatchControl,
  GroupConsumer,
  InputRecord,
  Landed,
  OutputRecord,
} from '../kafka/consumer';
import { WireFormatError } from '../kafka/codec';
import { RecordDecodeError, SchemaNotFoundError, type Registry } from '../kafka/registry';
import type { Logger } from '../observability/logger';
import type { AfterSendMsgCallback, Envelope } from '../tencent/callback';
import type { CallbackRecordMapper } from '../tencent/record';
import { RecentKeys } from './dedupe';
import type { RunnerMetrics } from './metrics';
import {
  formatStateMetadata,
  parseStateMetadata,
  stateRecords,
  stateRefOf,
  type StateRef,
} from './state-store';

/**
 * The consumer runner shared by every consumer of the bridge's topics (`c2c.after-send-msg`,
 * `group.after-send-msg`, ...): one runner reads one topic. It decodes each record through the
 * schema registry (by the id in the record) back into Tencent's callback JSON, skips recent
 * duplicates by the message's key (`MsgKey` for C2C messages, see `dedupeKey`), hands the callback
 * to the consumer's logic, produces what that returns, and commits offsets only after the work is
 * durable. A record that cannot be decoded
 * (or whose processing throws) goes, raw, to the consumer's dead-letter topic instead of stopping
 * the consumer.
 *
 * Two delivery modes:
 * - `at-least-once`: outputs are produced (acks=all) before the offsets are committed; a crash
 *   repeats the work of the uncommitted records (dedupe by MsgKey downstream).
 * - `exactly-once`: outputs, a snapshot of the consumer's state and the offsets are committed in
 *   one Kafka transaction every `commitIntervalMs`; at start (and after a rebalance) the state is
 *   restored from the snapshot that the committed offsets name, so a crash neither loses nor
 *   double-counts anything.
 */

/** `C`: the callback type of the topic read (C2C messages by default). */
export interface DecodedMessage<C = AfterSendMsgCallback> {
  callback: C;
  envelope: Envelope;
  schemaId: number;
  input: InputRecord;
}

export interface ConsumerLogic<C = AfterSendMsgCallback> {
  /** The records one callback leads to (may be none). Throwing dead-letters the record. */
  handle(msg: DecodedMessage<C>): Promise<OutputRecord[]> | OutputRecord[];
  /** Exactly-once only: records ready at commit time (closed windows). */
  flush?(nowMs: number): OutputRecord[];
  /** Exactly-once only: called when the input has been idle for idleMs. */
  idle?(nowMs: number): void;
  /** Exactly-once only: the whole state, and its inverse (undefined: the initial state). */
  snapshot?(): Buffer;
  restore?(state: Buffer | undefined): void;
}

export interface ExactlyOnce {
  stateTopic: string;
  stateKey: string;
  commitIntervalMs: number;
  /** After this long without input, `logic.idle()` runs (0: never). */
  idleMs: number;
  /** Reads the snapshot the committed offsets name (from the state topic). */
  loadState(ref: StateRef): Promise<Buffer>;
}

export interface RunnerOptions<C = AfterSendMsgCallback> {
  name: string;
  consumer: GroupConsumer;
  registry: Registry;
  mapper: CallbackRecordMapper<C>;
  /** The schema the consumer was built for; records written with another are resolved to it. */
  readerType: avro.Type;
  logic: ConsumerLogic<C>;
  /**
   * The key duplicates are recognised by (undefined: the record is never skipped as a duplicate).
   * Default: the C2C `MsgKey`.
   */
  dedupeKey?: (callback: C) => string | undefined;
  dlqTopic: string;
  dedupeMaxKeys: number;
  exactlyOnce?: ExactlyOnce;
  metrics: RunnerMetrics;
  logger: Logger;
  /** Called when the runner cannot go on (an exactly-once commit failed): the process exits. */
  onFatal(err: Error): void;
  clock?: () => number;
}

export const DLQ_CONSUMER_HEADERS = {
  reason: 'dlq.reason',
  error: 'dlq.error',
  consumer: 'dlq.consumer',
  topic: 'dlq.source-topic',
  partition: 'dlq.source-partition',
  offset: 'dlq.source-offset',
} as const;

class PoisonError extends Error {
  constructor(
    readonly reason: 'undecodable' | 'processing_failed',
    cause: unknown,
  ) {
    // a logic may throw anything, `undefined` too: reading `.message` of that would throw here,
    // and the TypeError would be taken for a failed dependency, the record retried forever
    const message = (cause as { message?: unknown } | null | undefined)?.message;
    super(typeof message === 'string' ? message : String(cause), { cause });
  }
}

/**
 * A dependency failed on a record that is no poison (the registry away while a schema id is
 * fetched): the batch is retried by KafkaJS with its backoff. It must say `retriable` and carry no
 * `cause`: KafkaJS ends the consumer for good on an error it sees as not retriable, such as the
 * TypeError `fetch failed` with which an unreachable registry answers.
 */
export class DependencyError extends Error {
  override name = 'DependencyError';
  readonly retriable = true;
}

/** The C2C message key (`MsgKey`), the default dedupe key. */
function msgKeyOf(callback: unknown): string | undefined {
  const key = (callback as Partial<AfterSendMsgCallback>).MsgKey;
  return typeof key === 'string' ? key : undefined;
}

export class ConsumerRunner<C = AfterSendMsgCallback> {
  private readonly dedupe: RecentKeys;
  private readonly dedupeKey: (callback: C) => string | undefined;
  private readonly clock: () => number;
  /** Next offset to read per partition, as of the work done (committed or not). */
  private positions = new Map<number, bigint>();
  private committedPositions = new Map<number, bigint>();
  private committedState: Buffer | undefined;
  private seq = 0;
  private pending: OutputRecord[] = [];
  private dirty = false;
  private lastCommit = 0;
  private lastInput = 0;
  private idled = false;
  private joins = 0;
  private lock: Promise<void> = Promise.resolve();
  private ticker: NodeJS.Timeout | undefined;
  private _joined = false;
  private _stopping = false;
  private crashed: string | undefined;

  constructor(private readonly o: RunnerOptions<C>) {
    this.dedupe = new RecentKeys(o.dedupeMaxKeys);
    this.dedupeKey = o.dedupeKey ?? msgKeyOf;
    this.clock = o.clock ?? Date.now;
  }

  /** undefined when ready; else what is wrong (for /readyz). */
  problem(): string | undefined {
    if (this._stopping) return 'shutting down';
    if (this.crashed) return `consumer crashed: ${this.crashed}`;
    if (!this._joined) return 'not in the consumer group yet';
    return undefined;
  }

  /** Events of the group consumer, wired by the composition root. */
  joined(partitions: number[]): void {
    this._joined = true;
    this.crashed = undefined;
    this.o.metrics.assignedPartitions.set({ consumer: this.o.name }, partitions.length);
    this.o.logger.info({ partitions }, 'joined the consumer group');
    // After a rebalance Kafka resumes from the committed offsets: so must the state.
    if (this.o.exactlyOnce && this.joins++ > 0) {
      void this.serialised(async () => this.resetToCommitted());
    }
  }

  crashedWith(err: Error, restarting: boolean): void {
    this.o.metrics.crashes.inc({ consumer: this.o.name });
    this.crashed = err.message;
    this.o.logger.error({ err: err.message, restarting }, 'Kafka consumer crashed');
    if (!restarting) this.o.onFatal(err);
  }

  async start(): Promise<void> {
    const { exactlyOnce } = this.o;
    if (exactlyOnce) {
      await this.restoreCommitted();
      const every = Math.min(exactlyOnce.commitIntervalMs, 1000);
      // start() may be tried again after a transient failure: one ticker all the same
      this.ticker ??= setInterval(() => {
        void this.serialised(() => this.tick()).catch((err: unknown) => this.fatal(err));
      }, every);
    }
    await this.o.consumer.run((partition, records, ctl) =>
      this.serialised(() => this.onBatch(partition, records, ctl)),
    );
  }

  /** Finishes the batch in progress, commits, leaves the group. */
  async stop(): Promise<void> {
    this._stopping = true;
    clearInterval(this.ticker);
    await this.o.consumer.stop();
    if (this.o.exactlyOnce) {
      await this.serialised(() => this.commitTransaction()).catch((err: unknown) =>
        this.o.logger.error({ err: (err as Error).message }, 'last commit failed'),
      );
    }
    await this.o.consumer.disconnect();
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private fatal(err: unknown): void {
    this.o.logger.fatal({ err: (err as Error).message }, 'cannot go on');
    this.o.onFatal(err as Error);
  }

  private async onBatch(partition: number, records: InputRecord[], ctl: BatchControl) {
    const { name, metrics, exactlyOnce } = this.o;
    const end = metrics.batchDuration.startTimer({ consumer: name });
    // at least once: the batch's outputs go in one produce request, then its offsets commit
    const outputs: OutputRecord[] = [];
    const keys = new Set<string>();
    let last: string | undefined;
    for (const input of records) {
      if (!ctl.isRunning()) break;
      // exactly once, a record before the position is in the state already: after a rebalance
      // Kafka resumes from the offsets committed when the group re-formed, older than the
      // state's if a transaction was committing meanwhile (its offsets count only once it is
      // complete); processed again, the record would count twice
      if (exactlyOnce && BigInt(input.offset) < (this.positions.get(partition) ?? 0n)) {
        last = input.offset;
        continue;
      }
      const done = await this.process(input, keys);
      if (exactlyOnce) {
        this.pending.push(...done.outputs);
        this.dirty = true;
        // exactly once, the key is part of the state at once (a failure resets both)
        if (done.key !== undefined) this.dedupe.add(done.key);
      } else {
        outputs.push(...done.outputs);
        if (done.key !== undefined) keys.add(done.key);
      }
      this.positions.set(partition, BigInt(input.offset) + 1n);
      last = input.offset;
      await ctl.heartbeat();
    }
    if (records.length > 0) {
      this.lastInput = this.clock();
      this.idled = false;
    }
    if (last !== undefined) {
      if (!exactlyOnce) {
        await this.o.consumer.produce(outputs);
        // remembered only once its outputs are durable
        for (const key of keys) this.dedupe.add(key);
        await this.o.consumer.commit([{ partition, offset: String(BigInt(last) + 1n) }]);
        metrics.commits.inc({ consumer: name, result: 'ok' });
      }
      ctl.resolveOffset(last);
    }
    end();
    if (exactlyOnce && this.clock() - this.lastCommit >= exactlyOnce.commitIntervalMs) {
      // a failed transaction leaves the state ahead of Kafka: not retried here (KafkaJS would
      // redeliver the batch on top of it) but fatal; the next start restores what Kafka holds
      await this.commitTransaction().catch((err: unknown) => this.fatal(err));
    }
  }

  /**
   * Decode, dedupe, handle; a poison record becomes a dead letter. `batchKeys`: keys handled
   * earlier in this batch, not yet durable (so not yet in the dedupe memory).
   */
  private async process(
    input: InputRecord,
    batchKeys: ReadonlySet<string>,
  ): Promise<{ outputs: OutputRecord[]; key?: string }> {
    const { name, metrics } = this.o;
    try {
      const msg = await this.decode(input);
      const key = this.dedupeKey(msg.callback);
      if (key !== undefined && (this.dedupe.has(key) || batchKeys.has(key))) {
        metrics.records.inc({ consumer: name, outcome: 'duplicate' });
        return { outputs: [] };
      }
      let outputs: OutputRecord[];
      try {
        outputs = await this.o.logic.handle(msg);
      } catch (err) {
        throw new PoisonError('processing_failed', err);
      }
      metrics.records.inc({ consumer: name, outcome: 'processed' });
      return { outputs, key };
    } catch (err) {
      // Kafka or the registry unreachable: retried (KafkaJS's backoff), never dead-lettered
      if (!(err instanceof PoisonError))
        throw new DependencyError(
          `record ${input.partition}/${input.offset} not processed yet: ${describeError(err)}`,
        );
      metrics.records.inc({ consumer: name, outcome: 'dead_lettered' });
      this.o.logger.warn(
        { partition: input.partition, offset: input.offset, reason: err.reason, err: err.message },
        'record dead-lettered',
      );
      return { outputs: [this.deadLetter(input, err)] };
    }
  }

  private async decode(input: InputRecord): Promise<DecodedMessage<C>> {
    if (input.value === null)
      throw new PoisonError('undecodable', new Error('the record has no value'));
    let decoded: { schemaId: number; record: unknown };
    try {
      decoded = await this.o.registry.decode(input.value, this.o.readerType);
    } catch (err) {
      if (
        err instanceof WireFormatError ||
        err instanceof SchemaNotFoundError ||
        err instanceof RecordDecodeError
      ) {
        throw new PoisonError('undecodable', err);
      }
      throw err;
    }
    try {
      const { callback, envelope } = this.o.mapper.fromRecord(
        decoded.record as Record<string, unknown>,
      );
      return { callback, envelope, schemaId: decoded.schemaId, input };
    } catch (err) {
      throw new PoisonError('undecodable', err);
    }
  }

  private deadLetter(input: InputRecord, err: PoisonError): OutputRecord {
    const h = DLQ_CONSUMER_HEADERS;
    return {
      topic: this.o.dlqTopic,
      key: input.key,
      value: input.value ?? Buffer.alloc(0),
      headers: {
        ...input.headers,
        [h.reason]: err.reason,
        [h.error]: err.message.slice(0, 1000),
        [h.consumer]: this.o.name,
        [h.topic]: input.topic,
        [h.partition]: String(input.partition),
        [h.offset]: input.offset,
      },
    };
  }

  // ---- exactly once ----

  private async tick(): Promise<void> {
    const eo = this.o.exactlyOnce as ExactlyOnce;
    const now = this.clock();
    if (eo.idleMs > 0 && !this.idled && this.lastInput > 0 && now - this.lastInput >= eo.idleMs) {
      this.idled = true;
      this.o.logic.idle?.(now);
      this.dirty = true;
    }
    if (this.dirty && now - this.lastCommit >= eo.commitIntervalMs) await this.commitTransaction();
  }

  private async commitTransaction(): Promise<void> {
    const eo = this.o.exactlyOnce as ExactlyOnce;
    const { name, metrics, logic } = this.o;
    this.lastCommit = this.clock();
    if (!this.dirty) return;
    const seq = this.seq + 1;
    // what flush() takes out is no longer in the snapshot, so it goes first
    const flushed = logic.flush?.(this.clock()) ?? [];
    const state = logic.snapshot?.() ?? Buffer.alloc(0);
    const positions = [...this.positions];
    // the offsets' metadata says where the snapshot's parts landed: a restart reads just those
    const offsets = (landed: Landed[]) => {
      const metadata = formatStateMetadata(stateRefOf(seq, landed));
      return positions.map(([partition, next]) => ({ partition, offset: String(next), metadata }));
    };
    try {
      await this.o.consumer.transact([...this.pending, ...flushed], offsets, {
        alone: stateRecords(eo.stateTopic, eo.stateKey, seq, state),
      });
    } catch (err) {
      metrics.commits.inc({ consumer: name, result: 'error' });
      // the in-memory state is now ahead of what Kafka holds: start again from what it holds
      throw new Error(`transaction failed: ${(err as Error).message}`, { cause: err });
    }
    metrics.commits.inc({ consumer: name, result: 'ok' });
    this.seq = seq;
    this.committedState = state;
    this.committedPositions = new Map(this.positions);
    this.pending = [];
    this.dirty = false;
  }

  /** Finds the snapshot the committed offsets name and restores it (or the initial state). */
  private async restoreCommitted(): Promise<void> {
    const eo = this.o.exactlyOnce as ExactlyOnce;
    const committed = await this.o.consumer.committed();
    // every partition's metadata names the same snapshot (one transaction commits them all)
    let ref: StateRef | undefined;
    for (const c of committed) {
      this.committedPositions.set(c.partition, BigInt(c.offset));
      const r = parseStateMetadata(c.metadata);
      if (r && (ref === undefined || r.seq > ref.seq)) ref = r;
    }
    this.seq = ref?.seq ?? 0;
    this.committedState = ref ? await eo.loadState(ref) : undefined;
    this.resetToCommitted();
    this.o.logger.info(
      {
        stateSeq: this.seq,
        stateBytes: this.committedState?.length ?? 0,
        partitions: committed.length,
      },
      ref ? 'state restored from the last transaction' : 'no earlier state: starting fresh',
    );
  }

  private resetToCommitted(): void {
    this.o.logic.restore?.(this.committedState);
    this.positions = new Map(this.committedPositions);
    this.pending = [];
    this.dirty = false;
    this.dedupe.clear();
  }
}

/** An error's message with its causes' (fetch's `fetch failed` says why only in its cause). */
function describeError(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: unknown; cause?: unknown } | undefined; e; e = e.cause as never)
    parts.push(String(e.message ?? e));
  return parts.join(': ');
}
