import type { AddressInfo } from 'node:net';
import type { Registry as MetricsRegistry } from 'prom-client';
import { createAdminApp } from '../http/admin-app';
import { close, listen } from '../http/server';
import { ensureTopic, type TopicSpec } from '../kafka/admin';
import { createKafka, type Kafka } from '../kafka/client';
import { avroType, createEncoder, type RecordEncoder } from '../kafka/codec';
import { GroupConsumer } from '../kafka/consumer';
import { kafkaSecurity, registryOptions } from '../kafka/from-config';
import { readUntil } from '../kafka/reader';
import { Registry } from '../kafka/registry';
import { createLogger, routeProcessWarnings, type Logger } from '../observability/logger';
import { createMetricsRegistry } from '../observability/metrics';
import { loadConfigOrExit, stopOnSignals } from '../process';
import { loadSchema, type AvroSchemaJson } from '../schemas';
import { createRecordMapper } from '../tencent/record';
import { buildSchemaModel } from '../tencent/schema-model';
import type { RunnerConfig } from './config';
import { createRunnerMetrics, initialiseRunnerSeries } from './metrics';
import { ConsumerRunner, STATE_SEQ_HEADER, type ConsumerLogic } from './runner';

/**
 * What a consumer built on the runner declares; `startConsumer` does the rest (Kafka, registry,
 * topics, the admin server, the runner). A team writing its own consumer writes one of these and
 * a three-line main (see analytics/main.ts).
 */
export interface ConsumerDefinition {
  /** Short name: the `consumer` label of the metrics and the logger's name. */
  name: string;
  /** Avro schemas of the outputs, registered under `<topic>-value` (BACKWARD). */
  outputs: { topic: string; schema: AvroSchemaJson }[];
  /** Other topics to create (state topics), besides the outputs' and the dead-letter topic. */
  extraTopics?: TopicSpec[];
  exactlyOnce?: {
    transactionalId: string;
    stateTopic: string;
    commitIntervalMs: number;
    idleMs: number;
  };
  /** The consumer's logic, given an encoder per output topic and the metrics registry. */
  createLogic(deps: {
    encoders: Map<string, RecordEncoder>;
    metricsRegistry: MetricsRegistry;
    logger: Logger;
  }): ConsumerLogic;
}

export interface RunningConsumer {
  adminUrl: string;
  metricsRegistry: MetricsRegistry;
  runner: ConsumerRunner;
  /** Finishes the batch, commits, leaves the group, closes the admin server. */
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

  const schema = loadSchema();
  const consumer = new GroupConsumer({
    kafka,
    groupId: config.CONSUMER_GROUP_ID,
    topic: config.KAFKA_TOPIC,
    fromBeginning: config.CONSUMER_FROM_BEGINNING,
    ...(def.exactlyOnce ? { transactionalId: def.exactlyOnce.transactionalId } : {}),
    events: {
      joined: (partitions) => runner.joined(partitions),
      crashed: (err, restarting) => runner.crashedWith(err, restarting),
      lag: (partition, records) =>
        metrics.lag.set({ consumer: def.name, partition: String(partition) }, records),
    },
  });
  const eo = def.exactlyOnce;
  const runner: ConsumerRunner = new ConsumerRunner({
    name: def.name,
    consumer,
    registry,
    mapper: createRecordMapper(buildSchemaModel(schema)),
    readerType: avroType(schema),
    logic: def.createLogic({ encoders, metricsRegistry, logger }),
    dlqTopic: config.CONSUMER_DLQ_TOPIC,
    dedupeMaxKeys: config.DEDUPE_MAX_KEYS,
    metrics,
    logger,
    onFatal,
    ...(eo
      ? {
          exactlyOnce: {
            stateTopic: eo.stateTopic,
            stateKey: config.CONSUMER_GROUP_ID,
            commitIntervalMs: eo.commitIntervalMs,
            idleMs: eo.idleMs,
            loadState: (seq) => loadState(kafka, eo.stateTopic, config.CONSUMER_GROUP_ID, seq),
          },
        }
      : {}),
  });

  const admin = await listen(
    createAdminApp({
      registry: metricsRegistry,
      collectors: [
        () => metrics.ready.set({ consumer: def.name }, runner.problem() === undefined ? 1 : 0),
      ],
      readiness: [{ name: 'consumer', check: () => runner.problem() }],
      onReadinessChange: (ready, checks) =>
        logger.info({ ready, checks }, ready ? 'ready' : 'not ready'),
    }),
    config.ADMIN_PORT,
    config.ADMIN_HOST,
  );
  try {
    await consumer.connect();
    await runner.start();
  } catch (err) {
    await consumer.disconnect().catch(() => undefined);
    await close(admin);
    throw err;
  }
  const adminPort = (admin.address() as AddressInfo).port;
  logger.info(
    { adminPort, topic: config.KAFKA_TOPIC, group: config.CONSUMER_GROUP_ID },
    'consuming',
  );
  return {
    adminUrl: `http://127.0.0.1:${adminPort}`,
    metricsRegistry,
    runner,
    async stop() {
      await runner.stop();
      await close(admin);
      logger.info('consumer stopped');
    },
  };
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
