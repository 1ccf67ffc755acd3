import { Registry } from 'prom-client';
import { metricValue as value } from '../../../test/consumers/fakes';
import {
  RESULT_LABEL_LIMIT,
  UNREAD_BUCKET_LABELS,
  createAnalyticsMetrics,
  observeAggregator,
  observeWindow,
} from './metrics';
import { UNREAD_BUCKET_BOUNDS, type WindowRecord } from './window';

const record = (over: Partial<WindowRecord> = {}): WindowRecord => ({
  WindowStart: 1764115200_000,
  WindowEnd: 1764115260_000,
  Messages: 6,
  MessagesByElementType: { TIMTextElem: 3, TIMCustomElem: 1, TIMNewElem: 2, other: 1 },
  MessagesByPlatform: { iOS: 4, none: 1, other: 1 },
  FailedSends: 1,
  FailedSendsByResult: { '80001': 1 },
  OnlineOnlyMessages: 3,
  OnlineOnlyShare: 0.5,
  DistinctSenders: 5,
  DistinctRecipients: 4,
  DistinctCountsExact: true,
  UnreadMsgNum: [...UNREAD_BUCKET_BOUNDS, null].map((UpperBound, i) => ({
    UpperBound,
    Count: i === 3 ? 2 : UpperBound === null ? 1 : 0,
  })),
  UnreadMsgNumUnknown: 3,
  LateEvents: 2,
  DroppedLateEvents: 7,
  OutOfRangeEvents: 0,
  Watermark: 1764115390_000,
  ClosedAt: 1_800_000_000_000,
  ...over,
});

describe('analytics metrics', () => {
  it('adds each closed window to counters and sets the last-window gauges', async () => {
    const registry = new Registry();
    const metrics = createAnalyticsMetrics(registry);
    // series with known labels exist before any window
    expect(
      await value(registry, 'tim_analytics_messages_by_platform_total', { platform: 'Web' }),
    ).toBe(0);

    observeWindow(metrics, record());
    observeWindow(
      metrics,
      record({ WindowStart: 1764115260_000, WindowEnd: 1764115320_000, DistinctSenders: 9 }),
    );
    const p = 'tim_analytics_';
    expect(await value(registry, `${p}windows_closed_total`)).toBe(2);
    expect(await value(registry, `${p}messages_total`)).toBe(12);
    expect(
      await value(registry, `${p}messages_by_element_type_total`, { element_type: 'TIMTextElem' }),
    ).toBe(6);
    // undocumented types fold into "other"
    expect(
      await value(registry, `${p}messages_by_element_type_total`, { element_type: 'other' }),
    ).toBe(6);
    expect(await value(registry, `${p}messages_by_platform_total`, { platform: 'iOS' })).toBe(8);
    expect(await value(registry, `${p}failed_sends_total`, { result: '80001' })).toBe(2);
    expect(await value(registry, `${p}online_only_messages_total`)).toBe(6);
    expect(await value(registry, `${p}messages_by_unread_msg_num_total`, { bucket: '3-5' })).toBe(
      4,
    );
    expect(await value(registry, `${p}messages_by_unread_msg_num_total`, { bucket: '1001+' })).toBe(
      2,
    );
    expect(
      await value(registry, `${p}messages_by_unread_msg_num_total`, { bucket: 'unknown' }),
    ).toBe(6);
    expect(await value(registry, `${p}late_events_total`)).toBe(4);
    expect(await value(registry, `${p}dropped_late_events_total`)).toBe(14);
    expect(await value(registry, `${p}last_window_distinct_senders`)).toBe(9);
    expect(await value(registry, `${p}last_window_distinct_recipients`)).toBe(4);
    expect(await value(registry, `${p}last_window_online_only_share`)).toBe(0.5);
    expect(await value(registry, `${p}last_window_end_timestamp_seconds`)).toBe(1764115320);

    observeAggregator(metrics, { openWindows: 3, watermark: 1764115390 });
    expect(await value(registry, `${p}open_windows`)).toBe(3);
    expect(await value(registry, `${p}watermark_timestamp_seconds`)).toBe(1764115390);
  });

  it('names the unread buckets after their ranges', () => {
    expect(UNREAD_BUCKET_LABELS).toEqual([
      '0',
      '1',
      '2',
      '3-5',
      '6-10',
      '11-20',
      '21-50',
      '51-100',
      '101-1000',
      '1001+',
      'unknown',
    ]);
  });

  it('keeps the result label bounded', async () => {
    const registry = new Registry();
    const metrics = createAnalyticsMetrics(registry);
    const codes = Object.fromEntries(
      Array.from({ length: RESULT_LABEL_LIMIT + 10 }, (_, i) => [String(20000 + i), 1]),
    );
    observeWindow(metrics, record({ FailedSendsByResult: codes }));
    const { values } = await registry.getSingleMetric('tim_analytics_failed_sends_total')!.get();
    expect(values).toHaveLength(RESULT_LABEL_LIMIT + 1);
    expect(values.find((v) => v.labels.result === 'other')?.value).toBe(10);
  });
});
