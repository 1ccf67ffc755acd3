import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alterTopicConfig, deleteTopics, describeTopic, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { readTopic, type ConsumedRecord } from '../../src/kafka/reader';
import { HEADER_COMMAND, HEADER_SDKAPPID } from '../../src/record-headers';
import { OK_REPLY } from '../../src/tencent/reply';
import { logger, uniqueTopic } from '../support/bridge';
import { canonicalJson, loadFixtures, QUERY } from '../support/fixtures';
import { javaPartitions } from '../support/java';
import {
  buildIfStale,
  freePort,
  killAllBridges,
  post,
  SDKAPPID,
  signedQuery,
  spawnBridge,
  waitServing,
  type BridgeProcess,
} from '../support/process';
import { decodeCallbacks } from '../support/records';
import { EXTERNAL_STACK, KAFKA_BROKERS, STACK_DIR } from '../support/stack';
import { metricValue, scrape, waitFor } from '../support/wait';

/**
 * The `platformatic` producer engine (KAFKA_PRODUCER_ENGINE=platformatic, @platformatic/kafka)
 * on the real broker: the production build as a child process (the library is an ES module,
 * which Jest cannot load in-process). Every fixture lands as KafkaJS and Java put it (partition by
 * Java's murmur2, key, headers, value decoding back to the exact callback); it logs in over
 * SCRAM, SASL PLAIN and mutual TLS; and a request the broker refuses for its size is answered a
 * 500 FAIL (`kafka_refused`), the producer replaced, and the next callback stored.
 */
const kafka = createKafka({
  brokers: KAFKA_BROKERS.split(','),
  clientId: 'test-producer-engine',
  logger,
});
const ENGINE = { KAFKA_PRODUCER_ENGINE: 'platformatic', SPOOL_ENABLED: 'false' };
const fixtures = loadFixtures();
const dirs: string[] = [];
const topics: string[] = [];

