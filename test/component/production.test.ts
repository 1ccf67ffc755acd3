import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { deleteTopics } from '../../src/kafka/admin';
import { readTopic } from '../../src/kafka/reader';
import { startBridge } from '../../src/main';
import { DLQ_HEADERS } from '../../src/record-headers';
import { sign } from '../../src/tencent/signature';
import { createKafka } from '../../src/kafka/client';
import { logger, postCallback, startTestBridge, testConfig, uniqueTopic } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { MAIN_JS, buildIfStale } from '../support/process';
import { KAFKA_BROKERS, ROOT } from '../support/stack';
import { metricValue, sampleValue, scrape } from '../support/wait';

/** The smaller holes production finds: secrets in dead letters, log floods, a token-less start. */
const fixture = loadFixtures().find((f) => f.name === 'text.json')!;
const TOKEN = 'a-human-chosen-token';
const kafka = createKafka({
  brokers: KAFKA_BROKERS.split(','),
  clientId: 'test-production',
  logger,
});

test('a dead letter keeps the query without Sign (no offline brute force of the token from the DLQ)', async () => {
  const bridge = await startTestBridge('dlq-sign', {
    TENCENT_SDKAPPIDS: '1400000001',
    TENCENT_CALLBACK_TOKEN: TOKEN,
  });
  try {
    const requestTime = String(Math.floor(Date.now() / 1000));
    const res = await postCallback(
      bridge.callbackUrl,
      fixture.text.replace('"MsgSeq":', '"MsgSeq":"x","y":'),
      {
        query: { RequestTime: requestTime, Sign: sign(TOKEN, requestTime) },
      },
    );
    expect(res.status).toBe(400);
    const [dead] = await readTopic(bridge.kafka, bridge.dlqTopic, { atLeast: 1 });
    const query = new URLSearchParams(dead!.headers[DLQ_HEADERS.query]);
    expect(query.get('RequestTime')).toBe(requestTime);
    expect(query.get('SdkAppid')).toBe('1400000001');
    expect([...query.keys()].map((k) => k.toLowerCase())).not.toContain('sign');
  } finally {
    await bridge.dispose();
  }
});

test('refusal logs are bounded: at most 20 lines per reason in 10 s, each line short, the rest counted', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const topic = uniqueTopic('log-limit');
  const spoolDir = mkdtempSync(join(tmpdir(), 'tim-log-limit-'));
  const bridge = await startBridge(
    testConfig({
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: `${topic}.dlq`,
      SPOOL_DIR: spoolDir,
      TENCENT_SDKAPPIDS: '1400000001',
      TENCENT_CALLBACK_TOKEN: TOKEN,
    }),
    pino({ level: 'info' }, sink),
  );
  try {
    const hugeId = 'x'.repeat(8000);
    for (let i = 0; i < 100; i++) {
      const res = await postCallback(bridge.callbackUrl, fixture.text, {
        headers: { 'X-Request-Id': hugeId },
      });
      expect(res.status).toBe(401);
    }
    const refusals = lines.filter(
      (l) => typeof l.msg === 'string' && l.msg.startsWith('callback refused'),
    );
    expect(refusals).toHaveLength(20);
    for (const l of refusals) expect(JSON.stringify(l).length).toBeLessThan(600);
    expect(refusals[0]!.requestId).toBe(`${'x'.repeat(64)}…`);
    const metrics = await scrape(bridge.adminUrl);
    expect(
      metricValue(metrics, 'tim_bridge_callbacks_refused_total{reason="unauthenticated"}'),
    ).toBe(100);
    expect(
      sampleValue(metrics, 'tim_bridge_refusal_logs_suppressed_total', {
        reason: 'unauthenticated',
      }),
    ).toBe(80);
  } finally {
    await bridge.stop();
    await deleteTopics(kafka, [topic, `${topic}.dlq`]).catch(() => undefined);
    rmSync(spoolDir, { recursive: true, force: true });
  }
});

test('NODE_ENV=production with an SdkAppid but no token refuses to start, naming the variable', () => {
  buildIfStale();
  const run = spawnSync(process.execPath, [MAIN_JS], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', TENCENT_SDKAPPIDS: '1400000001' },
    encoding: 'utf8',
    timeout: 20000,
  });
  expect(run.status).toBe(2);
  expect(run.stderr).toMatch(/NODE_ENV=production needs TENCENT_CALLBACK_TOKEN/);
});
