import { Counter, Gauge, type Registry } from 'prom-client';
import { GROUP_TYPES, NO_GROUP_TYPE } from '../group';
import type { GroupWindowRecord } from './group-window';
import { OTHER_KEY } from './window';
import { createWindowMetrics, observeWindowBase } from './window-metrics';

export const GROUP_ANALYTICS_METRIC_PREFIX = 'tim_analytics_group_';

/** `group_type` label values: the documented types, `none` and `other` (a bounded set). */
export const GROUP_TYPE_LABELS: readonly string[] = [...GROUP_TYPES, NO_GROUP_TYPE, OTHER_KEY];
const LABELS: ReadonlySet<string> = new Set(GROUP_TYPE_LABELS);

/**
 * The group-message windows' metrics (`tim_analytics_group_*`), beside the C2C ones on the same
 * registry: those of every aggregator (`window-metrics.ts`) and the group message counts.
 */
export function createGroupAnalyticsMetrics(registry: Registry) {
  const p = GROUP_ANALYTICS_METRIC_PREFIX;
  const registers = [registry];
  const metrics = {
    ...createWindowMetrics(registry, p, {
      messages: 'Group messages',
      dropped: 'Group messages',
      of: ' of group messages',
      watermark: 'Largest group message event time seen, Unix seconds (0 before the first).',
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
    lastWindowDistinctGroups: new Gauge({
      name: `${p}last_window_distinct_groups`,
      help: 'Distinct GroupId in the last closed window (exact up to 512, else HyperLogLog ~1.6 %).',
      registers,
    }),
  };
  for (const group_type of GROUP_TYPE_LABELS) metrics.messagesByGroupType.inc({ group_type }, 0);
  return metrics;
}

export type GroupAnalyticsMetrics = ReturnType<typeof createGroupAnalyticsMetrics>;

/** Adds a closed window to the metrics. */
export function observeGroupWindow(m: GroupAnalyticsMetrics, record: GroupWindowRecord): void {
  observeWindowBase(m, record);
  for (const [type, n] of Object.entries(record.MessagesByGroupType)) {
    m.messagesByGroupType.inc({ group_type: LABELS.has(type) ? type : OTHER_KEY }, n);
  }
  m.topicMessages.inc(record.TopicMessages);
  m.withoutMsgTime.inc(record.MessagesWithoutMsgTime);
  m.lastWindowDistinctGroups.set(record.DistinctGroups);
}
