import type { AddressInfo } from 'node:net';
import type { Registry as MetricsRegistry } from 'prom-client';
import { createAdminApp } from '../http/admin-app';
import { close, listen } from '../http/server';
import { ensureTopic, type TopicSpec } from '../kafka/admin';
import { createKafka, isTransientKafkaError, type Kafka } from '../kafka/client';
import { avroType, createEncoder, type RecordEncoder } from '../kafka/codec';
import { GroupConsumer } from '../kafka/consumer';
import { kafkaSecurity, registryOptions } from '../kafka/from-config';
import { readUntil } from '../kafka/reader';
import { Registry } from '../kafka/registry';
import { createLogger, routeProcessWarnings, type Logger } from '../observability/logger';
import { createMetricsRegistry } from '../observability/metrics';
import { loadConfigOrExit, stopOnSignals } from '../process';
import { rulesOf } from '../catalogue/records';
import { catalogueEntry } from '../catalogue/catalogue';
import { loadSchema, type AvroSchemaJson } from '../schemas';
import type { AfterSendMsgCallback } from '../tencent/callback';
import { createRecordMapper, type CallbackRecordMapper } from '../tencent/record';
import { buildSchemaModel } from '../tencent/schema-model';
import type { RunnerConfig } from './config';
import { createRunnerMetrics, initialiseRunnerSeries, type RunnerMetrics } from './metrics';
import { lagReporter } from './metrics';
import { ConsumerRunner, STATE_SEQ_HEADER, type ConsumerLogic } from './runner';

/**
 * What a consumer built on the runner declares; `startConsumer` does the rest (Kafka, registry,
 * topics, the admin server, the runner). A team writing its own consumer writes one of these and
 * a three-line main (see analytics/main.ts).
 */
export interface ConsumerDefinition {
  /** Short name: the `consumer` label of the metrics and the logger's name. */
  name: string;
  /** Avro schemas of the outputs (of every input), registered under `<topic>-value` (BACKWARD). */
  outputs: { topic: string; schema: AvroSchemaJson }[];
  /** Other topics to create (state topics), besides the outputs' and the dead-letter topic. */
  extraTopics?: TopicSpec[];
  exactlyOnce?: ExactlyOnceDefinition;
  /** The consumer's logic, given an encoder per output topic and the metrics registry. */
  createLogic(deps: LogicDeps): ConsumerLogic;
  /**
   * Topics read besides `KAFKA_TOPIC` (C2C messages), e.g. the bridge's `group.after-send-msg`:
   * each by its own consumer group member and runner, so each has its own offsets, its own
   * dead-letter accounting (same `CONSUMER_DLQ_TOPIC`) and, exactly once, its own transactions
   * and state. A failure of one input (poison records, a crash) never holds up another.
   */
  inputs?: InputDefinition[];
}

export interface ExactlyOnceDefinition {
  transactionalId: string;
  stateTopic: string;
  commitIntervalMs: number;
  idleMs: number;
}

export interface LogicDeps {
  encoders: Map<string, RecordEncoder>;
  metricsRegistry: MetricsRegistry;
  logger: Logger;
}

/** The encoder of an output topic; every topic a logic writes to is one of `outputs`. */
export function encoderFor(deps: Pick<LogicDeps, 'encoders'>, topic: string): RecordEncoder {
  const encoder = deps.encoders.get(topic);
  if (!encoder) throw new Error(`no encoder for ${topic}`);
  return encoder;
}

/**
 * A further input of a consumer: a topic of one catalogued command whose records have a typed
 * schema (decoded with that schema and the command's rules, as the bridge wrote them).
 * `C` is the callback type of the command (its JSON as Tencent sends it).
 */
export interface InputDefinition<C = never> {
  /** The runner's name: `consumer` label of its metrics and of its dead letters, e.g. `analytics-group`. */
  name: string;
  topic: string;
  /** Its own consumer group (offsets; for exactly once, the key of its state record). */
  groupId: string;
  /** The catalogued command whose typed schema the topic's records are written with. */
  command: string;
  /** The key duplicates are recognised by (undefined: never skipped as a duplicate). */
  dedupeKey(callback: C): string | undefined;
  exactlyOnce?: ExactlyOnceDefinition;
  createLogic(deps: LogicDeps): ConsumerLogic<C>;
}

/**
 * An input of any callback type, for `ConsumerDefinition.inputs` (the runner hands each input's
 * logic what that input's own mapper decoded).
 */
export function input<C>(def: InputDefinition<C>): InputDefinition {
  return def as unknown as InputDefinition;
}

export interface RunningConsumer {
  adminUrl: string;
  metricsRegistry: MetricsRegistry;
  /** The runner of `KAFKA_TOPIC`. */
  runner: ConsumerRunner;
  /** The runners of the further inputs, by input name. */
  inputs: Map<string, ConsumerRunner<unknown>>;
  /** Finishes the batches, commits, leaves the groups, closes the admin server. */
  stop(): Promise<void>;
}

