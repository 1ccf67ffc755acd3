import { isBridgeError, type BridgeError } from '../errors';
import type { BatchingPublisher, OutgoingRecord } from '../kafka/publisher';
import type { Logger } from '../observability/logger';
import { DLQ_HEADERS } from '../record-headers';
import type { Spool, SpooledRecord } from './spool';

export type DeliveryOutcome = 'kafka' | 'spooled';

export interface DeliveryEvents {
  drained?(records: number): void;
  drainFailed?(err: Error): void;
  /** A spooled record that Kafka refused for itself went to the dead-letter topic. */
  deadLettered?(record: SpooledRecord, err: BridgeError): void;
  /** ... and the dead-letter topic refused it too: kept aside in the spool file. */
  quarantined?(record: SpooledRecord, err: BridgeError): void;
}

export interface DeliveryOptions {
  publisher: BatchingPublisher;
  /** Undefined: no spool, a record Kafka does not take in time is refused (503). */
  spool: Spool | undefined;
  /** Where a spooled record goes when Kafka refuses it for itself (too large, invalid). */
  dlqTopic: string;
  logger: Logger;
  /** Records per drain step. */
  drainBatchRecords?: number;
  /** How long a drain step waits for Kafka before backing off. */
  drainTimeoutMs?: number;
  events?: DeliveryEvents;
}

