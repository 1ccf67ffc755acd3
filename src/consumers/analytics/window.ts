import type { AfterSendMsgCallback, Envelope } from '../../tencent/callback';
import { platformLabel } from '../../observability/platform';
import { WindowAggregator, type MinuteWindowsOptions, type WindowKind } from './aggregator';
import type { AddOutcome } from './event-windows';
import { DistinctCounter } from './hll';
import { decodeSnapshot, encodeSnapshot, type WindowState } from './snapshot';

export type { AddOutcome } from './event-windows';
export type { MinuteWindowsOptions } from './aggregator';

/**
 * Event-time windows over `C2C.CallbackAfterSendMsg` callbacks (pure: no clock, no I/O).
 *
 * A callback belongs to the window `[start, start + windowSeconds)` holding its `MsgTime`
 * (windows aligned to the Unix epoch). The watermark is the largest `MsgTime` seen; a window
 * closes once `watermark >= end + allowedLatenessSeconds`, or on `closeAll()`. A callback whose
 * window has closed is dropped and reported in the next window to close. Everything a window
 * holds, and so `snapshot()`, is bounded: about `allowedLatenessSeconds / windowSeconds + 2` open
 * windows, each with two distinct counters of at most 2^precision bytes and maps of at most
 * `MAP_KEY_LIMIT` (+ the known element types) keys.
 */

/** Tencent's documented element types (reference §4); they always get their own map key. */
export const KNOWN_ELEMENT_TYPES: readonly string[] = [
  'TIMTextElem',
  'TIMLocationElem',
  'TIMFaceElem',
  'TIMCustomElem',
  'TIMSoundElem',
  'TIMImageElem',
  'TIMFileElem',
  'TIMVideoFileElem',
  'TIMRelayElem',
];
const KNOWN_ELEMENTS: ReadonlySet<string> = new Set(KNOWN_ELEMENT_TYPES);

/** Keys a per-window map takes before further new keys are counted under `OTHER_KEY`. */
export const MAP_KEY_LIMIT = 32;
export const OTHER_KEY = 'other';

/** Inclusive upper bounds of the UnreadMsgNum buckets; a last bucket has none. */
export const UNREAD_BUCKET_BOUNDS: readonly number[] = [0, 1, 2, 5, 10, 20, 50, 100, 1000];

export interface UnreadMsgNumBucket {
  UpperBound: number | null;
  Count: number;
}

/** A closed window, as the `tim.analytics.MinuteWindow` Avro type encodes it (times in ms). */
export interface WindowRecord {
  WindowStart: number;
  WindowEnd: number;
  Messages: number;
  MessagesByElementType: Record<string, number>;
  MessagesByPlatform: Record<string, number>;
  FailedSends: number;
  FailedSendsByResult: Record<string, number>;
  OnlineOnlyMessages: number;
  OnlineOnlyShare: number;
  DistinctSenders: number;
  DistinctRecipients: number;
  DistinctCountsExact: boolean;
  UnreadMsgNum: UnreadMsgNumBucket[];
  UnreadMsgNumUnknown: number;
  LateEvents: number;
  DroppedLateEvents: number;
  OutOfRangeEvents: number;
  Watermark: number;
  ClosedAt: number;
}

/** The record key of a window: its start as an ISO-8601 UTC string (sorts like the start). */
export function windowKey(record: Pick<WindowRecord, 'WindowStart'>): string {
  return new Date(record.WindowStart).toISOString();
}

const C2C_WINDOWS: WindowKind<WindowState, WindowRecord> = {
  snapshotLabel: 'analytics snapshot',
  emptyWindow,
  toRecord,
  codec: {
    encode: encodeSnapshot,
    decode: (bytes) => decodeSnapshot(bytes, UNREAD_BUCKET_BOUNDS.length + 1),
  },
};

export class MinuteWindows extends WindowAggregator<WindowState, WindowRecord> {
  constructor(options: MinuteWindowsOptions) {
    super(options, C2C_WINDOWS);
  }

  /**
   * Counts one callback in the window of its MsgTime and closes the windows the watermark
   * passed ('late': counted although the watermark had already passed its window's end;
   * 'dropped': its window had closed, so it only adds to the next window's DroppedLateEvents;
   * 'duplicate': its MsgKey was counted in its window already; 'out_of_range': its MsgTime is
   * too far from when the bridge received it, so it only adds to the next window's
   * OutOfRangeEvents). Never throws on a callback the bridge accepted.
   */
  add(callback: AfterSendMsgCallback, envelope: Envelope): AddOutcome {
    return this.addEvent(
      { t: callback.MsgTime, receivedAtMs: envelope.ReceivedAt, key: callback.MsgKey },
      (w) => count(w, callback, envelope),
    );
  }