beforeAll(() => buildIfStale());
afterEach(() => killAllBridges());
afterAll(async () => {
  await deleteTopics(kafka, topics).catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(name: string, env: Record<string, string> = {}): Promise<BridgeProcess> {
  const topic = uniqueTopic(`engine-${name}`);
  topics.push(topic, `${topic}.dlq`);
  const dir = mkdtempSync(join(tmpdir(), 'tim-engine-'));
  dirs.push(dir);
  const bridge = spawnBridge(name, {
    topic,
    spoolDir: join(dir, 'spool'),
    logDir: dir,
    port: await freePort(),
    adminPort: await freePort(),
    env: { ...ENGINE, ...env, KAFKA_TOPIC: topic, KAFKA_DLQ_TOPIC: `${topic}.dlq` },
  });
  await waitServing(bridge, { ready: true });
  return bridge;
}

async function send(
  bridge: BridgeProcess,
  body: string,
): Promise<{ status: number; body: string }> {
  const reply = await post(`${bridge.callbackUrl}?${signedQuery()}`, body);
  return { status: reply.status, body: reply.body };
}

test('every fixture lands where KafkaJS and Java put it, and decodes back to the exact callback', async () => {
  const bridge = await start('fixtures');
  const topic = topics[topics.length - 2] as string;
  for (const f of fixtures) {
    const reply = await send(bridge, f.text);
    expect({ name: f.name, ...reply }).toEqual({ name: f.name, status: 200, body: OK_REPLY });
  }
  const records = await readTopic(kafka, topic, { atLeast: fixtures.length });
  expect(records).toHaveLength(fixtures.length);
  const callbacks = await decodeCallbacks(records);
  const byMsgKey = new Map<string, ConsumedRecord>();
  callbacks.forEach((c, i) => byMsgKey.set(c.MsgKey, records[i] as ConsumedRecord));
  const partitions = javaPartitions(
    6,
    fixtures.map((f) => f.json.To_Account as string),
  );
  for (const f of fixtures) {
    const r = byMsgKey.get(f.json.MsgKey as string);
    expect(r?.key?.toString('utf8')).toBe(f.json.To_Account);
    expect({ name: f.name, partition: r?.partition }).toEqual({
      name: f.name,
      partition: partitions.get(f.json.To_Account as string),
    });
    expect(r?.headers).toEqual({
      [HEADER_COMMAND]: QUERY.CallbackCommand,
      [HEADER_SDKAPPID]: SDKAPPID,
    });
    const callback = callbacks[records.indexOf(r as ConsumedRecord)];
    expect(canonicalJson(callback)).toBe(canonicalJson(JSON.parse(f.text)));
  }
});

const TLS_DIR = join(STACK_DIR, 'tls');
const logins: [string, Record<string, string>][] = [
  [
    'scram-sha-512',
    {
      KAFKA_BROKERS: '127.0.0.1:9094',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'bridge',
      KAFKA_SASL_PASSWORD: 'bridge-secret',
    },
  ],
  [
    'plain',
    {
      KAFKA_BROKERS: '127.0.0.1:9094',
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'bridge',
      KAFKA_SASL_PASSWORD: 'bridge-secret',
    },
  ],
  [
    'mutual-tls',
    {
      KAFKA_BROKERS: '127.0.0.1:9095',
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: join(TLS_DIR, 'ca.crt'),
      KAFKA_SSL_CERT_FILE: join(TLS_DIR, 'client.crt'),
      KAFKA_SSL_KEY_FILE: join(TLS_DIR, 'client.key'),
    },
  ],
];

(EXTERNAL_STACK ? describe.skip : describe).each(logins)('over %s', (name, env) => {
  test('a callback is stored', async () => {
    const bridge = await start(name, env);
    const topic = topics[topics.length - 2] as string;
    const f = fixtures.find((x) => x.name === 'text.json')!;
    expect(await send(bridge, f.text)).toEqual({ status: 200, body: OK_REPLY });
    const records = await readTopic(kafka, topic, { atLeast: 1 });
    expect(records).toHaveLength(1);
    expect((await decodeCallbacks(records))[0]?.MsgKey).toBe(f.json.MsgKey);
  });
});

test('a request the broker refuses for its size: 500 FAIL for it, producer replaced, the next one stored', async () => {
  const topic = uniqueTopic('engine-refused');
  topics.push(topic, `${topic}.dlq`);
  await ensureTopic(kafka, { topic, numPartitions: 6, replicationFactor: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'tim-engine-'));
  dirs.push(dir);
  const bridge = spawnBridge('refused', {
    topic,
    spoolDir: join(dir, 'spool'),
    logDir: dir,
    port: await freePort(),
    adminPort: await freePort(),
    env: { ...ENGINE, KAFKA_TOPIC: topic, KAFKA_DLQ_TOPIC: `${topic}.dlq` },
  });
  await waitServing(bridge, { ready: true });
  // lowered after start: the bridge does not know it, the broker refuses the request
  await alterTopicConfig(kafka, topic, { 'max.message.bytes': '4096' });
  await waitFor('max.message.bytes=4096', async () => {
    const { configs } = await describeTopic(kafka, topic, ['max.message.bytes']);
    return configs['max.message.bytes'] === '4096';
  });
  const base = fixtures.find((x) => x.name === 'text.json')!.json;
  const big = {
    ...base,
    MsgKey: 'engine-big',
    MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: 'x'.repeat(8000) } }],
  };
  const refused = await send(bridge, JSON.stringify(big));
  expect(refused.status).toBe(500);
  expect(JSON.parse(refused.body)).toMatchObject({ ActionStatus: 'FAIL' });
  const lines = bridge.logLines();
  expect(lines.some((l) => /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/.test(String(l.err)))).toBe(
    true,
  );
  const small = { ...base, MsgKey: 'engine-small' };
  await waitFor('the next callback stored', async () => {
    const reply = await send(bridge, JSON.stringify(small));
    return reply.status === 200;
  });
  const metrics = await scrape(bridge.adminUrl);
  expect(metricValue(metrics, 'tim_bridge_producer_replacements_total')).toBeGreaterThanOrEqual(1);
  const records = await readTopic(kafka, topic, { atLeast: 1 });
  const keys = (await decodeCallbacks(records)).map((c) => c.MsgKey);
  expect(keys).toContain('engine-small');
  expect(keys).not.toContain('engine-big');
});
