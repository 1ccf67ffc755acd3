import avro from 'avsc';
import { DistinctCounter, type DistinctCounterState } from './hll';
import { fromCounts, sketchSchema, toCounts, type KeyCount } from './snapshot';

/**
 * The group-message aggregator's state as bytes, for the runner's compacted state topic (its own
 * record key there: the group input's consumer group id). A format byte of its own, so a C2C
 * snapshot is never read as a group one (nor the reverse), then Avro binary of the internal type
 * below (maps as key-sorted arrays: equal states give equal bytes). Internal: not registered.
 */

export const GROUP_SNAPSHOT_FORMAT = 0x47; // 'G'

/** One window's counts (open, or closed and not yet taken). Times in Unix seconds unless Ms. */
export interface GroupWindowState {
  start: number;
  messages: number;
  byGroupType: Map<string, number>;
  byElementType: Map<string, number>;
  byPlatform: Map<string, number>;
  onlineOnly: number;
  topicMessages: number;
  withoutMsgTime: number;
  lateEvents: number;
  groups: DistinctCounter;
  senders: DistinctCounter;
  /** Set when the window closes (0 while open). */
  droppedLateEvents: number;
  watermarkMs: number;
  closedAtMs: number;
}

export interface GroupAggregatorState {
  WindowSeconds: number;
  Watermark: number | null;
  ClosedUntil: number | null;
  PendingDropped: number;
  Open: GroupWindowState[];
  Closed: GroupWindowState[];
}

const counts = { type: 'array', items: 'KeyCount' };

const stateType = avro.Type.forSchema({
  type: 'record',
  name: 'GroupAnalyticsState',
  namespace: 'tim.analytics.groupstate',
  fields: [
    { name: 'WindowSeconds', type: 'int' },
    { name: 'Watermark', type: ['null', 'long'] },
    { name: 'ClosedUntil', type: ['null', 'long'] },
    { name: 'PendingDropped', type: 'long' },
    {
      name: 'Open',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'GroupWindowState',
          fields: [
            { name: 'Start', type: 'long' },
            { name: 'Messages', type: 'long' },
            {
              name: 'ByGroupType',
              type: {
                type: 'array',
                items: {
                  type: 'record',
                  name: 'KeyCount',
                  fields: [
                    { name: 'Key', type: 'string' },
                    { name: 'Count', type: 'long' },
                  ],
                },
              },
            },
            { name: 'ByElementType', type: counts },
            { name: 'ByPlatform', type: counts },
            { name: 'OnlineOnly', type: 'long' },
            { name: 'TopicMessages', type: 'long' },
            { name: 'WithoutMsgTime', type: 'long' },
            { name: 'LateEvents', type: 'long' },
            { name: 'Groups', type: sketchSchema },
            { name: 'Senders', type: 'Sketch' },
            { name: 'DroppedLateEvents', type: 'long' },
            { name: 'WatermarkMs', type: 'long' },
            { name: 'ClosedAtMs', type: 'long' },
          ],
        },
      },
    },
    { name: 'Closed', type: { type: 'array', items: 'GroupWindowState' } },
  ],
} as avro.Schema);

interface WindowAvro {
  Start: number;
  Messages: number;
  ByGroupType: KeyCount[];
  ByElementType: KeyCount[];
  ByPlatform: KeyCount[];
  OnlineOnly: number;
  TopicMessages: number;
  WithoutMsgTime: number;
  LateEvents: number;
  Groups: DistinctCounterState;
  Senders: DistinctCounterState;
  DroppedLateEvents: number;
  WatermarkMs: number;
  ClosedAtMs: number;
}

interface StateAvro extends Omit<GroupAggregatorState, 'Open' | 'Closed'> {
  Open: WindowAvro[];
  Closed: WindowAvro[];
}

export function encodeGroupSnapshot(state: GroupAggregatorState): Buffer {
  const value: StateAvro = {
    ...state,
    Open: state.Open.map(windowToAvro),
    Closed: state.Closed.map(windowToAvro),
  };
  return Buffer.concat([Buffer.of(GROUP_SNAPSHOT_FORMAT), stateType.toBuffer(value)]);
}

export function decodeGroupSnapshot(bytes: Buffer): GroupAggregatorState {
  if (bytes.length === 0 || bytes[0] !== GROUP_SNAPSHOT_FORMAT) {
    throw new RangeError(
      `not a group analytics snapshot of format ${GROUP_SNAPSHOT_FORMAT} (first byte ${bytes[0] ?? 'missing'}): was the state record written by another input or version?`,
    );
  }
  let value: StateAvro;
  try {
    value = stateType.fromBuffer(bytes.subarray(1)) as StateAvro;
  } catch (err) {
    throw new RangeError(`group analytics snapshot is corrupt: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return {
    ...value,
    Open: value.Open.map(windowFromAvro),
    Closed: value.Closed.map(windowFromAvro),
  };
}

function windowToAvro(w: GroupWindowState): WindowAvro {
  return {
    Start: w.start,
    Messages: w.messages,
    ByGroupType: toCounts(w.byGroupType),
    ByElementType: toCounts(w.byElementType),
    ByPlatform: toCounts(w.byPlatform),
    OnlineOnly: w.onlineOnly,
    TopicMessages: w.topicMessages,
    WithoutMsgTime: w.withoutMsgTime,
    LateEvents: w.lateEvents,
    Groups: w.groups.toState(),
    Senders: w.senders.toState(),
    DroppedLateEvents: w.droppedLateEvents,
    WatermarkMs: w.watermarkMs,
    ClosedAtMs: w.closedAtMs,
  };
}

function windowFromAvro(w: WindowAvro): GroupWindowState {
  return {
    start: w.Start,
    messages: w.Messages,
    byGroupType: fromCounts(w.ByGroupType),
    byElementType: fromCounts(w.ByElementType),
    byPlatform: fromCounts(w.ByPlatform),
    onlineOnly: w.OnlineOnly,
    topicMessages: w.TopicMessages,
    withoutMsgTime: w.WithoutMsgTime,
    lateEvents: w.LateEvents,
    groups: DistinctCounter.fromState(w.Groups),
    senders: DistinctCounter.fromState(w.Senders),
    droppedLateEvents: w.DroppedLateEvents,
    watermarkMs: w.WatermarkMs,
    closedAtMs: w.ClosedAtMs,
  };
}
