import type { Registry as MetricsRegistry } from 'prom-client';
import { loadSchema } from '../../schemas';
import { loadModerationConfig, type ModerationConfig } from '../config';
import { GROUP_AFTER_SEND_MSG, groupMessageKey, type GroupMessageCallback } from '../group';
import type { ConsumerDefinition, InputDefinition } from '../start';
import { input, runConsumerProcess } from '../start';
import { createGroupModerationHandler } from './group-handler';
import { GroupRecallClient } from './group-recall';
import { createModerationHandler } from './handler';
import {
  createGroupModerationMetrics,
  createModerationMetrics,
  type ModerationMetrics,
} from './metrics';
import { RateLimiter, RecallClient, systemClock, type RecallClientOptions } from './recall';
import { loadRulesFile, type RuleSet } from './rules';

export const VERDICT_SCHEMA_FILE = 'c2c-moderation-verdict.avsc';
export const GROUP_VERDICT_SCHEMA_FILE = 'group-moderation-verdict.avsc';

/**
 * The moderation consumer (group `c2c-moderation`): every text-bearing part of each message is
 * checked against the rules file; each match is published as a verdict to
 * `c2c.moderation.verdicts` keyed by From_Account, and `recall` rules may recall the message
 * through Tencent's REST API. At least once: verdicts are acknowledged before offsets commit.
 *
 * Group messages (`group.after-send-msg`, unless `GROUP_KAFKA_TOPIC` is empty) are a second input
 * (consumer group `group-moderation`) under the same rules: verdicts of their own schema
 * (`schemas/group-moderation-verdict.avsc`: a group message has no To_Account or MsgKey) to
 * `group.moderation.verdicts` keyed by GroupId, recalls through `group_msg_recall`. Both recall
 * clients share one rate limiter (`RECALL_RATE_PER_SECOND` holds for both APIs together).
 */
export function moderationConsumer(config: ModerationConfig): ConsumerDefinition {
  const rules = loadRulesFile(config.MODERATION_RULES_FILE);
  const topic = config.MODERATION_VERDICTS_TOPIC;
  const groupTopic = config.MODERATION_GROUP_VERDICTS_TOPIC;
  const groupInput = config.GROUP_KAFKA_TOPIC;
  const ruleIds = rules.rules.map((r) => r.id);
  const recallOptions: Omit<RecallClientOptions, 'observer'> | undefined =
    config.MODERATION_RECALL_ENABLED && config.TENCENT_SDKAPPID && config.TENCENT_SECRET_KEY
      ? {
          baseUrl: config.TENCENT_API_URL,
          sdkAppId: Number(config.TENCENT_SDKAPPID),
          adminIdentifier: config.TENCENT_ADMIN_IDENTIFIER,
          secretKey: config.TENCENT_SECRET_KEY,
          userSigTtlSeconds: config.USERSIG_TTL_SECONDS,
          ratePerSecond: config.RECALL_RATE_PER_SECOND,
          maxAttempts: config.RECALL_MAX_ATTEMPTS,
          timeoutMs: config.RECALL_TIMEOUT_MS,
          limiter: new RateLimiter(config.RECALL_RATE_PER_SECOND, 1, systemClock),
        }
      : undefined;
  // the C2C metrics (with the shared rate-limiter histogram) whichever input asks first
  let c2cMetrics: ModerationMetrics | undefined;
  const metricsOf = (registry: MetricsRegistry): ModerationMetrics =>
    (c2cMetrics ??= createModerationMetrics(registry, { ruleIds }));

  return {
    name: 'moderation',
    outputs: [
      { topic, schema: loadSchema(VERDICT_SCHEMA_FILE) },
      ...(groupInput === undefined
        ? []
        : [{ topic: groupTopic, schema: loadSchema(GROUP_VERDICT_SCHEMA_FILE) }]),
    ],
    createLogic({ encoders, metricsRegistry, logger }) {
      const encoder = encoders.get(topic);
      if (!encoder) throw new Error(`no encoder for ${topic}`);
      const metrics = metricsOf(metricsRegistry);
      const recall = recallOptions
        ? new RecallClient({ ...recallOptions, observer: metrics.observer })
        : undefined;
      logger.info(
        { rules: rules.rules.length, recall: recall !== undefined },
        'moderation rules loaded',
      );
      const handle = createModerationHandler({
        rules,
        ...(recall ? { recall } : {}),
        recallEnabled: recall !== undefined,
        clock: { now: Date.now },
        observer: metrics.observer,
      });
      return {
        async handle({ callback, envelope }) {
          const verdicts = await handle({ callback, envelope });
          return verdicts.map((v) => ({
            topic,
            key: v.From_Account,
            value: encoder.encode(v),
          }));
        },
      };
    },
    inputs:
      groupInput === undefined
        ? []
        : [
            input(
              groupModerationInput({
                topic: groupInput,
                groupId: config.GROUP_CONSUMER_GROUP_ID,
                verdictsTopic: groupTopic,
                rules,
                recallOptions,
                metricsOf,
              }),
            ),
          ],
  };
}

/** The group-message input of the moderation consumer. */
export function groupModerationInput(o: {
  topic: string;
  groupId: string;
  verdictsTopic: string;
  rules: RuleSet;
  recallOptions: Omit<RecallClientOptions, 'observer'> | undefined;
  metricsOf(registry: MetricsRegistry): ModerationMetrics;
}): InputDefinition<GroupMessageCallback> {
  const { verdictsTopic, rules } = o;
  return {
    name: 'moderation-group',
    topic: o.topic,
    groupId: o.groupId,
    command: GROUP_AFTER_SEND_MSG,
    dedupeKey: groupMessageKey,
    createLogic({ encoders, metricsRegistry }) {
      const encoder = encoders.get(verdictsTopic);
      if (!encoder) throw new Error(`no encoder for ${verdictsTopic}`);
      const metrics = createGroupModerationMetrics(metricsRegistry, o.metricsOf(metricsRegistry), {
        ruleIds: rules.rules.map((r) => r.id),
      });
      const recall = o.recallOptions
        ? new GroupRecallClient({ ...o.recallOptions, observer: metrics.observer })
        : undefined;
      const handle = createGroupModerationHandler({
        rules,
        ...(recall ? { recall } : {}),
        recallEnabled: recall !== undefined,
        clock: { now: Date.now },
        observer: metrics.observer,
      });
      return {
        async handle({ callback, envelope }) {
          const verdicts = await handle({ callback, envelope });
          return verdicts.map((v) => ({
            topic: verdictsTopic,
            key: v.GroupId,
            value: encoder.encode(v),
          }));
        },
      };
    },
  };
}

if (require.main === module) runConsumerProcess(loadModerationConfig, moderationConsumer);
