import { isBridgeError } from '../errors';
import type { BatchingPublisher, OutgoingRecord } from '../kafka/publisher';
import type { Logger } from '../observability/logger';
import type { Spool } from './spool';

export type DeliveryOutcome = 'kafka' | 'spooled';

export interface DeliveryEvents {
  drained?(records: number): void;
  drainFailed?(err: Error): void;
}

export interface DeliveryOptions {
  publisher: BatchingPublisher;
  /** Undefined: no spool, a record Kafka does not take in time is refused (503). */
  spool: Spool | undefined;
  logger: Logger;
  /** Records per drain step. */
  drainBatchRecords?: number;
  /** How long a drain step waits for Kafka before backing off. */
  drainTimeoutMs?: number;
  events?: DeliveryEvents;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;

/**
 * Makes records durable: in Kafka when it acknowledges in time, otherwise in the spool. Order per
 * key holds: once the spool holds anything, every new record goes behind it, and the drainer
 * sends the spool to Kafka oldest first; the normal path only switches back once it is empty.
 * The normal path pays one check (`spool.isEmpty`).
 */
export class Delivery {
  private draining: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(private readonly opts: DeliveryOptions) {
    this.unsubscribe = opts.spool?.onAppend(() => this.kick());
  }

  async deliver(record: OutgoingRecord): Promise<DeliveryOutcome> {
    const { spool, publisher } = this.opts;
    if (spool === undefined) {
      await publisher.publish(record);
      return 'kafka';
    }
    if (spool.isEmpty && publisher.connected) {
      try {
        await publisher.publish(record);
        return 'kafka';
      } catch (err) {
        if (!isBridgeError(err) || !err.retriable) throw err;
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
      const batch = spool.oldest(batchSize);
      const results = publisher.connected
        ? await Promise.allSettled(batch.map((r) => publisher.publish(r, timeoutMs)))
        : [];
      // stopped meanwhile: the spool may be closed; what was acknowledged is sent again next time
      if (this.stopped) return;
      const failed = results.find((r) => r.status === 'rejected');
      if (results.length > 0 && failed === undefined) {
        // acknowledged; a crash before this delete means they are sent again (at-least-once)
        spool.remove(batch);
        this.opts.events?.drained?.(batch.length);
        backoff = MIN_BACKOFF_MS;
        continue;
      }
      if (failed) this.opts.events?.drainFailed?.(failed.reason as Error);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        this.wake = () => {
          // appends do not shorten a backoff, a stop does
          if (this.stopped) {
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