/** A refusal that need not be the record's own: its request was refused, or one before it. */
function refusedWithOthers(err: unknown): boolean {
  return (
    isBridgeError(err) &&
    err.retriable &&
    (err.reason === 'kafka_refused' || err.reason === 'kafka_unavailable')
  );
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
/** While finishing (shutdown), a failed step is retried sooner: the grace period is short. */
const FINISH_BACKOFF_MS = 250;

/**
 * Makes records durable: in Kafka when it acknowledges in time, otherwise in the spool. Order per
 * key holds: once the spool holds anything, every new record goes behind it, and the drainer
 * sends the spool to Kafka oldest first; the normal path only switches back once it is empty.
 * The normal path pays one check (`spool.isEmpty`).
 *
 * A drain step never wedges on one bad record: when Kafka refuses a step for its records (not
 * for being unreachable), the drainer sends the step's records one at a time, and a record that
 * Kafka refuses on its own goes to the dead-letter topic with the reason (or, if that topic
 * refuses it too, into the spool file's quarantine table), so the records behind it go on.
 */
export class Delivery {
  private draining: Promise<void> | undefined;
  private stopped = false;
  private finishing = false;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: (() => void) | undefined;
  /** Records still to send one at a time, to find the one Kafka refuses. */
  private isolating = 0;
  /** Ids of spooled records Kafka acknowledged behind an older one still in the spool. */
  private readonly sent = new Set<number>();
  /** Acknowledged by Kafka, not yet deleted from the spool (it could not write): deleted first. */
  private acknowledged: SpooledRecord[] = [];

  constructor(private readonly opts: DeliveryOptions) {
    this.unsubscribe = opts.spool?.onAppend(() => this.kick());
  }

  async deliver(record: OutgoingRecord): Promise<DeliveryOutcome> {
    const { spool, publisher } = this.opts;
    if (spool === undefined) {
      const deadline = Date.now() + publisher.timeoutMs;
      try {
        await publisher.publish(record);
      } catch (err) {
        // refused with its request for another record, or not sent behind a refused request:
        // once more, within its deadline (a record at fault is then refused for itself)
        if (!refusedWithOthers(err) || deadline <= Date.now()) throw err;
        await publisher.publish(record, deadline - Date.now());
      }
      return 'kafka';
    }
    if (spool.isEmpty && publisher.connected) {
      try {
        await publisher.publish(record);
        return 'kafka';
      } catch (err) {
        // whatever kept Kafka from taking it (slow, down, or refusing its request): the spool
        // keeps it, and the drainer deals with it, so no callback fails for another one's error
        if (!isBridgeError(err)) throw err;
      }
    }
    await spool.append(record);
    return 'spooled';
  }

  /** Starts draining whatever the spool holds (also what a previous run left). */
  start(): void {
    this.kick();
  }

  private kick(): void {
    this.wake?.();
    if (
      this.draining ||
      this.stopped ||
      this.opts.spool === undefined ||
      this.opts.spool.records === 0
    )
      return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(): Promise<void> {
    const spool = this.opts.spool as Spool;
    const { publisher, logger } = this.opts;
    const batchSize = this.opts.drainBatchRecords ?? 500;
    const timeoutMs = this.opts.drainTimeoutMs ?? 10000;
    let backoff = MIN_BACKOFF_MS;
    logger.info({ records: spool.records, bytes: spool.bytes }, 'draining the spool to Kafka');
    while (!this.stopped && spool.records > 0) {
      let err: Error | undefined;
      try {
        // what Kafka took but the spool could not delete is deleted before anything is sent
        if (this.acknowledged.length > 0) {
          this.removeAcknowledged(spool);
          backoff = MIN_BACKOFF_MS;
          continue;
        }
        const batch = spool.oldest(this.isolating > 0 ? 1 : batchSize);
        const results = publisher.connected
          ? await Promise.allSettled(
              batch.map((r) => (this.sent.has(r.id) ? undefined : publisher.publish(r, timeoutMs))),
            )
          : [];
        // stopped meanwhile: the spool may be closed; what was acknowledged is sent again next time
        if (this.stopped) return;
        // acknowledged; a crash before this delete means they are sent again (at-least-once)
        let acked = 0;
        while (results[acked]?.status === 'fulfilled') acked++;
        // acknowledged behind one that Kafka refused for itself (before it was sent): in Kafka,
        // deleted once that one is out of the way, not sent again
        for (let i = acked + 1; i < results.length; i++) {
          if (results[i]?.status === 'fulfilled') this.sent.add((batch[i] as SpooledRecord).id);
        }
        for (const r of batch.slice(0, acked)) this.sent.delete(r.id);
        if (acked > 0) {
          this.isolating = Math.max(0, this.isolating - acked);
          this.acknowledged = batch.slice(0, acked);
          this.removeAcknowledged(spool);
        }
        const failed = results[acked];
        if (results.length > 0 && failed === undefined) {
          backoff = MIN_BACKOFF_MS;
          continue;
        }
        err = failed?.status === 'rejected' ? (failed.reason as Error) : undefined;
        if (err && isBridgeError(err) && err.reason === 'kafka_refused') {
          if (!err.retriable) {
            // this record alone is refused for itself: out of the way, with the reason
            if (await this.deadLetter(batch[acked] as SpooledRecord, err)) {
              this.isolating = Math.max(0, this.isolating - 1);
              continue;
            }
          } else {
            // a request of several records was refused for one of them: find it
            this.isolating = batch.length - acked;
            logger.warn(
              { records: this.isolating, err: err.message },
              'Kafka refused a drain step; sending its records one at a time',
            );
            continue;
          }
        }
      } catch (thrown) {
        // the spool could not write (its disk full, an I/O error): a failed step, retried; the
        // drainer goes on (an error thrown out of it would end the process)
        err = new Error(`the local spool could not write: ${(thrown as Error).message}`, {
          cause: thrown,
        });
      }
      if (err) this.opts.events?.drainFailed?.(err);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.finishing ? FINISH_BACKOFF_MS : backoff);
        this.wake = () => {
          // appends do not shorten a backoff, a stop or the shutdown's last drain do
          if (this.stopped || this.finishing) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
      this.wake = undefined;
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
    if (spool.records === 0) logger.info('spool drained');
  }

  /**
   * Deletes the records Kafka acknowledged. Throws when the spool cannot write: they stay in
   * `acknowledged`, and the next step deletes them without sending them again.
   */
  private removeAcknowledged(spool: Spool): void {
    const records = this.acknowledged;
    spool.remove(records);
    this.acknowledged = [];
    this.opts.events?.drained?.(records.length);
  }

  /**
   * Moves a record that Kafka refuses for itself to the dead-letter topic (its value as it is,
   * the reason and its topic in headers), or into the quarantine table when that topic refuses
   * it too. False when the dead-letter topic could not be reached: retried later.
   */
  private async deadLetter(record: SpooledRecord, err: BridgeError): Promise<boolean> {
    const spool = this.opts.spool as Spool;
    const { logger, publisher, dlqTopic } = this.opts;
    if (record.topic !== dlqTopic) {
      try {
        await publisher.publish(
          {
            topic: dlqTopic,
            key: record.key,
            value: record.value,
            headers: {
              ...record.headers,
              [DLQ_HEADERS.reason]: 'kafka_refused',
              [DLQ_HEADERS.error]: err.message,
              [DLQ_HEADERS.topic]: record.topic,
              [DLQ_HEADERS.receivedAt]: String(record.spooledAt),
            },
          },
          this.opts.drainTimeoutMs ?? 10000,
        );
        spool.remove([record]);
        this.opts.events?.deadLettered?.(record, err);
        logger.error(
          { topic: record.topic, dlqTopic, bytes: record.value.length, err: err.message },
          'Kafka refused a spooled record: moved to the dead-letter topic',
        );
        return true;
      } catch (dlqErr) {
        if (!isBridgeError(dlqErr) || dlqErr.retriable) return false;
        err = dlqErr;
      }
    }
    spool.quarantine(record, err.message);
    this.opts.events?.quarantined?.(record, err);
    logger.error(
      { topic: record.topic, dlqTopic, bytes: record.value.length, err: err.message },
      'Kafka refused a spooled record and the dead-letter topic refused it too: quarantined in the spool file (see the runbook)',
    );
    return true;
  }

  /**
   * The shutdown's last drain: goes on draining (retrying failed steps soon) until the spool is
   * empty or `waitMs` passed. What is left stays in the spool for the next start.
   */
  async finish(waitMs: number): Promise<void> {
    const spool = this.opts.spool;
    if (spool === undefined || this.stopped) return;
    this.finishing = true;
    this.kick();
    const deadline = Date.now() + waitMs;
    while (spool.records > 0 && Date.now() < deadline) {
      if (this.draining === undefined) this.kick();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.draining ?? Promise.resolve(),
        new Promise<void>((r) => (timer = setTimeout(r, Math.min(100, deadline - Date.now())))),
      ]);
      clearTimeout(timer);
    }
  }

  /**
   * Stops the drainer: waits for its current step at most `waitMs` (a step may be waiting for
   * Kafka); records of an unfinished step stay in the spool for the next start.
   */
  async stop(waitMs = 0): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.wake?.();
    if (this.draining === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.draining, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }
}
