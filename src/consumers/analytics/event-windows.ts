import { bytesToHashes, hash64, hashesToBytes } from './hll';

/**
 * The event-time window machinery shared by the analytics aggregators (C2C messages in
 * `window.ts`, group messages in `group-window.ts`): pure, no clock, no I/O. What a window counts
 * is the caller's; this decides which window an event goes to, and when windows close.
 *
 * An event at `t` (Unix seconds) belongs to the window `[start, start + windowSeconds)` holding
 * it (windows aligned to the Unix epoch). The watermark is the largest `t` seen; a window closes
 * once `watermark >= end + allowedLatenessSeconds`, or on `closeAll()`. An event whose window has
 * closed is dropped and reported in the next window to close.
 *
 * Two guards make the windows safe for months of arbitrary input:
 * - **Event time in range.** An event whose `t` is not a Unix time within `maxAheadSeconds` ahead
 *   of, or `maxBehindSeconds` behind, the time the bridge received it (its clock, not the
 *   sender's) is out of range: counted in the next window to close (`outOfRangeEvents`), never
 *   placed in a window, and it never moves the watermark. One `MsgTime` years ahead cannot close
 *   every window of current traffic, and no time reaches a date that cannot be written.
 * - **Duplicates by key.** An event's key (the message's `MsgKey`) is remembered, as a 64-bit
 *   hash, in its open window, and that memory is part of the state: a duplicate delivered by the
 *   bridge (at least once) is not counted twice, even across a restart or a rebalance. The keys
 *   are forgotten when their window closes; a duplicate of an event of a closed window is dropped
 *   like any event of a closed window.
 */

export type AddOutcome = 'counted' | 'late' | 'dropped' | 'duplicate' | 'out_of_range';

/** One event: its time, when the bridge received it, and the key duplicates are known by. */
export interface WindowEvent {
  /** Event time, Unix seconds (any number: the range check is here). */
  t: number;
  /** When the bridge received the callback, Unix ms (the reference for the range check). */
  receivedAtMs: number;
  key?: string | undefined;
}

export interface EventTimeOptions {
  windowSeconds: number;
  allowedLatenessSeconds: number;
  /** How far ahead of its reception an event time may be (default 300 s). */
  maxAheadSeconds?: number;
  /** How far behind its reception an event time may be (default 1 day). */
  maxBehindSeconds?: number;
}

export const DEFAULT_MAX_AHEAD_SECONDS = 300;
export const DEFAULT_MAX_BEHIND_SECONDS = 86400;

/** What the machinery keeps in every window; the rest is the caller's counts. */
export interface WindowBase {
  /** Unix seconds. */
  start: number;
  lateEvents: number;
  /** Set when the window closes (0 while open). */
  droppedLateEvents: number;
  /** Events out of range since the previous window closed; set when the window closes. */
  outOfRangeEvents: number;
  watermarkMs: number;
  closedAtMs: number;
}

/** The machinery's state, as a snapshot holds it. */
export interface EventWindowsState<W extends WindowBase> {
  Watermark: number | null;
  ClosedUntil: number | null;
  PendingDropped: number;
  PendingOutOfRange: number;
  /** Keys (64-bit hashes, sorted, big-endian) seen in each open window, in start order. */
  SeenKeys: { Start: number; Hashes: Buffer }[];
  /** In start order. */
  Open: W[];
  /** Closed and not yet taken, in closing order. */
  Closed: W[];
}

export class EventTimeWindows<W extends WindowBase> {
  /** Open windows by start (Unix seconds). */
  private readonly open = new Map<number, W>();
  /** Closed windows not yet taken, in closing order (start order). */
  private closed: W[] = [];
  private watermarkSeconds: number | null = null;
  /** Every window whose end is <= this (Unix seconds) is closed. */
  private closedUntil: number | null = null;
  /** Drops not yet reported in a closed window. */
  private pendingDropped = 0;
  private pendingOutOfRange = 0;
  /** Hashed keys of the events counted in each open window, by window start. */
  private readonly seen = new Map<number, Set<bigint>>();
  readonly windowSeconds: number;
  readonly allowedLatenessSeconds: number;
  readonly maxAheadSeconds: number;
  readonly maxBehindSeconds: number;

  constructor(
    options: EventTimeOptions,
    private readonly emptyWindow: (start: number) => W,
  ) {
    const { windowSeconds, allowedLatenessSeconds } = options;
    this.windowSeconds = windowSeconds;
    this.allowedLatenessSeconds = allowedLatenessSeconds;
    this.maxAheadSeconds = options.maxAheadSeconds ?? DEFAULT_MAX_AHEAD_SECONDS;
    this.maxBehindSeconds = options.maxBehindSeconds ?? DEFAULT_MAX_BEHIND_SECONDS;
    for (const [name, value] of [
      ['maxAheadSeconds', this.maxAheadSeconds],
      ['maxBehindSeconds', this.maxBehindSeconds],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
      }
    }
    if (!Number.isSafeInteger(windowSeconds) || windowSeconds < 1) {
      throw new RangeError(`windowSeconds must be a positive integer, got ${windowSeconds}`);
    }
    if (!Number.isSafeInteger(allowedLatenessSeconds) || allowedLatenessSeconds < 0) {
      throw new RangeError(
        `allowedLatenessSeconds must be a non-negative integer, got ${allowedLatenessSeconds}`,
      );
    }
  }

