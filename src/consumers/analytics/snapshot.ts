import type { DistinctCounter } from './hll';
import { createSnapshotCodec, type SnapshotState } from './snapshot-codec';

/**
 * The C2C analytics aggregator's state as bytes, for the runner's compacted state topic: format
 * byte 1, then the windows as `snapshot-codec.ts` writes them (the fields below, in this order).
 */

export const SNAPSHOT_FORMAT = 2;
/** Written before out-of-range counts and seen keys were kept: still read. */
export const LEGACY_SNAPSHOT_FORMAT = 1;

/** One window's counts (open, or closed and not yet taken). Times in Unix seconds unless Ms. */
export interface WindowState {
  start: number;
  messages: number;
  byElementType: Map<string, number>;
  byPlatform: Map<string, number>;
  failedByResult: Map<string, number>;
  onlineOnly: number;
  /** Messages per UnreadMsgNum bucket (bounds + 1 entries). */
  unread: number[];
  unreadUnknown: number;
  lateEvents: number;
  senders: DistinctCounter;
  recipients: DistinctCounter;
  /** Set when the window closes (0 while open). */
  droppedLateEvents: number;
  outOfRangeEvents: number;
  watermarkMs: number;
  closedAtMs: number;
}

export type AggregatorState = SnapshotState<WindowState>;

const codec = createSnapshotCodec<WindowState>({
  format: SNAPSHOT_FORMAT,
  legacyFormat: LEGACY_SNAPSHOT_FORMAT,
  label: 'analytics snapshot',
  foreignHint: 'was the state topic written by another version?',
  name: 'AnalyticsState',
  namespace: 'tim.analytics.state',
  windowName: 'WindowState',
  fields: {
    start: ['Start', 'long'],
    messages: ['Messages', 'long'],
    byElementType: ['ByElementType', 'counts'],
    byPlatform: ['ByPlatform', 'counts'],
    failedByResult: ['FailedByResult', 'counts'],
    onlineOnly: ['OnlineOnly', 'long'],
    unread: ['Unread', 'longs'],
    unreadUnknown: ['UnreadUnknown', 'long'],
    lateEvents: ['LateEvents', 'long'],
    senders: ['Senders', 'sketch'],
    recipients: ['Recipients', 'sketch'],
    droppedLateEvents: ['DroppedLateEvents', 'long'],
    outOfRangeEvents: ['OutOfRangeEvents', 'long'],
    watermarkMs: ['WatermarkMs', 'long'],
    closedAtMs: ['ClosedAtMs', 'long'],
  },
});

export function encodeSnapshot(state: AggregatorState): Buffer {
  return codec.encode(state);
}

/**
 * Reads `encodeSnapshot`'s bytes; `unreadBuckets` is how many UnreadMsgNum buckets a window has
 * (a snapshot with another count is refused, not misread).
 */
export function decodeSnapshot(bytes: Buffer, unreadBuckets: number): AggregatorState {
  const state = codec.decode(bytes);
  for (const w of [...state.Open, ...state.Closed]) {
    if (w.unread.length !== unreadBuckets) {
      throw new RangeError(
        `analytics snapshot has ${w.unread.length} UnreadMsgNum buckets in window ${w.start}, expected ${unreadBuckets}`,
      );
    }
  }
  return state;
}
