import type { OutputRecord } from '../../kafka/consumer';
import type { RecordEncoder } from '../../kafka/codec';
import type { Envelope } from '../../tencent/callback';
import type { ConsumerLogic } from '../runner';
import { windowKey } from './window';
import { observeAggregator, type WindowMetrics } from './window-metrics';

/** What the consumer logic uses of an aggregator (`MinuteWindows`, `GroupMinuteWindows`). */
export interface Aggregator<C, R> {
  readonly openWindows: number;
  readonly watermark: number | null;
  add(callback: C, envelope: Envelope): unknown;
  takeClosed(): R[];
  closeAll(nowMs: number): number;
  snapshot(): Buffer;
}

/**
 * The exactly-once logic of one analytics input, whatever its windows count: each callback is
 * counted (nothing published yet), the closed windows are published at commit time keyed by
 * their start, and the whole aggregator is the state the runner saves and restores.
 */
export function windowLogic<C, R extends { WindowStart: number }>(o: {
  topic: string;
  encoder: RecordEncoder;
  /** A new aggregator, or (with a state) the one `snapshot()` saved. */
  open(state: Buffer | undefined): Aggregator<C, R>;
  /** Adds a closed window to the input's metrics. */
  observeWindow(record: R): void;
  metrics: Pick<WindowMetrics, 'openWindows' | 'watermark'>;
}): ConsumerLogic<C> {
  const { topic, encoder, metrics } = o;
  let windows = o.open(undefined);
  return {
    handle({ callback, envelope }) {
      windows.add(callback, envelope);
      observeAggregator(metrics, windows);
      return [];
    },
    flush(): OutputRecord[] {
      return windows.takeClosed().map((record) => {
        o.observeWindow(record);
        return { topic, key: windowKey(record), value: encoder.encode(record) };
      });
    },
    idle(nowMs) {
      windows.closeAll(nowMs);
    },
    snapshot: () => windows.snapshot(),
    restore(state) {
      windows = o.open(state);
      observeAggregator(metrics, windows);
    },
  };
}
