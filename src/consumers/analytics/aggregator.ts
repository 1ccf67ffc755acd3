import { EventTimeWindows, type WindowBase, type WindowEvent } from './event-windows';
import { DEFAULT_PRECISION, checkPrecision } from './hll';
import type { SnapshotCodec } from './snapshot-codec';

export interface MinuteWindowsOptions {
  /** Window length in seconds (default 60). */
  windowSeconds?: number;
  /** How far behind the watermark a callback may be and still be counted. */
  allowedLatenessSeconds: number;
  /** HyperLogLog precision of the distinct counters, 4 to 16 (default 12). */
  precision?: number;
  /** How far ahead of its reception an event time may be (see `EventTimeWindows`). */
  maxAheadSeconds?: number;
  /** How far behind its reception an event time may be. */
  maxBehindSeconds?: number;
}

/** What an aggregator's windows hold and how they are published and saved. */
export interface WindowKind<W extends WindowBase, R> {
  /** Names the snapshot in errors, e.g. "analytics snapshot". */
  snapshotLabel: string;
  emptyWindow(start: number, precision: number): W;
  /** A closed window as the Avro-ready record published for it. */
  toRecord(w: W, windowSeconds: number): R;
  codec: SnapshotCodec<W>;
}

/**
 * The part of an analytics aggregator that does not depend on what it counts (C2C messages in
 * `window.ts`, group messages in `group-window.ts`): options, the window machinery
 * (`event-windows.ts`), taking closed windows as records, snapshot and restore. A subclass reads
 * the event time of its callbacks and counts them (`addAt`), and restores through `restoreFrom`.
 */
export abstract class WindowAggregator<W extends WindowBase, R> {
  readonly windowSeconds: number;
  readonly allowedLatenessSeconds: number;
  readonly precision: number;
  private readonly windows: EventTimeWindows<W>;

  protected constructor(
    options: MinuteWindowsOptions,
    private readonly kind: WindowKind<W, R>,
  ) {
    const { windowSeconds = 60, allowedLatenessSeconds, precision = DEFAULT_PRECISION } = options;
    this.windows = new EventTimeWindows(
      { ...options, windowSeconds, allowedLatenessSeconds },
      (start) => kind.emptyWindow(start, precision),
    );
    checkPrecision(precision);
    this.windowSeconds = windowSeconds;
    this.allowedLatenessSeconds = allowedLatenessSeconds;
    this.precision = precision;
  }

  /** Open windows (a gauge for metrics). */
  get openWindows(): number {
    return this.windows.openWindows;
  }

  /** Closed windows waiting for `takeClosed()`. */
  get pendingClosed(): number {
    return this.windows.pendingClosed;
  }

  /** Largest event time seen, Unix seconds; null before the first callback. */
  get watermark(): number | null {
    return this.windows.watermark;
  }

  /**
   * Closes every open window (idle input, shutdown, tests) at `nowMs`; later callbacks for them
   * are dropped. Returns how many windows it closed.
   */
  closeAll(nowMs: number): number {
    return this.windows.closeAll(nowMs);
  }

  /** The windows closed since the last call, in start order, as Avro-ready records. */
  takeClosed(): R[] {
    return this.windows.takeClosed().map((w) => this.kind.toRecord(w, this.windowSeconds));
  }

  /**
   * The whole state (open and not-yet-taken closed windows, watermark, pending drops) as compact,
   * deterministic bytes: equal states give equal bytes. Take the closed windows first when they
   * are published in the same transaction as the snapshot, or they are published again after a
   * restore.
   */
  snapshot(): Buffer {
    return this.kind.codec.encode({ WindowSeconds: this.windowSeconds, ...this.windows.state() });
  }

  /** Counts one event in its window: see `EventTimeWindows.add`. */
  protected addEvent(event: WindowEvent, count: (w: W) => void) {
    return this.windows.add(event, count);
  }

  /**
   * Back to the state `snapshot()` saved. The allowed lateness and precision may change across a
   * restore (restored sketches keep theirs); the window length may not.
   */
  protected restoreFrom(snapshot: Buffer): void {
    const s = this.kind.codec.decode(snapshot);
    if (s.WindowSeconds !== this.windowSeconds) {
      throw new RangeError(
        `the ${this.kind.snapshotLabel} has ${s.WindowSeconds}-second windows but windowSeconds is ${this.windowSeconds}: keep the window length, or start from an empty state (a new state topic)`,
      );
    }
    // with a smaller allowed lateness, restored windows may be due: the next add() closes them
    this.windows.restoreState(s);
  }
}
