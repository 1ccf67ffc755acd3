import type { AddressInfo } from 'node:net';
import type { Registry as MetricsRegistry } from 'prom-client';
import { createAdminApp } from '../http/admin-app';
import { close, listen } from '../http/server';
import { ensureTopic, topicsNotReady, type TopicSpec } from '../kafka/admin';
import { createKafka, isTransientKafkaError, type Kafka } from '../kafka/client';
import { avroType, createEncoder, type RecordEncoder } from '../kafka/codec';
import { GroupConsumer } from '../kafka/consumer';
import { kafkaSecurity, registryOptions } from '../kafka/from-config';
import { Registry, isTransientRegistryError } from '../kafka/registry';
import { createLogger, routeProcessWarnings, type Logger } from '../observability/logger';
import { createMetricsRegistry } from '../observability/metrics';
import { loadConfigOrExit, stopOnSignals } from '../process';
import { rulesOf } from '../catalogue/records';
import { catalogueEntry } from '../catalogue/catalogue';
import { SUBJECT_COMPATIBILITY, loadSchema, type AvroSchemaJson } from '../schemas';
import type { AfterSendMsgCallback } from '../tencent/callback';
import { createRecordMapper, type CallbackRecordMapper } from '../tencent/record';
import { buildSchemaModel } from '../tencent/schema-model';
import type { RunnerConfig } from './config';
import { createRunnerMetrics, initialiseRunnerSeries, type RunnerMetrics } from './metrics';
import { lagReporter } from './metrics';
import { ConsumerRunner, type ConsumerLogic } from './runner';
import { loadState } from './state-store';

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

export interface StartOptions {
  /** First delay between attempts while a dependency says "not yet" (doubles each time). */
  firstDelayMs?: number;
  /** Longest delay between attempts. */
  maxDelayMs?: number;
  /** Called once the admin server listens, before the consumer is ready. */
  onListening?(adminUrl: string): void;
}

/**
 * Starts a consumer in any start order. The admin server comes first (`/healthz` 200, `/readyz`
 * 503 saying what is awaited); then whatever is not there yet is waited for, with a delay that
 * doubles up to `maxDelayMs` and one log line per new reason: Kafka away, the registry away, an
 * input topic not created yet (the bridge creates its topics at its start), a topic without a
 * leader yet. Resolves once every input consumes. Any other error (a schema refused, rules that
 * do not compile) ends the start at once.
 */
