import { loadSchema } from '../../schemas';
import { loadModerationConfig, type ModerationConfig } from '../config';
import type { ConsumerDefinition } from '../start';
import { runConsumerProcess } from '../start';
import { createModerationHandler } from './handler';
import { createModerationMetrics } from './metrics';
import { RecallClient } from './recall';
import { loadRulesFile } from './rules';

export const VERDICT_SCHEMA_FILE = 'c2c-moderation-verdict.avsc';

/**
 * The moderation consumer (group `c2c-moderation`): every text-bearing part of each message is
 * checked against the rules file; each match is published as a verdict to
 * `c2c.moderation.verdicts` keyed by From_Account, and `recall` rules may recall the message
 * through Tencent's REST API. At least once: verdicts are acknowledged before offsets commit.
 */
export function moderationConsumer(config: ModerationConfig): ConsumerDefinition {
  const rules = loadRulesFile(config.MODERATION_RULES_FILE);
  const topic = config.MODERATION_VERDICTS_TOPIC;
  return {
    name: 'moderation',
    outputs: [{ topic, schema: loadSchema(VERDICT_SCHEMA_FILE) }],
    createLogic({ encoders, metricsRegistry, logger }) {
      const encoder = encoders.get(topic);
      if (!encoder) throw new Error(`no encoder for ${topic}`);
      const metrics = createModerationMetrics(metricsRegistry, {
        ruleIds: rules.rules.map((r) => r.id),
      });
      const recall =
        config.MODERATION_RECALL_ENABLED && config.TENCENT_SDKAPPID && config.TENCENT_SECRET_KEY
          ? new RecallClient({
              baseUrl: config.TENCENT_API_URL,
              sdkAppId: Number(config.TENCENT_SDKAPPID),
              adminIdentifier: config.TENCENT_ADMIN_IDENTIFIER,
              secretKey: config.TENCENT_SECRET_KEY,
              userSigTtlSeconds: config.USERSIG_TTL_SECONDS,
              ratePerSecond: config.RECALL_RATE_PER_SECOND,
              maxAttempts: config.RECALL_MAX_ATTEMPTS,
              timeoutMs: config.RECALL_TIMEOUT_MS,
              observer: metrics.observer,
            })
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
  };
}

if (require.main === module) runConsumerProcess(loadModerationConfig, moderationConsumer);