  /** An aggregator in the state `snapshot()` saved (see `WindowAggregator.restoreFrom`). */
  static restore(snapshot: Buffer, options: MinuteWindowsOptions): MinuteWindows {
    const windows = new MinuteWindows(options);
    windows.restoreFrom(snapshot);
    return windows;
  }
}

function emptyWindow(start: number, precision: number): WindowState {
  return {
    start,
    messages: 0,
    byElementType: new Map(),
    byPlatform: new Map(),
    failedByResult: new Map(),
    onlineOnly: 0,
    unread: new Array<number>(UNREAD_BUCKET_BOUNDS.length + 1).fill(0),
    unreadUnknown: 0,
    lateEvents: 0,
    senders: new DistinctCounter(precision),
    recipients: new DistinctCounter(precision),
    droppedLateEvents: 0,
    outOfRangeEvents: 0,
    watermarkMs: 0,
    closedAtMs: 0,
  };
}

function count(w: WindowState, callback: AfterSendMsgCallback, envelope: Envelope): void {
  w.messages++;
  countElementTypes(w.byElementType, callback.MsgBody);
  bump(w.byPlatform, platformLabel(envelope.OptPlatform ?? undefined));
  const result = callback.SendMsgResult;
  if (result !== undefined && result !== 0) {
    bump(w.failedByResult, boundedKey(w.failedByResult, String(result)));
  }
  if (callback.OnlineOnlyFlag === 1) w.onlineOnly++;
  const unread = callback.UnreadMsgNum;
  if (unread === undefined || unread < 0) {
    w.unreadUnknown++;
  } else {
    const i = UNREAD_BUCKET_BOUNDS.findIndex((bound) => unread <= bound);
    const bucket = i === -1 ? UNREAD_BUCKET_BOUNDS.length : i;
    w.unread[bucket] = (w.unread[bucket] as number) + 1;
  }
  w.senders.add(callback.From_Account);
  w.recipients.add(callback.To_Account);
}

/**
 * Adds one message to `map` once per distinct top-level MsgType: Tencent's documented types
 * always get their own key, others while the map has room (`boundedKey`).
 */
export function countElementTypes(
  map: Map<string, number>,
  body: readonly { MsgType: string }[],
): void {
  const types = new Set<string>();
  for (const element of body) types.add(element.MsgType);
  for (const type of types) bump(map, KNOWN_ELEMENTS.has(type) ? type : boundedKey(map, type));
}

/** `key`, or `OTHER_KEY` once the map holds `MAP_KEY_LIMIT` other keys. */
export function boundedKey(map: Map<string, number>, key: string): string {
  return map.has(key) || map.size < MAP_KEY_LIMIT ? key : OTHER_KEY;
}

export function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** A map as an object with sorted keys, so that records and their bytes are deterministic. */
export function sortedObject(map: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of [...map.keys()].sort()) out[key] = map.get(key) as number;
  return out;
}

function toRecord(w: WindowState, windowSeconds: number): WindowRecord {
  let failed = 0;
  for (const n of w.failedByResult.values()) failed += n;
  return {
    WindowStart: w.start * 1000,
    WindowEnd: (w.start + windowSeconds) * 1000,
    Messages: w.messages,
    MessagesByElementType: sortedObject(w.byElementType),
    MessagesByPlatform: sortedObject(w.byPlatform),
    FailedSends: failed,
    FailedSendsByResult: sortedObject(w.failedByResult),
    OnlineOnlyMessages: w.onlineOnly,
    OnlineOnlyShare: w.messages === 0 ? 0 : w.onlineOnly / w.messages,
    DistinctSenders: w.senders.count(),
    DistinctRecipients: w.recipients.count(),
    DistinctCountsExact: w.senders.exact && w.recipients.exact,
    UnreadMsgNum: w.unread.map((n, i) => ({
      UpperBound: UNREAD_BUCKET_BOUNDS[i] ?? null,
      Count: n,
    })),
    UnreadMsgNumUnknown: w.unreadUnknown,
    LateEvents: w.lateEvents,
    DroppedLateEvents: w.droppedLateEvents,
    OutOfRangeEvents: w.outOfRangeEvents,
    Watermark: w.watermarkMs,
    ClosedAt: w.closedAtMs,
  };
}
