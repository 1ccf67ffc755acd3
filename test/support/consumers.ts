import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { loadAnalyticsConfig, loadModerationConfig } from '../../src/consumers/config';
import { analyticsConsumer } from '../../src/consumers/analytics/main';
import { moderationConsumer } from '../../src/consumers/moderation/main';
import { startConsumer, type RunningConsumer } from '../../src/consumers/start';
import { committedOffsets, deleteTopics, endOffsets } from '../../src/kafka/admin';
import type { Kafka } from '../../src/kafka/client';
import { BatchingPublisher, type OutgoingRecord } from '../../src/kafka/publisher';
import { readToMarkers, type ConsumedRecord } from '../../src/kafka/reader';
import { avroType, createEncoder } from '../../src/kafka/codec';
import { Registry } from '../../src/kafka/registry';
import { loadSchema } from '../../src/schemas';
import type { AfterSendMsgCallback, Envelope } from '../../src/tencent/callback';
import { createRecordMapper } from '../../src/tencent/record';
import { buildSchemaModel } from '../../src/tencent/schema-model';
import { logger, uniqueTopic } from './bridge';
import { loadFixtures } from './fixtures';
import { KAFKA_BROKERS, ROOT, SCHEMA_REGISTRY_URL } from './stack';
import { waitFor } from './wait';

/** The consumers in-process, exactly as their mains compose them, on unique topics and groups. */

export interface TestConsumer extends RunningConsumer {
  env: Record<string, string>;
  /** Errors the runner found fatal (the process would have exited). */
  fatal: Error[];
  dispose(): Promise<void>;
}

/**
 * Environment of a consumer reading `input`, with its own group and output topics. Group messages
 * are not read unless `GROUP_KAFKA_TOPIC` is given (then with their own group and outputs too).
 */
export function consumerEnv(
  kind: 'analytics' | 'moderation',
  input: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  const id = `${input}.${kind}`;
  return {
    KAFKA_BROKERS,
    SCHEMA_REGISTRY_URL,
    KAFKA_TOPIC: input,
    CONSUMER_GROUP_ID: `${id}.${randomUUID().slice(0, 8)}`,
    GROUP_KAFKA_TOPIC: '',
    GROUP_CONSUMER_GROUP_ID: `${id}.group.${randomUUID().slice(0, 8)}`,
    CONSUMER_DLQ_TOPIC: `${id}.dlq`,
    ADMIN_HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    OUTPUT_TOPIC_PARTITIONS: '1',
    OUTPUT_TOPIC_REPLICATION_FACTOR: '1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...(kind === 'analytics'
      ? {
          ANALYTICS_TOPIC: `${id}.minutely`,
          ANALYTICS_STATE_TOPIC: `${id}.state`,
          ANALYTICS_TRANSACTIONAL_ID: `${id}.tx`,
          ANALYTICS_COMMIT_INTERVAL_MS: '200',
          ANALYTICS_GROUP_TOPIC: `${id}.group-minutely`,
          ANALYTICS_GROUP_TRANSACTIONAL_ID: `${id}.group-tx`,
        }
      : {
          MODERATION_VERDICTS_TOPIC: `${id}.verdicts`,
          MODERATION_GROUP_VERDICTS_TOPIC: `${id}.group-verdicts`,
        }),
    ...overrides,
  };
}

export async function startTestConsumer(
  kind: 'analytics' | 'moderation',
  input: string,
  overrides: Record<string, string> = {},
): Promise<TestConsumer> {
  const env = consumerEnv(kind, input, overrides);
  const fatal: Error[] = [];
  const onFatal = (err: Error): void => {
    fatal.push(err);
  };
  const running =
    kind === 'analytics'
      ? await (async () => {
          const c = loadAnalyticsConfig(env);
          return startConsumer(c, logger, analyticsConsumer(c), onFatal);
        })()
      : await (async () => {
          const c = loadModerationConfig(env);
          return startConsumer(c, logger, moderationConsumer(c), onFatal);
        })();
  return {
    ...running,
    env,
    fatal,
    async dispose() {
      await running.stop();
    },
  };
}

/** Produces records as they are (acks=all), e.g. poison values the bridge would never write. */
export async function produceRaw(kafka: Kafka, records: OutgoingRecord[]): Promise<void> {
  const publisher = new BatchingPublisher({
    kafka,
    maxBatchRecords: 500,
    maxWaitMs: 1,
    // test input, not the bridge's reply deadline: megabytes at once on a busy 2-core machine
    // may take longer than Tencent's 2 s to be acknowledged, and that is not what is tested
    timeoutMs: 30000,
  });
  await publisher.connect();
  try {
    await Promise.all(records.map((r) => publisher.publish(r)));
  } finally {
    await publisher.close(2000);
  }
}

/**
 * Encodes C2C callbacks as the bridge writes them to `topic` (the schema registered under
 * `<topic>-value`, the Confluent wire format): the consumers' input without a bridge.
 */
export async function callbackEncoder(
  topic: string,
): Promise<(callback: AfterSendMsgCallback, envelope: Envelope) => Buffer> {
  const schema = loadSchema();
  const id = await new Registry({ url: SCHEMA_REGISTRY_URL }).register(`${topic}-value`, schema);
  const encoder = createEncoder(avroType(schema), id);
  const mapper = createRecordMapper(buildSchemaModel(schema));
  return (callback, envelope) => encoder.encode(mapper.toRecord(callback, envelope));
}

