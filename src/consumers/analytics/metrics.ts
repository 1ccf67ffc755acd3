import { Counter, Gauge, type Registry } from 'prom-client';
import { PLATFORM_LABELS } from '../../observability/platform';
import { KNOWN_ELEMENT_TYPES, OTHER_KEY, UNREAD_BUCKET_BOUNDS, type WindowRecord } from './window';
import { createWindowMetrics, observeWindowBase } from './window-metrics';

export { observeAggregator } from './window-metrics';

export const ANALYTICS_METRIC_PREFIX = 'tim_analytics_';

/** Distinct `result` label values kept over the process's life; later new codes become "other". */
export const RESULT_LABEL_LIMIT = 32;

/** `bucket` label of each UnreadMsgNum bucket, e.g. "0", "3-5", "1001+", then "unknown". */
export const UNREAD_BUCKET_LABELS: readonly string[] = [
  ...UNREAD_BUCKET_BOUNDS.map((bound, i) => {
    const low = i === 0 ? 0 : (UNREAD_BUCKET_BOUNDS[i - 1] as number) + 1;
    return low === bound ? String(bound) : `${low}-${bound}`;
  }),
  `${(UNREAD_BUCKET_BOUNDS[UNREAD_BUCKET_BOUNDS.length - 1] as number) + 1}+`,
  'unknown',
];

const KNOWN_ELEMENTS: ReadonlySet<string> = new Set(KNOWN_ELEMENT_TYPES);
const PLATFORMS: ReadonlySet<string> = new Set(PLATFORM_LABELS);

/**
 * The analytics consumer's metrics, on a registry passed in: those of every aggregator
 * (`window-metrics.ts`) and the C2C message counts. Every label has a bounded set of values.
 */
export function createAnalyticsMetrics(registry: Registry) {
  const p = ANALYTICS_METRIC_PREFIX;
  const registers = [registry];
  const metrics = {
    ...createWindowMetrics(registry, p, {
      messages: 'Messages',
      dropped: 'Callbacks',
      of: '',
      watermark: 'Largest MsgTime seen, Unix seconds (0 before the first callback).',
    }),
    messagesByElementType: new Counter({
      name: `${p}messages_by_element_type_total`,
      help: 'Messages in closed windows that carry at least one element of a type, by MsgType (Tencent documented types, else "other").',
      labelNames: ['element_type'] as const,
      registers,
    }),
    messagesByPlatform: new Counter({
      name: `${p}messages_by_platform_total`,
      help: 'Messages in closed windows by normalised OptPlatform ("none" when absent, "other" when undocumented).',
      labelNames: ['platform'] as const,
      registers,
    }),
    failedSends: new Counter({
      name: `${p}failed_sends_total`,
      help: `Messages in closed windows whose SendMsgResult is not 0, by that Chat error code (the first ${RESULT_LABEL_LIMIT} codes seen, then "other").`,
      labelNames: ['result'] as const,
      registers,
    }),
    onlineOnlyMessages: new Counter({
      name: `${p}online_only_messages_total`,
      help: 'Messages in closed windows with OnlineOnlyFlag = 1.',
      registers,
    }),
    unreadMsgNum: new Counter({
      name: `${p}messages_by_unread_msg_num_total`,
      help: 'Messages in closed windows by the UnreadMsgNum range (bucket "unknown": absent or -1).',
      labelNames: ['bucket'] as const,
      registers,
    }),
    lastWindowDistinctSenders: new Gauge({
      name: `${p}last_window_distinct_senders`,
      help: 'Distinct From_Account in the last closed window (exact up to 512, else HyperLogLog ~1.6 %).',
      registers,
    }),
    lastWindowDistinctRecipients: new Gauge({
      name: `${p}last_window_distinct_recipients`,
      help: 'Distinct To_Account in the last closed window (exact up to 512, else HyperLogLog ~1.6 %).',
      registers,
    }),
    lastWindowOnlineOnlyShare: new Gauge({
      name: `${p}last_window_online_only_share`,
      help: 'Share of online-only messages in the last closed window (0 to 1).',
      registers,
    }),
    /** `result` label values used so far (bounded by RESULT_LABEL_LIMIT). */
    resultLabels: new Set<string>(),
  };
  // every series with a known label value exists from the start, at 0
  for (const t of [...KNOWN_ELEMENT_TYPES, OTHER_KEY])
    metrics.messagesByElementType.inc({ element_type: t }, 0);
  for (const platform of PLATFORM_LABELS) metrics.messagesByPlatform.inc({ platform }, 0);
  for (const bucket of UNREAD_BUCKET_LABELS) metrics.unreadMsgNum.inc({ bucket }, 0);
  return metrics;
}

export type AnalyticsMetrics = ReturnType<typeof createAnalyticsMetrics>;

/** Adds a closed window to the metrics. */
export function observeWindow(metrics: AnalyticsMetrics, record: WindowRecord): void {
  observeWindowBase(metrics, record);
  for (const [type, n] of Object.entries(record.MessagesByElementType)) {
    metrics.messagesByElementType.inc(
      { element_type: KNOWN_ELEMENTS.has(type) ? type : OTHER_KEY },
      n,
    );
  }
  for (const [platform, n] of Object.entries(record.MessagesByPlatform)) {
    metrics.messagesByPlatform.inc({ platform: PLATFORMS.has(platform) ? platform : OTHER_KEY }, n);
  }
  for (const [result, n] of Object.entries(record.FailedSendsByResult)) {
    metrics.failedSends.inc({ result: resultLabel(metrics.resultLabels, result) }, n);
  }
  metrics.onlineOnlyMessages.inc(record.OnlineOnlyMessages);
  record.UnreadMsgNum.forEach((bucket, i) => {
    const label = UNREAD_BUCKET_LABELS[i];
    if (label !== undefined) metrics.unreadMsgNum.inc({ bucket: label }, bucket.Count);
  });
  metrics.unreadMsgNum.inc({ bucket: 'unknown' }, record.UnreadMsgNumUnknown);
  metrics.lastWindowDistinctSenders.set(record.DistinctSenders);
  metrics.lastWindowDistinctRecipients.set(record.DistinctRecipients);
  metrics.lastWindowOnlineOnlyShare.set(record.OnlineOnlyShare);
}

function resultLabel(used: Set<string>, result: string): string {
  if (used.has(result)) return result;
  if (used.size >= RESULT_LABEL_LIMIT) return OTHER_KEY;
  used.add(result);
  return result;
}