export async function startConsumer(
  config: RunnerConfig,
  logger: Logger,
  def: ConsumerDefinition,
  onFatal: (err: Error) => void,
  opts: StartOptions = {},
): Promise<RunningConsumer> {
  const metricsRegistry = createMetricsRegistry({ consumer: def.name });
  const metrics = createRunnerMetrics(metricsRegistry);
  const names = [def.name, ...(def.inputs ?? []).map((i) => i.name)];
  for (const name of names) initialiseRunnerSeries(metrics, name);
  const kafka = createKafka({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID,
    logger,
    ...kafkaSecurity(config),
  });
  const registry = new Registry(registryOptions(config));

  // ready once started and then as each runner says
  let awaiting: string | undefined = 'starting';
  const runners = new Map<string, { problem(): string | undefined }>();
  const problemOf = (name: string): string | undefined => {
    if (awaiting !== undefined) return awaiting;
    const runner = runners.get(name);
    return runner ? runner.problem() : 'starting';
  };
  const admin = await listen(
    createAdminApp({
      registry: metricsRegistry,
      collectors: names.map(
        (name) => () =>
          metrics.ready.set({ consumer: name }, problemOf(name) === undefined ? 1 : 0),
      ),
      // the first input's check keeps its name; further inputs are named after their runner
      readiness: names.map((name, i) => ({
        name: i === 0 ? 'consumer' : name,
        check: () => problemOf(name),
      })),
      onReadinessChange: (ready, checks) =>
        logger.info({ ready, checks }, ready ? 'ready' : 'not ready'),
    }),
    config.ADMIN_PORT,
    config.ADMIN_HOST,
  );
  const adminPort = (admin.address() as AddressInfo).port;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  opts.onListening?.(adminUrl);

  const waiting = {
    logger,
    firstDelayMs: opts.firstDelayMs ?? 500,
    maxDelayMs: opts.maxDelayMs ?? 10_000,
    onWait: (reason: string) => (awaiting = `waiting: ${reason}`),
  };
  const inputTopics = [config.KAFKA_TOPIC, ...(def.inputs ?? []).map((i) => i.topic)];
  const started: Built[] = [];
  let all: Built[];
  try {
    const encoders = await untilReady(async () => {
      if (config.KAFKA_CREATE_TOPICS) await createTopics(kafka, config, def, logger);
      const notReady = await topicsNotReady(kafka, [...inputTopics, ...ownTopics(config, def)]);
      if (notReady.length > 0) throw new NotYet(notReady.join('; '));
      const registered = new Map<string, RecordEncoder>();
      for (const o of def.outputs) {
        const id = await registry.register(`${o.topic}-value`, o.schema, SUBJECT_COMPATIBILITY);
        registered.set(o.topic, createEncoder(avroType(o.schema), id));
        logger.info({ subject: `${o.topic}-value`, schemaId: id }, 'output schema registered');
      }
      return registered;
    }, waiting);
    awaiting = undefined;

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
    all = [primary, ...more];
    for (const r of all) runners.set(r.name, r.runner);
    for (const r of all) {
      started.push(r);
      await r.consumer.connect();
      // on a fresh broker the group coordinator may still be loading its topic: wait it out too
      await untilReady(() => r.runner.start(), waiting);
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
  for (const r of all) {
    logger.info({ adminPort, consumer: r.name, topic: r.topic, group: r.groupId }, 'consuming');
  }
  const [primary, ...more] = all as [Built<ConsumerRunner>, ...Built<ConsumerRunner<unknown>>[]];
  return {
    adminUrl,
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

/** Kafka has not got what the consumer needs yet (a topic, a leader): try again later. */
class NotYet extends Error {
  override name = 'NotYet';
}

/**
 * `attempt()` until it succeeds, waiting out "not yet" (NotYet, Kafka's transient errors, the
 * registry away), with a doubling delay; one warning per new reason, the repeats at debug.
 */
async function untilReady<T>(
  attempt: () => Promise<T>,
  o: {
    logger: Logger;
    firstDelayMs: number;
    maxDelayMs: number;
    onWait(reason: string): void;
  },
): Promise<T> {
  let delay = o.firstDelayMs;
  let said: string | undefined;
  for (let attempts = 1; ; attempts++) {
    try {
      return await attempt();
    } catch (err) {
      if (
        !(err instanceof NotYet) &&
        !isTransientKafkaError(err) &&
        !isTransientRegistryError(err)
      ) {
        throw err;
      }
      const reason =
        err instanceof NotYet
          ? err.message
          : `${isTransientRegistryError(err) ? 'schema registry not reachable' : 'Kafka not ready'}: ${(err as Error).message}`;
      o.onWait(reason);
      if (reason !== said) {
        said = reason;
        o.logger.warn({ retryInMs: delay, attempts }, `waiting: ${reason}`);
      } else {
        o.logger.debug({ retryInMs: delay, attempts }, `still waiting: ${reason}`);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, o.maxDelayMs);
    }
  }
}

/** The topics a consumer writes (outputs, dead letters, state). */
function ownTopics(config: RunnerConfig, def: ConsumerDefinition): string[] {
  return [
    ...def.outputs.map((o) => o.topic),
    config.CONSUMER_DLQ_TOPIC,
    ...(def.extraTopics ?? []).map((t) => t.topic),
  ];
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
            loadState: (ref) => loadState(kafka, eo.stateTopic, groupId, ref),
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
  startConsumer(config, logger, def, fatal).then(
    (running) =>
      stopOnSignals({ logger, deadlineMs: config.SHUTDOWN_GRACE_MS, stop: () => running.stop() }),
    (err: unknown) => {
      logger.fatal({ err }, 'could not start');
      process.exit(1);
    },
  );
}
