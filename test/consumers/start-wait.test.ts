import { loadModerationConfig } from '../../src/consumers/config';
import { moderationConsumer } from '../../src/consumers/moderation/main';
import { startConsumer, startConsumerWhenReady } from '../../src/consumers/start';
import { createKafka } from '../../src/kafka/client';
import { deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { logger, uniqueTopic } from '../support/bridge';
import { consumerEnv } from '../support/consumers';
import { KAFKA_BROKERS } from '../support/stack';

/**
 * Any start order: a consumer started before the bridge has created its input topic (a fresh
 * stack, `npm run dev`, a new cluster) waits for it instead of exiting.
 */
const kafka = createKafka({
  brokers: KAFKA_BROKERS.split(','),
  clientId: 'test-start-wait',
  logger,
});

test('a consumer whose input topic does not exist yet waits for it, then starts and is ready', async () => {
  const input = uniqueTopic('start-wait');
  const config = loadModerationConfig(consumerEnv('moderation', input));
  const def = moderationConsumer(config);
  const fatal: Error[] = [];
  try {
    // without waiting, the missing topic ends the start (what `npm run dev` hit on a fresh stack)
    await expect(startConsumer(config, logger, def, (e) => fatal.push(e))).rejects.toThrow();

    const starting = startConsumerWhenReady(config, logger, def, (e) => fatal.push(e), {
      firstDelayMs: 200,
      maxDelayMs: 1000,
    });
    let settled = false;
    void starting.then(
      () => (settled = true),
      () => (settled = true),
    );
    await new Promise((r) => setTimeout(r, 2500));
    expect(settled).toBe(false); // still waiting, not failed
    await ensureTopic(kafka, { topic: input, numPartitions: 1, replicationFactor: 1 });
    const running = await starting;
    try {
      const ready = await fetch(`${running.adminUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(fatal).toEqual([]);
    } finally {
      await running.stop();
    }
  } finally {
    await deleteTopics(kafka, [input]).catch(() => undefined);
  }
}, 60000);

test('an error that is not Kafka saying "not yet" ends the start at once', async () => {
  const input = uniqueTopic('start-wait-bad');
  const config = loadModerationConfig(consumerEnv('moderation', input));
  const broken = {
    ...moderationConsumer(config),
    createLogic: () => {
      throw new Error('the rules do not compile');
    },
  };
  const started = Date.now();
  await expect(
    startConsumerWhenReady(config, logger, broken, () => undefined, { firstDelayMs: 5000 }),
  ).rejects.toThrow('the rules do not compile');
  expect(Date.now() - started).toBeLessThan(5000); // not retried
}, 60000);
