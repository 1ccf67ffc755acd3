import { Counter, Gauge, type Registry } from 'prom-client';
import { GROUP_TYPES, NO_GROUP_TYPE } from '../group';
import type { GroupWindowRecord } from './group-window';
import { OTHER_KEY } from './window';

export const GROUP_ANALYTICS_METRIC_PREFIX = 'tim_analytics_group_';

/** `group_type` label values: the documented types, `none` and `other` (a bounded set). */
export const GROUP_TYPE_LABELS: readonly string[] = [...GROUP_TYPES, NO_GROUP_TYPE, OTHER_KEY];
const LABELS: ReadonlySet<string> = new Set(GROUP_TYPE_LABELS);

/**
 * The group-message windows' metrics (`tim_analytics_group_*`), beside the C2C ones on the same
 * registry. As there, counters add up the closed windows (they move when a window is published)
 * and gauges describe the last closed window and the aggregator.
 */
export function createGroupAnalyticsMetrics(registry: Registry) {
  const p = GROUP_ANALYTICS_METRIC_PREFIX;
  const registers = [registry];
  const metrics = {
    windowsClosed: new Counter({
      name: `${p}windows_closed_total`,
      help: 'Windows of group messages closed (and handed over for publishing).',
      registers,
    }),
    messages: new Counter({
      name: `${p}messages_total`,
      help: 'Group messages counted in closed windows (late ones included, dropped ones not).',
      registers,
    }),
    messagesByGroupType: new Counter({
      name: `${p}messages_by_group_type_total`,
      help: 'Group messages in closed windows by group Type (Public, Private, ChatRoom, AVChatRoom, Community; Work and Meeting folded in; "none" when absent, "other" when undocumented).',
      labelNames: ['group_type'] as const,
      registers,
    }),
    topicMessages: new Counter({
      name: `${p}topic_messages_total`,
      help: 'Group messages in closed windows sent in a community topic (TopicId set).',
      registers,
    }),
    withoutMsgTime: new Counter({
      name: `${p}messages_without_msg_time_total`,
      help: 'Group messages in closed windows without a usable MsgTime (windowed by the bridge ReceivedAt).',
      registers,
    }),
    lateEvents: new Counter({
      name: `${p}late_events_total`,
      help: 'Group messages counted although the watermark had passed their window end (within the allowed lateness).',
      registers,
    }),
    droppedLateEvents: new Counter({
      name: `${p}dropped_late_events_total`,
      help: 'Group messages dropped because their window had already closed (reported with the next closed window).',
      registers,
    }),
    lastWindowMessages: new Gauge({
      name: `${p}last_window_messages`,
      help: 'Group messages in the last closed window.',
      registers,
    }),
    lastWindowDistinctGroups: new Gauge({
      name: `${p}last_window_distinct_groups`,
      help: 'Distinct GroupId in the last closed window (exact up to 512, else HyperLogLog ~1.6 %).',
      registers,
    }),
    lastWindowEnd: new Gauge({
      name: `${p}last_window_end_timestamp_seconds`,
      help: 'End of the last closed window of group messages, Unix seconds (event time).',
      registers,
    }),
    openWindows: new Gauge({
      name: `${p}open_windows`,
      help: 'Windows of group messages open in the aggregator.',
      registers,
    }),
    watermark: new Gauge({
      name: `${p}watermark_timestamp_seconds`,
      help: 'Largest group message event time seen, Unix seconds (0 before the first).',
      registers,
    }),
  };
  for (const group_type of GROUP_TYPE_LABELS) metrics.messagesByGroupType.inc({ group_type }, 0);
  return metrics;
}

export type GroupAnalyticsMetrics = ReturnType<typeof createGroupAnalyticsMetrics>;

/** Adds a closed window to the metrics. */
export function observeGroupWindow(m: GroupAnalyticsMetrics, record: GroupWindowRecord): void {
  m.windowsClosed.inc();
  m.messages.inc(record.Messages);
  for (const [type, n] of Object.entries(record.MessagesByGroupType)) {
    m.messagesByGroupType.inc({ group_type: LABELS.has(type) ? type : OTHER_KEY }, n);
  }
  m.topicMessages.inc(record.TopicMessages);
  m.withoutMsgTime.inc(record.MessagesWithoutMsgTime);
  m.lateEvents.inc(record.LateEvents);
  m.droppedLateEvents.inc(record.DroppedLateEvents);
  m.lastWindowMessages.set(record.Messages);
  m.lastWindowDistinctGroups.set(record.DistinctGroups);
  m.lastWindowEnd.set(record.WindowEnd / 1000);
}

/** Sets the aggregator gauges (open windows, watermark); call after each callback or restore. */
export function observeGroupAggregator(
  m: GroupAnalyticsMetrics,
  aggregator: { readonly openWindows: number; readonly watermark: number | null },
): void {
  m.openWindows.set(aggregator.openWindows);
  m.watermark.set(aggregator.watermark ?? 0);
}
