import avro from 'avsc';
import { DistinctCounter, type DistinctCounterState } from './hll';

/**
 * The analytics aggregator's state as bytes, for the runner's compacted state topic: a format
 * byte, then Avro binary of the internal type below (maps as key-sorted arrays, so equal states
 * give equal bytes). Internal: not registered, only this module reads it.
 */

export const SNAPSHOT_FORMAT = 1;

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
  watermarkMs: number;
  closedAtMs: number;
}

export interface AggregatorState {
  WindowSeconds: number;
  Watermark: number | null;
  ClosedUntil: number | null;
  PendingDropped: number;
  Open: WindowState[];
  Closed: WindowState[];
}

/** Avro of a `DistinctCounter` (shared with the group aggregator's snapshot). */
export const sketchSchema = {
  type: 'record',
  name: 'Sketch',
  fields: [
    { name: 'Precision', type: 'int' },
    { name: 'Hashes', type: 'bytes' },
    { name: 'Registers', type: ['null', 'bytes'] },
  ],
};

const countsSchema = {
  type: 'array',
  items: {
    type: 'record',
    name: 'KeyCount',
    fields: [
      { name: 'Key', type: 'string' },
      { name: 'Count', type: 'long' },
    ],
  },
};

const windowSchema = {
  type: 'record',
  name: 'WindowState',
  fields: [
    { name: 'Start', type: 'long' },
    { name: 'Messages', type: 'long' },
    { name: 'ByElementType', type: countsSchema },
    { name: 'ByPlatform', type: { type: 'array', items: 'KeyCount' } },
    { name: 'FailedByResult', type: { type: 'array', items: 'KeyCount' } },
    { name: 'OnlineOnly', type: 'long' },
    { name: 'Unread', type: { type: 'array', items: 'long' } },
    { name: 'UnreadUnknown', type: 'long' },
    { name: 'LateEvents', type: 'long' },
    { name: 'Senders', type: sketchSchema },
    { name: 'Recipients', type: 'Sketch' },
    { name: 'DroppedLateEvents', type: 'long' },
    { name: 'WatermarkMs', type: 'long' },
    { name: 'ClosedAtMs', type: 'long' },
  ],
};

const stateType = avro.Type.forSchema({
  type: 'record',
  name: 'AnalyticsState',
  namespace: 'tim.analytics.state',
  fields: [
    { name: 'WindowSeconds', type: 'int' },
    { name: 'Watermark', type: ['null', 'long'] },
    { name: 'ClosedUntil', type: ['null', 'long'] },
    { name: 'PendingDropped', type: 'long' },
    { name: 'Open', type: { type: 'array', items: windowSchema } },
    { name: 'Closed', type: { type: 'array', items: 'WindowState' } },
  ],
} as avro.Schema);

export interface KeyCount {
  Key: string;
  Count: number;
}

interface WindowAvro {
  Start: number;
  Messages: number;
  ByElementType: KeyCount[];
  ByPlatform: KeyCount[];
  FailedByResult: KeyCount[];
  OnlineOnly: number;
  Unread: number[];
  UnreadUnknown: number;
  LateEvents: number;
  Senders: DistinctCounterState;
  Recipients: DistinctCounterState;
  DroppedLateEvents: number;
  WatermarkMs: number;
  ClosedAtMs: number;
}

interface StateAvro extends Omit<AggregatorState, 'Open' | 'Closed'> {
  Open: WindowAvro[];
  Closed: WindowAvro[];
}

export function encodeSnapshot(state: AggregatorState): Buffer {
  const value: StateAvro = {
    ...state,
    Open: state.Open.map(windowToAvro),
    Closed: state.Closed.map(windowToAvro),
  };
  return Buffer.concat([Buffer.of(SNAPSHOT_FORMAT), stateType.toBuffer(value)]);
}

/** Reads `encodeSnapshot`'s bytes; `unreadBuckets` is how many UnreadMsgNum buckets a window has. */
export function decodeSnapshot(bytes: Buffer, unreadBuckets: number): AggregatorState {
  if (bytes.length === 0 || bytes[0] !== SNAPSHOT_FORMAT) {
    throw new RangeError(
      `not an analytics snapshot of format ${SNAPSHOT_FORMAT} (first byte ${bytes[0] ?? 'missing'}): was the state topic written by another version?`,
    );
  }
  let value: StateAvro;
  try {
    value = stateType.fromBuffer(bytes.subarray(1)) as StateAvro;
  } catch (err) {
    throw new RangeError(`analytics snapshot is corrupt: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const fromAvro = (w: WindowAvro): WindowState => {
    if (w.Unread.length !== unreadBuckets) {
      throw new RangeError(
        `analytics snapshot has ${w.Unread.length} UnreadMsgNum buckets in window ${w.Start}, expected ${unreadBuckets}`,
      );
    }
    return windowFromAvro(w);
  };
  return { ...value, Open: value.Open.map(fromAvro), Closed: value.Closed.map(fromAvro) };
}

/** A map as key-sorted pairs (deterministic bytes). */
export function toCounts(map: Map<string, number>): KeyCount[] {
  return [...map.keys()].sort().map((Key) => ({ Key, Count: map.get(Key) as number }));
}

export function fromCounts(counts: KeyCount[]): Map<string, number> {
  return new Map(counts.map((c) => [c.Key, c.Count]));
}

function windowToAvro(w: WindowState): WindowAvro {
  return {
    Start: w.start,
    Messages: w.messages,
    ByElementType: toCounts(w.byElementType),
    ByPlatform: toCounts(w.byPlatform),
    FailedByResult: toCounts(w.failedByResult),
    OnlineOnly: w.onlineOnly,
    Unread: w.unread,
    UnreadUnknown: w.unreadUnknown,
    LateEvents: w.lateEvents,
    Senders: w.senders.toState(),
    Recipients: w.recipients.toState(),
    DroppedLateEvents: w.droppedLateEvents,
    WatermarkMs: w.watermarkMs,
    ClosedAtMs: w.closedAtMs,
  };
}

function windowFromAvro(w: WindowAvro): WindowState {
  return {
    start: w.Start,
    messages: w.Messages,
    byElementType: fromCounts(w.ByElementType),
    byPlatform: fromCounts(w.ByPlatform),
    failedByResult: fromCounts(w.FailedByResult),
    onlineOnly: w.OnlineOnly,
    unread: w.Unread,
    unreadUnknown: w.UnreadUnknown,
    lateEvents: w.LateEvents,
    senders: DistinctCounter.fromState(w.Senders),
    recipients: DistinctCounter.fromState(w.Recipients),
    droppedLateEvents: w.DroppedLateEvents,
    watermarkMs: w.WatermarkMs,
    closedAtMs: w.ClosedAtMs,
  };
}
