import type { OutputRecord } from '../../kafka/consumer';
import { loadAnalyticsConfig, type AnalyticsConfig } from '../config';
import type { ConsumerDefinition } from '../start';
import { runConsumerProcess } from '../start';
import { createAnalyticsMetrics, observeAggregator, observeWindow } from './metrics';
import { loadAnalyticsSchema } from './schema';
import { MinuteWindows, windowKey, type MinuteWindowsOptions } from './window';

/**
 * The analytics consumer (group `c2c-analytics`): per-minute windows by MsgTime, each closed
 * window published to `c2c.analytics.minutely` keyed by its start. Exactly once: the closed
 * windows, the open windows' state and the consumed offsets commit in one Kafka transaction.
 */
export function analyticsConsumer(config: AnalyticsConfig): ConsumerDefinition {
  const options: MinuteWindowsOptions = {
    windowSeconds: config.ANALYTICS_WINDOW_SECONDS,
    allowedLatenessSeconds: config.ANALYTICS_ALLOWED_LATENESS_SECONDS,
  };
  const topic = config.ANALYTICS_TOPIC;
  return {
    name: 'analytics',
    outputs: [{ topic, schema: loadAnalyticsSchema() }],
    extraTopics: [
      {
        topic: config.ANALYTICS_STATE_TOPIC,
        numPartitions: 1,
        replicationFactor: config.OUTPUT_TOPIC_REPLICATION_FACTOR,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
    ],
    exactlyOnce: {
      transactionalId: config.ANALYTICS_TRANSACTIONAL_ID,
      stateTopic: config.ANALYTICS_STATE_TOPIC,
      commitIntervalMs: config.ANALYTICS_COMMIT_INTERVAL_MS,
      idleMs: config.ANALYTICS_IDLE_CLOSE_SECONDS * 1000,
    },
    createLogic({ encoders, metricsRegistry }) {
      const encoder = encoders.get(topic);
      if (!encoder) throw new Error(`no encoder for ${topic}`);
      const metrics = createAnalyticsMetrics(metricsRegistry);
      let windows = new MinuteWindows(options);
      return {
        handle({ callback, envelope }) {
          windows.add(callback, envelope);
          observeAggregator(metrics, windows);
          return [];
        },
        flush(): OutputRecord[] {
          return windows.takeClosed().map((record) => {
            observeWindow(metrics, record);
            return { topic, key: windowKey(record), value: encoder.encode(record) };
          });
        },
        idle(nowMs) {
          windows.closeAll(nowMs);
        },
        snapshot: () => windows.snapshot(),
        restore(state) {
          windows = state ? MinuteWindows.restore(state, options) : new MinuteWindows(options);
          observeAggregator(metrics, windows);
        },
      };
    },
  };
}

if (require.main === module) runConsumerProcess(loadAnalyticsConfig, analyticsConsumer);
