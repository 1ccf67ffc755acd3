/**
 * The event-time window machinery shared by the analytics aggregators (C2C messages in
 * `window.ts`, group messages in `group-window.ts`): pure, no clock, no I/O. What a window counts
 * is the caller's; this decides which window an event goes to, and when windows close.
 *
 * An event at `t` (Unix seconds) belongs to the window `[start, start + windowSeconds)` holding
 * it (windows aligned to the Unix epoch). The watermark is the largest `t` seen; a window closes
 * once `watermark >= end + allowedLatenessSeconds`, or on `closeAll()`. An event whose window has
 * closed is dropped and reported in the next window to close.
 */

export type AddOutcome = 'counted' | 'late' | 'dropped';

/** What the machinery keeps in every window; the rest is the caller's counts. */
export interface WindowBase {
  /** Unix seconds. */
  start: number;
  lateEvents: number;
  /** Set when the window closes (0 while open). */
  droppedLateEvents: number;
  watermarkMs: number;
  closedAtMs: number;
}

/** The machinery's state, as a snapshot holds it. */
export interface EventWindowsState<W extends WindowBase> {
  Watermark: number | null;
  ClosedUntil: number | null;
  PendingDropped: number;
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

  constructor(
    readonly windowSeconds: number,
    readonly allowedLatenessSeconds: number,
    private readonly emptyWindow: (start: number) => W,
  ) {
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
   * Places an event at `t` (a non-negative integer, Unix seconds: the caller checks) and closes
   * the windows the watermark passed, at `closedAtMs`. `count` adds the event to its window,
   * unless the window had closed ('dropped').
   */
  add(t: number, closedAtMs: number, count: (w: W) => void): AddOutcome {
    const start = t - (t % this.windowSeconds);
    const end = start + this.windowSeconds;
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
      Open: [...this.open.values()].sort((a, b) => a.start - b.start),
      Closed: this.closed,
    };
  }

  /** Back to a saved state; with a smaller allowed lateness, due windows close at the next add. */
  restoreState(s: EventWindowsState<W>): void {
    this.watermarkSeconds = s.Watermark;
    this.closedUntil = s.ClosedUntil;
    this.pendingDropped = s.PendingDropped;
    this.open.clear();
    for (const w of s.Open) this.open.set(w.start, w);
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
      w.closedAtMs = closedAtMs;
      w.watermarkMs = (this.watermarkSeconds as number) * 1000;
      w.droppedLateEvents = this.pendingDropped;
      this.pendingDropped = 0;
      this.closed.push(w);
    }
    return closing.length;
  }
}
