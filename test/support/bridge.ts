import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config';
import { createKafka, type Kafka } from '../../src/kafka/client';
import { deleteTopics } from '../../src/kafka/admin';
import { startBridge, type RunningBridge } from '../../src/main';
import { createLogger, routeProcessWarnings, type Logger } from '../../src/observability/logger';
import { QUERY } from './fixtures';
import { ONLY_C2C_ROUTED } from './process';
import { KAFKA_BROKERS, SCHEMA_REGISTRY_URL } from './stack';

export const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
routeProcessWarnings(logger);

/** A topic name no other test uses. */
export function uniqueTopic(name: string): string {
  return `test.${name}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    KAFKA_BROKERS,
    SCHEMA_REGISTRY_URL,
    HOST: '127.0.0.1',
    ADMIN_HOST: '127.0.0.1',
    PORT: '0',
    ADMIN_PORT: '0',
    KAFKA_TOPIC_PARTITIONS: '6',
    KAFKA_TOPIC_REPLICATION_FACTOR: '1',
    LOG_LEVEL: 'silent',
    SHUTDOWN_DELAY_MS: '0',
    ...ONLY_C2C_ROUTED,
    ...overrides,
  });
}

export interface TestBridge extends RunningBridge {
  topic: string;
  dlqTopic: string;
  spoolDir: string;
  kafka: Kafka;
  /** Stops the bridge and deletes its topic. */
  dispose(): Promise<void>;
}

/** The real bridge (same composition as `npm start`) on a unique topic and ephemeral ports. */
export async function startTestBridge(
  name: string,
  overrides: Record<string, string> = {},
  log: Logger = logger,
): Promise<TestBridge> {
  const topic = overrides.KAFKA_TOPIC ?? uniqueTopic(name);
  const dlqTopic = overrides.KAFKA_DLQ_TOPIC ?? `${topic}.dlq`;
  const spoolDir = overrides.SPOOL_DIR ?? mkdtempSync(join(tmpdir(), 'tim-spool-'));
  const bridge = await startBridge(
    testConfig({
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: dlqTopic,
      SPOOL_DIR: spoolDir,
      ...overrides,
    }),
    log,
  );
  const kafka = createKafka({
    brokers: KAFKA_BROKERS.split(','),
    clientId: `test-${name}`,
    logger,
  });
  return {
    ...bridge,
    // a getter: the id may come later (registry away at start) or change
    get schemaId() {
      return bridge.schemaId;
    },
    topic,
    dlqTopic,
    spoolDir,
    kafka,
    async dispose() {
      await bridge.stop();
      await deleteTopics(kafka, [topic, dlqTopic]).catch(() => undefined);
      if (overrides.SPOOL_DIR === undefined) rmSync(spoolDir, { recursive: true, force: true });
    },
  };
}

/** POSTs a body to the bridge with Tencent's query string (overridable). */
export function postCallback(
  url: string,
  body: string | Uint8Array,
  opts: {
    query?: Record<string, string | undefined>;
    headers?: Record<string, string>;
    method?: string;
  } = {},
): Promise<Response> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...QUERY, ...opts.query }))
    if (v !== undefined) params.set(k, v);
  return fetch(`${url}?${params.toString()}`, {
    method: opts.method ?? 'POST',
    headers: { 'Content-Type': 'application/json', ...opts.headers },
    body: opts.method === 'GET' ? undefined : body,
  });
}

/**
 * How many records the bridge made durable in its spool rather than in Kafka (a publish that
 * timed out on a busy machine): each may land twice, as at-least-once allows, so tests that
 * count records exactly allow that many extra copies, and none when nothing was spooled.
 */
export async function spooledRecords(bridge: RunningBridge): Promise<number> {
  const metric = bridge.metricsRegistry.getSingleMetric('tim_bridge_command_records_total');
  const { values } = (await metric?.get()) ?? { values: [] };
  return values.filter((v) => v.labels.outcome === 'spooled').reduce((n, v) => n + v.value, 0);
}

/** A logger whose lines the test reads. */
export function capturedLogger() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as { level: number; msg: string });
      }
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', name: 'test' }, stream), lines };
}
