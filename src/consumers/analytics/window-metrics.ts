import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * The metrics every analytics aggregator has, under its own prefix (`tim_analytics_` for C2C
 * messages, `tim_analytics_group_` for group messages): windows closed, messages, late and
 * dropped events, the last closed window, open windows and the watermark. Counters add up the
 * closed windows (so they move when a window is published, not when a callback arrives); gauges
 * describe the last closed window and the aggregator. `words` fit the help texts to the input.
 */

export interface WindowMetricWords {
  /** What the windows count, capitalised: "Messages", "Group messages". */
  messages: string;
  /** What the dropped late events are called, capitalised. */
  dropped: string;
  /** What the windows are of, after "Windows": "" or " of group messages". */
  of: string;
  /** Help of the watermark gauge (the event time it follows). */
  watermark: string;
}

export function createWindowMetrics(registry: Registry, p: string, words: WindowMetricWords) {
  const registers = [registry];
  const { messages, of } = words;
  return {
    windowsClosed: new Counter({
      name: `${p}windows_closed_total`,
      help: `Windows${of} closed (and handed over for publishing).`,
      registers,
    }),
    messages: new Counter({
      name: `${p}messages_total`,
      help: `${messages} counted in closed windows (late ones included, dropped ones not).`,
      registers,
    }),
    lateEvents: new Counter({
      name: `${p}late_events_total`,
      help: `${messages} counted although the watermark had passed their window end (within the allowed lateness).`,
      registers,
    }),
    droppedLateEvents: new Counter({
      name: `${p}dropped_late_events_total`,
      help: `${words.dropped} dropped because their window had already closed (reported with the next closed window).`,
      registers,
    }),
    outOfRangeEvents: new Counter({
      name: `${p}out_of_range_events_total`,
      help: `${messages} whose event time was too far from when the bridge received them (in no window; reported with the next closed window).`,
      registers,
    }),
    lastWindowMessages: new Gauge({
      name: `${p}last_window_messages`,
      help: `${messages} in the last closed window.`,
      registers,
    }),
    lastWindowEnd: new Gauge({
      name: `${p}last_window_end_timestamp_seconds`,
      help: `End of the last closed window${of}, Unix seconds (event time).`,
      registers,
    }),
    openWindows: new Gauge({
      name: `${p}open_windows`,
      help: `Windows${of} open in the aggregator.`,
      registers,
    }),
    watermark: new Gauge({
      name: `${p}watermark_timestamp_seconds`,
      help: words.watermark,
      registers,
    }),
  };
}

export type WindowMetrics = ReturnType<typeof createWindowMetrics>;

/** What every closed window record has. */
export interface WindowRecordBase {
  WindowEnd: number;
  Messages: number;
  LateEvents: number;
  DroppedLateEvents: number;
  OutOfRangeEvents: number;
}

/** Adds the shared part of a closed window to the metrics. */
export function observeWindowBase(m: WindowMetrics, record: WindowRecordBase): void {
  m.windowsClosed.inc();
  m.messages.inc(record.Messages);
  m.lateEvents.inc(record.LateEvents);
  m.droppedLateEvents.inc(record.DroppedLateEvents);
  m.outOfRangeEvents.inc(record.OutOfRangeEvents);
  m.lastWindowMessages.set(record.Messages);
  m.lastWindowEnd.set(record.WindowEnd / 1000);
}

/** Sets the aggregator gauges (open windows, watermark); call after each callback or restore. */
export function observeAggregator(
  m: Pick<WindowMetrics, 'openWindows' | 'watermark'>,
  aggregator: { readonly openWindows: number; readonly watermark: number | null },
): void {
  m.openWindows.set(aggregator.openWindows);
  m.watermark.set(aggregator.watermark ?? 0);
}