export async function startConsumer(
  config: RunnerConfig,
  logger: Logger,
  def: ConsumerDefinition,
  onFatal: (err: Error) => void,
): Promise<RunningConsumer> {
  const metricsRegistry = createMetricsRegistry({ consumer: def.name });
  const metrics = createRunnerMetrics(metricsRegistry);
  initialiseRunnerSeries(metrics, def.name);
  const kafka = createKafka({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID,
    logger,
    ...kafkaSecurity(config),
  });
  const registry = new Registry(registryOptions(config));

  if (config.KAFKA_CREATE_TOPICS) await createTopics(kafka, config, def, logger);
  const encoders = new Map<string, RecordEncoder>();
  for (const o of def.outputs) {
    const id = await registry.register(`${o.topic}-value`, o.schema, 'BACKWARD');
    encoders.set(o.topic, createEncoder(avroType(o.schema), id));
    logger.info({ subject: `${o.topic}-value`, schemaId: id }, 'output schema registered');
  }

  const logicDeps: LogicDeps = { encoders, metricsRegistry, logger };
  const base = { kafka, config, registry, metrics, onFatal };
  const schema = loadSchema();
  const primary = buildRunner<AfterSendMsgCallback>({
    ...base,
    logger,
    name: def.name,
    topic: config.KAFKA_TOPIC,
    groupId: config.CONSUMER_GROUP_ID,
    schema,
    mapper: createRecordMapper(buildSchemaModel(schema)),
    logic: def.createLogic(logicDeps),
    ...(def.exactlyOnce ? { exactlyOnce: def.exactlyOnce } : {}),
  });
  const more = (def.inputs ?? []).map((i) => {
    initialiseRunnerSeries(metrics, i.name);
    const entry = catalogueEntry(i.command);
    if (entry?.schema === undefined) throw new Error(`${i.command} has no typed schema`);
    const inputSchema = loadSchema(entry.schema);
    const model = buildSchemaModel(inputSchema);
    return buildRunner<unknown>({
      ...base,
      logger: logger.child({ input: i.name }),
      name: i.name,
      topic: i.topic,
      groupId: i.groupId,
      schema: inputSchema,
      mapper: createRecordMapper<unknown>(model, rulesOf(entry, model)),
      logic: i.createLogic(logicDeps) as ConsumerLogic<unknown>,
      dedupeKey: i.dedupeKey as (callback: unknown) => string | undefined,
      ...(i.exactlyOnce ? { exactlyOnce: i.exactlyOnce } : {}),
    });
  });
  const all: Built[] = [primary, ...more];

  const admin = await listen(
    createAdminApp({
      registry: metricsRegistry,
      collectors: all.map(
        (r) => () =>
          metrics.ready.set({ consumer: r.name }, r.runner.problem() === undefined ? 1 : 0),
      ),
      // the first input's check keeps its name; further inputs are named after their runner
      readiness: all.map((r, i) => ({
        name: i === 0 ? 'consumer' : r.name,
        check: () => r.runner.problem(),
      })),
      onReadinessChange: (ready, checks) =>
        logger.info({ ready, checks }, ready ? 'ready' : 'not ready'),
    }),
    config.ADMIN_PORT,
    config.ADMIN_HOST,
  );
  const started: Built[] = [];
  try {
    for (const r of all) {
      started.push(r);
      await r.consumer.connect();
      await r.runner.start();
    }
  } catch (err) {
    // what started stops as on SIGTERM; what did not start only disconnects
    await Promise.all(
      started.map((r) =>
        r.runner
          .stop()
          .catch(() => r.consumer.disconnect())
          .catch(() => undefined),
      ),
    );
    await close(admin);
    throw err;
  }
  const adminPort = (admin.address() as AddressInfo).port;
  for (const r of all) {
    logger.info({ adminPort, consumer: r.name, topic: r.topic, group: r.groupId }, 'consuming');
  }
  return {
    adminUrl: `http://127.0.0.1:${adminPort}`,
    metricsRegistry,
    runner: primary.runner,
    inputs: new Map(more.map((r) => [r.name, r.runner])),
    async stop() {
      // every input finishes its batch and commits, even when another one fails to
      const results = await Promise.allSettled(all.map((r) => r.runner.stop()));
      await close(admin);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      logger.info('consumer stopped');
    },
  };
}

interface Built<R = Pick<ConsumerRunner<never>, 'start' | 'stop' | 'problem'>> {
  name: string;
  topic: string;
  groupId: string;
  consumer: GroupConsumer;
  runner: R;
}

