import { loadAnalyticsConfig, type AnalyticsConfig } from '../config';
import { groupMessagesInput, type GroupMessageCallback } from '../group';
import type { ConsumerDefinition, InputDefinition } from '../start';
import { encoderFor, input, runConsumerProcess } from '../start';
import { STATE_TOPIC_CONFIGS } from '../state-store';
import { createGroupAnalyticsMetrics, observeGroupWindow } from './group-metrics';
import { GroupMinuteWindows } from './group-window';
import { windowLogic } from './logic';
import { createAnalyticsMetrics, observeWindow } from './metrics';
import { loadAnalyticsSchema, loadGroupAnalyticsSchema } from './schema';
import { MinuteWindows, type MinuteWindowsOptions } from './window';

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
    maxAheadSeconds: config.ANALYTICS_MAX_EVENT_AHEAD_SECONDS,
    maxBehindSeconds: config.ANALYTICS_MAX_EVENT_BEHIND_SECONDS,
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
        configEntries: Object.entries(STATE_TOPIC_CONFIGS).map(([name, value]) => ({
          name,
          value,
        })),
      },
    ],
    exactlyOnce: exactlyOnce(config.ANALYTICS_TRANSACTIONAL_ID),
    createLogic(deps) {
      const metrics = createAnalyticsMetrics(deps.metricsRegistry);
      return windowLogic({
        topic,
        encoder: encoderFor(deps, topic),
        open: (state) =>
          state ? MinuteWindows.restore(state, options) : new MinuteWindows(options),
        observeWindow: (record) => observeWindow(metrics, record),
        metrics,
      });
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
    ...groupMessagesInput('analytics-group', o.topic, o.groupId),
    exactlyOnce: o.exactlyOnce,
    createLogic(deps) {
      const metrics = createGroupAnalyticsMetrics(deps.metricsRegistry);
      return windowLogic({
        topic: outputTopic,
        encoder: encoderFor(deps, outputTopic),
        open: (state) =>
          state ? GroupMinuteWindows.restore(state, options) : new GroupMinuteWindows(options),
        observeWindow: (record) => observeGroupWindow(metrics, record),
        metrics,
      });
    },
  };
}

if (require.main === module) runConsumerProcess(loadAnalyticsConfig, analyticsConsumer);
