import type { OutputRecord } from '../../kafka/consumer';
import { loadAnalyticsConfig, type AnalyticsConfig } from '../config';
import { GROUP_AFTER_SEND_MSG, groupMessageKey, type GroupMessageCallback } from '../group';
import type { ConsumerLogic } from '../runner';
import type { ConsumerDefinition, InputDefinition, LogicDeps } from '../start';
import { input, runConsumerProcess } from '../start';
import {
  createGroupAnalyticsMetrics,
  observeGroupAggregator,
  observeGroupWindow,
} from './group-metrics';
import { GroupMinuteWindows } from './group-window';
import { createAnalyticsMetrics, observeAggregator, observeWindow } from './metrics';
import { loadAnalyticsSchema, loadGroupAnalyticsSchema } from './schema';
import { MinuteWindows, windowKey, type MinuteWindowsOptions } from './window';

/**
 * The analytics consumer (group `c2c-analytics`): per-minute windows by MsgTime, each closed
 * window published to `c2c.analytics.minutely` keyed by its start. Exactly once: the closed
 * windows, the open windows' state and the consumed offsets commit in one Kafka transaction.
 *
 * Group messages (`group.after-send-msg`, unless `GROUP_KAFKA_TOPIC` is empty) are a second
 * input with the same design: their own consumer group (`group-analytics`), their own windows
 * published to `group.analytics.minutely`, their own transactions (`group-analytics`) and their
 * own state record in the same compacted state topic (keyed by their consumer group). So each
 * input is exactly once on its own, and a crash of either restores both from what Kafka holds.
 */
export function analyticsConsumer(config: AnalyticsConfig): ConsumerDefinition {
  const options: MinuteWindowsOptions = {
    windowSeconds: config.ANALYTICS_WINDOW_SECONDS,
    allowedLatenessSeconds: config.ANALYTICS_ALLOWED_LATENESS_SECONDS,
  };
  const topic = config.ANALYTICS_TOPIC;
  const groupInput = config.GROUP_KAFKA_TOPIC;
  const exactlyOnce = (transactionalId: string) => ({
    transactionalId,
    stateTopic: config.ANALYTICS_STATE_TOPIC,
    commitIntervalMs: config.ANALYTICS_COMMIT_INTERVAL_MS,
    idleMs: config.ANALYTICS_IDLE_CLOSE_SECONDS * 1000,
  });
  return {
    name: 'analytics',
    outputs: [
      { topic, schema: loadAnalyticsSchema() },
      ...(groupInput === undefined
        ? []
        : [{ topic: config.ANALYTICS_GROUP_TOPIC, schema: loadGroupAnalyticsSchema() }]),
    ],
    extraTopics: [
      {
        topic: config.ANALYTICS_STATE_TOPIC,
        numPartitions: 1,
        replicationFactor: config.OUTPUT_TOPIC_REPLICATION_FACTOR,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      },
    ],
    exactlyOnce: exactlyOnce(config.ANALYTICS_TRANSACTIONAL_ID),
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
    inputs:
      groupInput === undefined
        ? []
        : [
            input(
              groupAnalyticsInput({
                topic: groupInput,
                groupId: config.GROUP_CONSUMER_GROUP_ID,
                outputTopic: config.ANALYTICS_GROUP_TOPIC,
                options,
                exactlyOnce: exactlyOnce(config.ANALYTICS_GROUP_TRANSACTIONAL_ID),
              }),
            ),
          ],
  };
}

/** The group-message input of the analytics consumer: its windows, published exactly once. */
export function groupAnalyticsInput(o: {
  topic: string;
  groupId: string;
  outputTopic: string;
  options: MinuteWindowsOptions;
  exactlyOnce: NonNullable<InputDefinition['exactlyOnce']>;
}): InputDefinition<GroupMessageCallback> {
  const { outputTopic, options } = o;
  return {
    name: 'analytics-group',
    topic: o.topic,
    groupId: o.groupId,
    command: GROUP_AFTER_SEND_MSG,
    dedupeKey: groupMessageKey,
    exactlyOnce: o.exactlyOnce,
    createLogic({ encoders, metricsRegistry }: LogicDeps): ConsumerLogic<GroupMessageCallback> {
      const encoder = encoders.get(outputTopic);
      if (!encoder) throw new Error(`no encoder for ${outputTopic}`);
      const metrics = createGroupAnalyticsMetrics(metricsRegistry);
      let windows = new GroupMinuteWindows(options);
      return {
        handle({ callback, envelope }) {
          windows.add(callback, envelope);
          observeGroupAggregator(metrics, windows);
          return [];
        },
        flush(): OutputRecord[] {
          return windows.takeClosed().map((record) => {
            observeGroupWindow(metrics, record);
            return { topic: outputTopic, key: windowKey(record), value: encoder.encode(record) };
          });
        },
        idle(nowMs) {
          windows.closeAll(nowMs);
        },
        snapshot: () => windows.snapshot(),
        restore(state) {
          windows = state
            ? GroupMinuteWindows.restore(state, options)
            : new GroupMinuteWindows(options);
          observeGroupAggregator(metrics, windows);
        },
      };
    },
  };
}

if (require.main === module) runConsumerProcess(loadAnalyticsConfig, analyticsConsumer);
