import type { DistinctCounter } from './hll';
import { createSnapshotCodec, type SnapshotState } from './snapshot-codec';

/**
 * The group-message aggregator's state as bytes, for the runner's compacted state topic (its own
 * record key there: the group input's consumer group id). A format byte of its own, so a C2C
 * snapshot is never read as a group one (nor the reverse), then the windows as
 * `snapshot-codec.ts` writes them (the fields below, in this order).
 */

export const GROUP_SNAPSHOT_FORMAT = 0x67; // 'g'
/** Written before out-of-range counts and seen keys were kept: still read. */
export const LEGACY_GROUP_SNAPSHOT_FORMAT = 0x47; // 'G'

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
  outOfRangeEvents: number;
  watermarkMs: number;
  closedAtMs: number;
}

export type GroupAggregatorState = SnapshotState<GroupWindowState>;

const codec = createSnapshotCodec<GroupWindowState>({
  format: GROUP_SNAPSHOT_FORMAT,
  legacyFormat: LEGACY_GROUP_SNAPSHOT_FORMAT,
  label: 'group analytics snapshot',
  foreignHint: 'was the state record written by another input or version?',
  name: 'GroupAnalyticsState',
  namespace: 'tim.analytics.groupstate',
  windowName: 'GroupWindowState',
  fields: {
    start: ['Start', 'long'],
    messages: ['Messages', 'long'],
    byGroupType: ['ByGroupType', 'counts'],
    byElementType: ['ByElementType', 'counts'],
    byPlatform: ['ByPlatform', 'counts'],
    onlineOnly: ['OnlineOnly', 'long'],
    topicMessages: ['TopicMessages', 'long'],
    withoutMsgTime: ['WithoutMsgTime', 'long'],
    lateEvents: ['LateEvents', 'long'],
    groups: ['Groups', 'sketch'],
    senders: ['Senders', 'sketch'],
    droppedLateEvents: ['DroppedLateEvents', 'long'],
    outOfRangeEvents: ['OutOfRangeEvents', 'long'],
    watermarkMs: ['WatermarkMs', 'long'],
    closedAtMs: ['ClosedAtMs', 'long'],
  },
});

export function encodeGroupSnapshot(state: GroupAggregatorState): Buffer {
  return codec.encode(state);
}

export function decodeGroupSnapshot(bytes: Buffer): GroupAggregatorState {
  return codec.decode(bytes);
}
