import { Registry } from 'prom-client';
import { metricValue as value } from '../../../test/consumers/fakes';
import {
  GROUP_TYPE_LABELS,
  createGroupAnalyticsMetrics,
  observeGroupWindow,
} from './group-metrics';
import type { GroupWindowRecord } from './group-window';
import { createAnalyticsMetrics } from './metrics';
import { observeAggregator } from './window-metrics';

const record = (over: Partial<GroupWindowRecord> = {}): GroupWindowRecord => ({
  WindowStart: 1764115200_000,
  WindowEnd: 1764115260_000,
  Messages: 10,
  MessagesByGroupType: { Public: 4, Community: 3, none: 1, Custom7: 1, other: 1 },
  MessagesByElementType: { TIMTextElem: 10 },
  MessagesByPlatform: { iOS: 10 },
  OnlineOnlyMessages: 2,
  TopicMessages: 3,
  MessagesWithoutMsgTime: 1,
  DistinctGroups: 6,
  DistinctSenders: 8,
  DistinctCountsExact: true,
  LateEvents: 2,
  DroppedLateEvents: 5,
  OutOfRangeEvents: 0,
  Watermark: 1764115390_000,
  ClosedAt: 1_800_000_000_000,
  ...over,
});

describe('group analytics metrics', () => {
  it('sit beside the C2C ones, add up closed windows with bounded group_type labels', async () => {
    const registry = new Registry();
    createAnalyticsMetrics(registry); // same registry: no name clash
    const m = createGroupAnalyticsMetrics(registry);
    const p = 'tim_analytics_group_';
    for (const group_type of GROUP_TYPE_LABELS) {
      expect(await value(registry, `${p}messages_by_group_type_total`, { group_type })).toBe(0);
    }
    observeGroupWindow(m, record());
    observeGroupWindow(m, record({ WindowEnd: 1764115320_000, DistinctGroups: 9 }));
    expect(await value(registry, `${p}windows_closed_total`)).toBe(2);
    expect(await value(registry, `${p}messages_total`)).toBe(20);
    const byType = (group_type: string) =>
      value(registry, `${p}messages_by_group_type_total`, { group_type });
    expect(await byType('Public')).toBe(8);
    expect(await byType('Community')).toBe(6);
    expect(await byType('none')).toBe(2);
    // an undocumented type is no label of its own
    expect(await byType('other')).toBe(4);
    expect(await byType('Custom7')).toBeUndefined();
    expect(await value(registry, `${p}topic_messages_total`)).toBe(6);
    expect(await value(registry, `${p}messages_without_msg_time_total`)).toBe(2);
    expect(await value(registry, `${p}late_events_total`)).toBe(4);
    expect(await value(registry, `${p}dropped_late_events_total`)).toBe(10);
    expect(await value(registry, `${p}last_window_distinct_groups`)).toBe(9);
    expect(await value(registry, `${p}last_window_end_timestamp_seconds`)).toBe(1764115320);
    observeAggregator(m, { openWindows: 3, watermark: null });
    expect(await value(registry, `${p}open_windows`)).toBe(3);
    expect(await value(registry, `${p}watermark_timestamp_seconds`)).toBe(0);
  });
});