/** One input: its group member (and producer) and its runner. */
function buildRunner<C>(o: {
  kafka: Kafka;
  config: RunnerConfig;
  registry: Registry;
  metrics: RunnerMetrics;
  logger: Logger;
  onFatal: (err: Error) => void;
  name: string;
  topic: string;
  groupId: string;
  schema: AvroSchemaJson;
  mapper: CallbackRecordMapper<C>;
  logic: ConsumerLogic<C>;
  dedupeKey?: (callback: C) => string | undefined;
  exactlyOnce?: ExactlyOnceDefinition;
}): Built<ConsumerRunner<C>> {
  const { kafka, config, metrics, name, groupId } = o;
  const eo = o.exactlyOnce;
  const consumer = new GroupConsumer({
    kafka,
    groupId,
    topic: o.topic,
    fromBeginning: config.CONSUMER_FROM_BEGINNING,
    ...(eo ? { transactionalId: eo.transactionalId } : {}),
    events: {
      joined: (partitions) => runner.joined(partitions),
      crashed: (err, restarting) => runner.crashedWith(err, restarting),
      lag: lagReporter(metrics.lag, name),
    },
    lagIntervalMs: config.CONSUMER_LAG_INTERVAL_MS,
    logger: o.logger,
  });
  const runner: ConsumerRunner<C> = new ConsumerRunner<C>({
    name,
    consumer,
    registry: o.registry,
    mapper: o.mapper,
    readerType: avroType(o.schema),
    logic: o.logic,
    ...(o.dedupeKey ? { dedupeKey: o.dedupeKey } : {}),
    dlqTopic: config.CONSUMER_DLQ_TOPIC,
    dedupeMaxKeys: config.DEDUPE_MAX_KEYS,
    metrics,
    logger: o.logger,
    onFatal: o.onFatal,
    ...(eo
      ? {
          exactlyOnce: {
            stateTopic: eo.stateTopic,
            stateKey: groupId,
            commitIntervalMs: eo.commitIntervalMs,
            idleMs: eo.idleMs,
            loadState: (seq) => loadState(kafka, eo.stateTopic, groupId, seq),
          },
        }
      : {}),
  });
  return { name, topic: o.topic, groupId, consumer, runner };
}

async function createTopics(
  kafka: Kafka,
  config: RunnerConfig,
  def: ConsumerDefinition,
  logger: Logger,
): Promise<void> {
  const base = {
    numPartitions: config.OUTPUT_TOPIC_PARTITIONS,
    replicationFactor: config.OUTPUT_TOPIC_REPLICATION_FACTOR,
  };
  const topics: TopicSpec[] = [
    ...def.outputs.map((o) => ({ topic: o.topic, ...base })),
    { topic: config.CONSUMER_DLQ_TOPIC, ...base },
    ...(def.extraTopics ?? []),
  ];
  for (const spec of topics) {
    const t = await ensureTopic(kafka, spec);
    if (t.created) logger.info({ topic: spec.topic, partitions: t.partitions }, 'topic created');
  }
}

/** The state record of `key` written with sequence number `seq` (committed transactions only). */
async function loadState(kafka: Kafka, topic: string, key: string, seq: number): Promise<Buffer> {
  const matches = (r: { key: Buffer | null; headers: Record<string, string> }) =>
    r.key?.toString() === key && r.headers[STATE_SEQ_HEADER] === String(seq);
  const records = await readUntil(kafka, topic, (rs) => rs.some(matches), 60000);
  const found = records.findLast(matches);
  if (!found?.value) throw new Error(`state ${seq} of ${key} not found in ${topic}`);
  return found.value;
}

/**
 * `startConsumer`, tried again while Kafka answers "not yet": on a fresh cluster a topic just
 * created has no leader for a moment, and an input topic may not exist until the bridge creates
 * it. Any other error ends the attempt at once. The delay doubles up to `maxDelayMs`.
 */
export async function startConsumerWhenReady(
  config: RunnerConfig,
  logger: Logger,
  def: ConsumerDefinition,
  onFatal: (err: Error) => void,
  opts: { firstDelayMs?: number; maxDelayMs?: number } = {},
): Promise<RunningConsumer> {
  let delay = opts.firstDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startConsumer(config, logger, def, onFatal);
    } catch (err) {
      if (!isTransientKafkaError(err)) throw err;
      logger.warn(
        { attempt, retryInMs: delay, err: (err as Error).message },
        'Kafka is not ready for this consumer yet (topic or leader missing, broker away); retrying',
      );
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, opts.maxDelayMs ?? 10_000);
    }
  }
}

/**
 * A consumer's process: config from the environment (exit 2 naming the bad variables), JSON
 * logs, SIGTERM/SIGINT finish the batch, commit and leave the group within SHUTDOWN_GRACE_MS.
 */
export function runConsumerProcess<C extends RunnerConfig>(
  load: (env: NodeJS.ProcessEnv) => C,
  define: (config: C) => ConsumerDefinition,
): void {
  const config = loadConfigOrExit(load, 'tim-kafka-bridge consumer');
  const def = define(config);
  const logger = createLogger({ level: config.LOG_LEVEL, name: `tim-${def.name}` });
  routeProcessWarnings(logger);
  const fatal = (err: Error): void => {
    logger.fatal({ err: err.message }, 'exiting');
    process.exit(1);
  };
  startConsumerWhenReady(config, logger, def, fatal).then(
    (running) =>
      stopOnSignals({ logger, deadlineMs: config.SHUTDOWN_GRACE_MS, stop: () => running.stop() }),
    (err: unknown) => {
      logger.fatal({ err }, 'could not start');
      process.exit(1);
    },
  );
}
