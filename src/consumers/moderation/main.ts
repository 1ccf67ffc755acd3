import type { Registry as MetricsRegistry } from 'prom-client';
import type { RecordEncoder } from '../../kafka/codec';
import { loadSchema } from '../../schemas';
import { loadModerationConfig, type ModerationConfig } from '../config';
import { groupMessagesInput, type GroupMessageCallback } from '../group';
import type { ConsumerLogic } from '../runner';
import type { ConsumerDefinition, InputDefinition } from '../start';
import { encoderFor, input, runConsumerProcess } from '../start';
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
import type { ScanHandler, ScanHandlerDeps, ScanObserver } from './scan';

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
      const encoder = encoderFor({ encoders }, topic);
      const metrics = metricsOf(metricsRegistry);
      const recall = recallOptions
        ? new RecallClient({ ...recallOptions, observer: metrics.observer })
        : undefined;
      logger.info(
        { rules: rules.rules.length, recall: recall !== undefined },
        'moderation rules loaded',
      );
      return verdictLogic({
        createHandler: createModerationHandler,
        rules,
        recall,
        observer: metrics.observer,
        topic,
        encoder,
        key: (v) => v.From_Account,
      });
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
    ...groupMessagesInput('moderation-group', o.topic, o.groupId),
    createLogic({ encoders, metricsRegistry }) {
      const encoder = encoderFor({ encoders }, verdictsTopic);
      const metrics = createGroupModerationMetrics(metricsRegistry, o.metricsOf(metricsRegistry), {
        ruleIds: rules.rules.map((r) => r.id),
      });
      const recall = o.recallOptions
        ? new GroupRecallClient({ ...o.recallOptions, observer: metrics.observer })
        : undefined;
      return verdictLogic({
        createHandler: createGroupModerationHandler,
        rules,
        recall,
        observer: metrics.observer,
        topic: verdictsTopic,
        encoder,
        key: (v) => v.GroupId,
      });
    },
  };
}

/**
 * The logic of one moderation input (C2C or group messages): each message is scanned, recalled
 * through `recall` when a rule asks and a client is given, and its verdicts are published to
 * `topic`. At least once: the runner commits offsets after the verdicts are acknowledged.
 */
function verdictLogic<M, T, O extends string, V>(o: {
  createHandler(deps: ScanHandlerDeps<T, O>): ScanHandler<M, V>;
  rules: RuleSet;
  recall: ScanHandlerDeps<T, O>['recall'];
  observer: ScanObserver<O>;
  topic: string;
  encoder: RecordEncoder;
  /** The record key of a verdict. */
  key(verdict: V): string;
}): ConsumerLogic<M> {
  const { recall, topic, encoder } = o;
  const handle = o.createHandler({
    rules: o.rules,
    ...(recall ? { recall } : {}),
    recallEnabled: recall !== undefined,
    clock: { now: Date.now },
    observer: o.observer,
  });
  return {
    async handle({ callback, envelope }) {
      const verdicts = await handle({ callback, envelope });
      return verdicts.map((v) => ({ topic, key: o.key(v), value: encoder.encode(v) }));
    },
  };
}

if (require.main === module) runConsumerProcess(loadModerationConfig, moderationConsumer);
