import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTopic } from '../../src/kafka/reader';
import { OK_REPLY } from '../../src/tencent/reply';
import { deleteTopics } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { startBridge, type RunningBridge } from '../../src/main';
import { capturedLogger, logger, postCallback, testConfig, uniqueTopic } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { KAFKA_BROKERS } from '../support/stack';
import { TcpProxy } from '../support/tcp-proxy';
import { sampleValue, scrape, waitFor } from '../support/wait';

/**
 * The bridge started while Kafka is unreachable (its bootstrap address refuses connections): with
 * a spool it listens after the start wait, answers callbacks OK from the spool, keeps connecting
 * in the background and, once Kafka answers, drains the spool into the topic; without a spool it
 * does not start (nothing could make a callback durable).
 */

const kafkaPort = Number(KAFKA_BROKERS.split(',')[0]?.split(':').pop());
const fixture = loadFixtures().find((f) => f.name === 'text.json')!;

test('with a spool: up without Kafka, callbacks spooled, then in the topic once the background reconnect finds Kafka', async () => {
  const proxy = await TcpProxy.create(kafkaPort, false); // Kafka "down": connections refused
  const topic = uniqueTopic('kafka-at-start');
  const spoolDir = mkdtempSync(join(tmpdir(), 'tim-spool-'));
  const captured = capturedLogger();
  const logged = (msg: string): boolean => captured.lines.some((l) => l.msg === msg);
  const kafka = createKafka({ brokers: KAFKA_BROKERS.split(','), clientId: 'test', logger });
  let bridge: RunningBridge | undefined;
  try {
    bridge = await startBridge(
      testConfig({
        KAFKA_BROKERS: `127.0.0.1:${proxy.port}`,
        KAFKA_TOPIC: topic,
        KAFKA_DLQ_TOPIC: `${topic}.dlq`,
        SPOOL_DIR: spoolDir,
      }),
      captured.logger,
    );
    const res = await postCallback(bridge.callbackUrl, fixture.text);
    expect([res.status, await res.text()]).toEqual([200, OK_REPLY]);
    const metrics = await scrape(bridge.adminUrl);
    const accepted = (outcome: string): number | undefined =>
      sampleValue(metrics, 'tim_bridge_callbacks_accepted_total', { outcome });
    expect([accepted('spooled'), accepted('kafka')]).toEqual([1, 0]);

    // the first connection attempt gives up; Kafka comes back only after that, so only the
    // background reconnect can find it
    await waitFor(
      'the first attempt to give up',
      () => logged('Kafka unreachable at start; callbacks go to the spool'),
      90000,
    );
    await proxy.open();
    const [record] = await waitFor(
      'the spooled callback in the topic',
      async () => {
        const records = await readTopic(kafka, topic, { atLeast: 1, timeoutMs: 2000 }).catch(
          () => [],
        );
        return records.length > 0 ? records : undefined;
      },
      60000,
      500,
    );
    expect(record?.key?.toString()).toBe('Jonh');
  } finally {
    await bridge?.stop();
    await proxy.close();
    await deleteTopics(kafka, [topic, `${topic}.dlq`]).catch(() => undefined);
    rmSync(spoolDir, { recursive: true, force: true });
  }
}, 180000);

test('without a spool: the start fails, naming Kafka', async () => {
  const proxy = await TcpProxy.create(kafkaPort, false);
  try {
    const config = testConfig({
      KAFKA_BROKERS: `127.0.0.1:${proxy.port}`,
      KAFKA_TOPIC: uniqueTopic('kafka-at-start-nospool'),
      SPOOL_ENABLED: 'false',
    });
    await expect(startBridge(config, logger)).rejects.toThrow(/ECONNREFUSED|connect|broker/i);
  } finally {
    await proxy.close();
  }
}, 120000);