  get openWindows(): number {
    return this.open.size;
  }

  get pendingClosed(): number {
    return this.closed.length;
  }

  /** Largest event time seen, Unix seconds; null before the first event. */
  get watermark(): number | null {
    return this.watermarkSeconds;
  }

  /**
   * Places an event in its window and closes the windows the watermark passed, at its reception
   * time. `count` adds the event to its window, unless it is out of range, a duplicate of an
   * event of its window, or its window had closed ('dropped').
   */
  add(event: WindowEvent, count: (w: W) => void): AddOutcome {
    const { t, receivedAtMs: closedAtMs } = event;
    const reference = Math.floor(closedAtMs / 1000);
    if (
      !Number.isSafeInteger(t) ||
      t < 0 ||
      !Number.isFinite(reference) ||
      t > reference + this.maxAheadSeconds ||
      t < reference - this.maxBehindSeconds
    ) {
      this.pendingOutOfRange++;
      return 'out_of_range';
    }
    const start = t - (t % this.windowSeconds);
    const end = start + this.windowSeconds;
    const key = event.key === undefined ? undefined : hash64(event.key);
    if (key !== undefined && this.seen.get(start)?.has(key)) return 'duplicate';
    const late = this.watermarkSeconds !== null && this.watermarkSeconds >= end;
    if (this.watermarkSeconds === null || t > this.watermarkSeconds) this.watermarkSeconds = t;
    this.raiseClosedUntil(this.watermarkSeconds - this.allowedLatenessSeconds);

    let outcome: AddOutcome;
    if (this.closedUntil !== null && end <= this.closedUntil) {
      this.pendingDropped++;
      outcome = 'dropped';
    } else {
      let w = this.open.get(start);
      if (!w) {
        w = this.emptyWindow(start);
        this.open.set(start, w);
      }
      count(w);
      if (key !== undefined) {
        let keys = this.seen.get(start);
        if (!keys) this.seen.set(start, (keys = new Set()));
        keys.add(key);
      }
      if (late) w.lateEvents++;
      outcome = late ? 'late' : 'counted';
    }
    this.closeUpTo(closedAtMs);
    return outcome;
  }

  /** Closes every open window at `nowMs`; later events for them are dropped. */
  closeAll(nowMs: number): number {
    let maxEnd: number | null = null;
    for (const start of this.open.keys()) {
      const end = start + this.windowSeconds;
      if (maxEnd === null || end > maxEnd) maxEnd = end;
    }
    if (maxEnd === null) return 0;
    this.raiseClosedUntil(maxEnd);
    return this.closeUpTo(nowMs);
  }

  /** The windows closed since the last call, in start order. */
  takeClosed(): W[] {
    const closed = this.closed;
    this.closed = [];
    return closed;
  }

  state(): EventWindowsState<W> {
    return {
      Watermark: this.watermarkSeconds,
      ClosedUntil: this.closedUntil,
      PendingDropped: this.pendingDropped,
      PendingOutOfRange: this.pendingOutOfRange,
      SeenKeys: [...this.seen]
        .sort(([a], [b]) => a - b)
        .map(([Start, keys]) => ({ Start, Hashes: hashesToBytes(keys) })),
      Open: [...this.open.values()].sort((a, b) => a.start - b.start),
      Closed: this.closed,
    };
  }

  /** Back to a saved state; with a smaller allowed lateness, due windows close at the next add. */
  restoreState(s: EventWindowsState<W>): void {
    this.watermarkSeconds = s.Watermark;
    this.closedUntil = s.ClosedUntil;
    this.pendingDropped = s.PendingDropped;
    this.pendingOutOfRange = s.PendingOutOfRange;
    this.open.clear();
    for (const w of s.Open) this.open.set(w.start, w);
    this.seen.clear();
    for (const k of s.SeenKeys) {
      if (k.Hashes.length % 8 !== 0) throw new RangeError(`seen keys of ${k.Hashes.length} bytes`);
      if (this.open.has(k.Start)) this.seen.set(k.Start, bytesToHashes(k.Hashes));
    }
    this.closed = [...s.Closed];
    if (s.Watermark !== null) this.raiseClosedUntil(s.Watermark - this.allowedLatenessSeconds);
  }

  private raiseClosedUntil(until: number): void {
    if (this.closedUntil === null || until > this.closedUntil) this.closedUntil = until;
  }

  private closeUpTo(closedAtMs: number): number {
    const until = this.closedUntil;
    if (until === null || this.open.size === 0) return 0;
    let closing: W[] | undefined;
    for (const w of this.open.values()) {
      if (w.start + this.windowSeconds <= until) (closing ??= []).push(w);
    }
    if (!closing) return 0;
    closing.sort((a, b) => a.start - b.start);
    for (const w of closing) {
      this.open.delete(w.start);
      this.seen.delete(w.start);
      w.closedAtMs = closedAtMs;
      w.watermarkMs = (this.watermarkSeconds as number) * 1000;
      w.droppedLateEvents = this.pendingDropped;
      this.pendingDropped = 0;
      w.outOfRangeEvents = this.pendingOutOfRange;
      this.pendingOutOfRange = 0;
      this.closed.push(w);
    }
    return closing.length;
  }
}