/** The analytics consumer's production build (`npm run consumer:analytics`). */
export const ANALYTICS_MAIN = join(ROOT, 'dist', 'src', 'consumers', 'analytics', 'main.js');

/** A consumer's production build as a child process, its output appended to `logFile`. */
export function spawnConsumerProcess(
  main: string,
  env: Record<string, string>,
  logFile: string,
): ChildProcess {
  const log = openSync(logFile, 'a');
  return spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', log, log],
  });
}

/**
 * `n` C2C callbacks made from the fixtures, `tag-<i>` their MsgKeys: 97 senders, 89 recipients,
 * three platforms, eight a second from `startSeconds` (several minute windows, in order).
 */
export function c2cInputs(
  n: number,
  tag: string,
  startSeconds: number,
  receivedAtMs: number,
): { callback: AfterSendMsgCallback; envelope: Envelope }[] {
  const fixtures = loadFixtures().map((f) => f.json as unknown as AfterSendMsgCallback);
  return Array.from({ length: n }, (_, i) => ({
    callback: {
      ...(fixtures[i % fixtures.length] as AfterSendMsgCallback),
      From_Account: `sender-${i % 97}`,
      To_Account: `recipient-${i % 89}`,
      MsgKey: `${tag}-${i}`,
      MsgTime: startSeconds + Math.floor(i / 8),
    },
    envelope: {
      SdkAppid: '1400000001',
      OptPlatform: ['iOS', 'Android', 'Web'][i % 3] ?? null,
      ClientIP: null,
      ReceivedAt: receivedAtMs + i,
    },
  }));
}

/**
 * Feeds `records` in chunks: a third, then waits for the consumer's first commit, SIGKILLs it
 * while feeding, and feeds the rest. Returns the committed offset at the kill.
 */
export async function feedAndKill(opts: {
  kafka: Kafka;
  records: OutgoingRecord[];
  chunk: number;
  committed: () => Promise<bigint>;
  victim: ChildProcess;
}): Promise<bigint> {
  const { kafka, records, chunk } = opts;
  let sent = 0;
  const sendChunk = async (): Promise<void> => {
    await produceRaw(kafka, records.slice(sent, sent + chunk));
    sent += chunk;
  };
  while (sent < records.length / 3) await sendChunk();
  await waitFor('a first commit', async () => (await opts.committed()) > 0n, 60000);
  const killedAt = await opts.committed();
  await sendChunk();
  opts.victim.kill('SIGKILL');
  await once(opts.victim, 'exit');
  while (sent < records.length) await sendChunk();
  return killedAt;
}

/** A consumer group and one of its input topics. */
export interface Consumed {
  group: string;
  topic: string;
}

/** A consumer's inputs, from its environment: the C2C topic, and the group one when it has one. */
export function inputsOf(env: Record<string, string>): Consumed[] {
  return [
    { group: env.CONSUMER_GROUP_ID as string, topic: env.KAFKA_TOPIC as string },
    ...(env.GROUP_KAFKA_TOPIC
      ? [{ group: env.GROUP_CONSUMER_GROUP_ID as string, topic: env.GROUP_KAFKA_TOPIC }]
      : []),
  ];
}

/** Whether each group has committed its input to the end (every partition's end offset). */
export async function allConsumed(kafka: Kafka, inputs: readonly Consumed[]): Promise<boolean> {
  for (const { group, topic } of inputs) {
    const [ends, committed] = await Promise.all([
      endOffsets(kafka, topic),
      committedOffsets(kafka, group, topic),
    ]);
    for (const [partition, end] of ends)
      if (end > 0n && committed.get(partition) !== end) return false;
  }
  return true;
}

/**
 * Everything a consumer wrote to `topic`, decoded through the registry by the id each record
 * carries, once at least `atLeast` records are there, proven complete without a settle time: the
 * consumer groups `consumedBy` have committed their input to its end (their work on it is done
 * and, exactly once, their output committed with those offsets), then the topic is read up to a
 * marker appended to each partition behind everything committed (`readToMarkers`). Tried again
 * (the consumer may still close windows on a timer) until `timeoutMs`.
 */
export async function readDecoded<T>(
  kafka: Kafka,
  topic: string,
  atLeast: number,
  opts: { consumedBy: readonly Consumed[]; timeoutMs?: number },
): Promise<{ record: ConsumedRecord; value: T }[]> {
  const timeoutMs = opts.timeoutMs ?? 60000;
  const deadline = Date.now() + timeoutMs;
  let records: ConsumedRecord[] = [];
  await waitFor(
    `at least ${atLeast} records of ${topic} once ${opts.consumedBy.map((c) => c.group).join(', ')} consumed ${opts.consumedBy.map((c) => c.topic).join(', ')}`,
    async () => {
      if (!(await allConsumed(kafka, opts.consumedBy))) return false;
      records = await readToMarkers(kafka, topic, Math.max(5000, deadline - Date.now()));
      return records.length >= atLeast;
    },
    timeoutMs,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (read ${records.length})`, { cause: err });
  });
  const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
  const out: { record: ConsumedRecord; value: T }[] = [];
  for (const record of records) {
    if (record.value === null) continue;
    out.push({ record, value: (await registry.decode(record.value)).record as T });
  }
  return out;
}

export { deleteTopics, uniqueTopic };
