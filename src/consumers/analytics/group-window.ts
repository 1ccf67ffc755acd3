import { platformLabel } from '../../observability/platform';
import type { Envelope } from '../../tencent/callback';
import {
  groupMessageKey,
  groupTypeLabel,
  isKnownGroupType,
  text,
  topicIdOf,
  whole,
  type GroupMessageCallback,
} from '../group';
import { WindowAggregator, type MinuteWindowsOptions, type WindowKind } from './aggregator';
import type { AddOutcome } from './event-windows';
import { decodeGroupSnapshot, encodeGroupSnapshot, type GroupWindowState } from './group-snapshot';
import { DistinctCounter } from './hll';
import { boundedKey, bump, countElementTypes, sortedObject } from './window';

/**
 * Event-time windows over `Group.CallbackAfterSendMsg` callbacks, the group counterpart of
 * `MinuteWindows` (same machinery: `aggregator.ts`; pure, no clock, no I/O): group messages per
 * window by group type, element type and platform, online-only and topic messages, distinct
 * groups and senders.
 *
 * Event time is `MsgTime` (Unix seconds, server time). The bridge keeps a `MsgTime` that is not
 * an integer verbatim (the field is lenient), and it may be absent: such a message is counted at
 * the second the bridge received it (`ReceivedAt`) and in `MessagesWithoutMsgTime`, rather than
 * dead-lettered: the window counts stay complete.
 *
 * Bounded like `MinuteWindows`: about `allowedLatenessSeconds / windowSeconds + 2` open windows,
 * each with two distinct counters of at most 2^precision bytes and maps of at most
 * `MAP_KEY_LIMIT` (+ the known keys) keys.
 */

/** A closed window, as the `tim.analytics.GroupMinuteWindow` Avro type encodes it (times in ms). */
export interface GroupWindowRecord {
  WindowStart: number;
  WindowEnd: number;
  Messages: number;
  MessagesByGroupType: Record<string, number>;
  MessagesByElementType: Record<string, number>;
  MessagesByPlatform: Record<string, number>;
  OnlineOnlyMessages: number;
  TopicMessages: number;
  MessagesWithoutMsgTime: number;
  DistinctGroups: number;
  DistinctSenders: number;
  DistinctCountsExact: boolean;
  LateEvents: number;
  DroppedLateEvents: number;
  OutOfRangeEvents: number;
  Watermark: number;
  ClosedAt: number;
}

const GROUP_WINDOWS: WindowKind<GroupWindowState, GroupWindowRecord> = {
  snapshotLabel: 'group analytics snapshot',
  emptyWindow,
  toRecord,
  codec: { encode: encodeGroupSnapshot, decode: decodeGroupSnapshot },
};

export class GroupMinuteWindows extends WindowAggregator<GroupWindowState, GroupWindowRecord> {
  constructor(options: MinuteWindowsOptions) {
    super(options, GROUP_WINDOWS);
  }

  /** Counts one group message in the window of its event time (see `MinuteWindows.add`). */
  add(callback: GroupMessageCallback, envelope: Envelope): AddOutcome {
    const msgTime = whole(callback.MsgTime);
    const t = msgTime ?? Math.floor(envelope.ReceivedAt / 1000);
    return this.addEvent(
      { t, receivedAtMs: envelope.ReceivedAt, key: groupMessageKey(callback) },
      (w) => count(w, callback, envelope, msgTime === undefined),
    );
  }

  static restore(snapshot: Buffer, options: MinuteWindowsOptions): GroupMinuteWindows {
    const windows = new GroupMinuteWindows(options);
    windows.restoreFrom(snapshot);
    return windows;
  }
}

function emptyWindow(start: number, precision: number): GroupWindowState {
  return {
    start,
    messages: 0,
    byGroupType: new Map(),
    byElementType: new Map(),
    byPlatform: new Map(),
    onlineOnly: 0,
    topicMessages: 0,
    withoutMsgTime: 0,
    lateEvents: 0,
    groups: new DistinctCounter(precision),
    senders: new DistinctCounter(precision),
    droppedLateEvents: 0,
    outOfRangeEvents: 0,
    watermarkMs: 0,
    closedAtMs: 0,
  };
}

function count(
  w: GroupWindowState,
  callback: GroupMessageCallback,
  envelope: Envelope,
  withoutMsgTime: boolean,
): void {
  w.messages++;
  const type = groupTypeLabel(callback.Type);
  bump(w.byGroupType, isKnownGroupType(type) ? type : boundedKey(w.byGroupType, type));
  countElementTypes(w.byElementType, callback.MsgBody);
  bump(w.byPlatform, platformLabel(envelope.OptPlatform ?? undefined));
  if (whole(callback.OnlineOnlyFlag) === 1) w.onlineOnly++;
  if (topicIdOf(callback) !== undefined) w.topicMessages++;
  if (withoutMsgTime) w.withoutMsgTime++;
  w.groups.add(callback.GroupId);
  const sender = text(callback.From_Account);
  if (sender !== undefined) w.senders.add(sender);
}

function toRecord(w: GroupWindowState, windowSeconds: number): GroupWindowRecord {
  return {
    WindowStart: w.start * 1000,
    WindowEnd: (w.start + windowSeconds) * 1000,
    Messages: w.messages,
    MessagesByGroupType: sortedObject(w.byGroupType),
    MessagesByElementType: sortedObject(w.byElementType),
    MessagesByPlatform: sortedObject(w.byPlatform),
    OnlineOnlyMessages: w.onlineOnly,
    TopicMessages: w.topicMessages,
    MessagesWithoutMsgTime: w.withoutMsgTime,
    DistinctGroups: w.groups.count(),
    DistinctSenders: w.senders.count(),
    DistinctCountsExact: w.groups.exact && w.senders.exact,
    LateEvents: w.lateEvents,
    DroppedLateEvents: w.droppedLateEvents,
    OutOfRangeEvents: w.outOfRangeEvents,
    Watermark: w.watermarkMs,
    ClosedAt: w.closedAtMs,
  };
}
