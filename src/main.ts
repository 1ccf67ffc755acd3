import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, loadConfig, type Config } from './config';
import { createAdminApp, type HealthCheck } from './http/admin-app';
import { createCallbackApp } from './http/callback-app';
import { createIngest } from './ingest';
import { ensureTopic } from './kafka/admin';
import { createKafka } from './kafka/client';
import { avroType, createEncoder } from './kafka/codec';
import { BatchingPublisher } from './kafka/publisher';
import { Registry as SchemaRegistry } from './kafka/registry';
import { createLogger, routeProcessWarnings, type Logger } from './observability/logger';
import { createBridgeMetrics, createMetricsRegistry } from './observability/metrics';
import { loadSchema } from './schemas';
import { buildSchemaModel } from './tencent/schema-model';
import { createRecordMapper } from './tencent/record';
import { createCallbackValidator } from './tencent/validate';
import type { Registry } from 'prom-client';

/**
 * The composition root: config -> dependencies -> servers. `startBridge` is also what the
 * component and integration tests start, so they run exactly what production runs.
 */

export interface RunningBridge {
  config: Config;
  callbackUrl: string;
  adminUrl: string;
  metricsRegistry: Registry;
  schemaId: number;
  /** Graceful stop: not ready, no new connections, in-flight requests answered, producer closed. */
  stop(): Promise<void>;
}

export async function startBridge(config: Config, logger: Logger): Promise<RunningBridge> {
  const metricsRegistry = createMetricsRegistry();
  const metrics = createBridgeMetrics(metricsRegistry);
  const state = { schemaId: undefined as number | undefined, stopping: false };

  const kafka = createKafka({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID,
    logger,
  });
  const publisher = new BatchingPublisher({
    kafka,
    topic: config.KAFKA_TOPIC,
    maxBatchRecords: config.BATCH_MAX_RECORDS,
    maxWaitMs: config.BATCH_MAX_WAIT_MS,
    timeoutMs: config.PUBLISH_TIMEOUT_MS,
    events: {
      batchAcked: (records, seconds) => {
        metrics.batchRecords.observe(records);
        metrics.kafkaAckDuration.observe(seconds);
      },
      batchFailed: (records, err) => {
        metrics.produceFailures.inc();
        logger.warn({ records, err: err.message }, 'produce request failed');
      },
      connectionChanged: (connected) => {
        metrics.kafkaConnected.set(connected ? 1 : 0);
        logger.info(
          { connected },
          connected ? 'Kafka producer connected' : 'Kafka producer disconnected',
        );
      },
    },
  });

  const readiness: HealthCheck[] = [
    { name: 'shutdown', check: () => (state.stopping ? 'shutting down' : undefined) },
    { name: 'kafka', check: () => publisher.health() },
    {
      name: 'schema',
      check: () => (state.schemaId === undefined ? 'schema id not known yet' : undefined),
    },
  ];
  const adminServer = await listen(
    createAdminApp({
      registry: metricsRegistry,
      readiness,
      onReadiness: (r) => metrics.ready.set(r ? 1 : 0),
    }),
    config.ADMIN_PORT,
    config.ADMIN_HOST,
  );

  let callbackServer: Server | undefined;
  try {
    const schema = loadSchema();
    const model = buildSchemaModel(schema);
    const subject = `${config.KAFKA_TOPIC}-value`;
    const registry = new SchemaRegistry({ url: config.SCHEMA_REGISTRY_URL });
    try {
      state.schemaId = await registry.register(subject, schema, 'BACKWARD');
      metrics.registryRequests.inc({ result: 'ok' });
    } catch (err) {
      metrics.registryRequests.inc({ result: 'error' });
      throw new Error(
        `could not register the schema under ${subject} at ${config.SCHEMA_REGISTRY_URL}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    logger.info({ subject, schemaId: state.schemaId }, 'schema registered');

    if (config.KAFKA_CREATE_TOPIC) {
      const topic = await ensureTopic(kafka, {
        topic: config.KAFKA_TOPIC,
        numPartitions: config.KAFKA_TOPIC_PARTITIONS,
        replicationFactor: config.KAFKA_TOPIC_REPLICATION_FACTOR,
      });
      logger.info(
        { topic: config.KAFKA_TOPIC, ...topic },
        topic.created ? 'topic created' : 'topic exists',
      );
    }
    await publisher.connect();

    const ingest = createIngest({
      validate: createCallbackValidator(model),
      mapper: createRecordMapper(model),
      encoder: createEncoder(avroType(schema), state.schemaId),
      publish: (record) => publisher.publish(record),
    });
    const app = createCallbackApp({
      ingest,
      metrics,
      logger,
      bodyLimitBytes: config.BODY_LIMIT_BYTES,
    });
    callbackServer = await listen(app, config.PORT, config.HOST);
  } catch (err) {
    await close(adminServer);
    await publisher.close().catch(() => undefined);
    throw err;
  }

  const server = callbackServer;
  logger.info(
    {
      port: (server.address() as AddressInfo).port,
      adminPort: (adminServer.address() as AddressInfo).port,
    },
    'bridge ready',
  );
  return {
    config,
    callbackUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`,
    adminUrl: `http://127.0.0.1:${(adminServer.address() as AddressInfo).port}`,
    metricsRegistry,
    schemaId: state.schemaId,
    async stop() {
      state.stopping = true;
      await close(server);
      await publisher.close();
      await close(adminServer);
      logger.info('bridge stopped');
    },
  };
}

async function listen(
  app: (req: never, res: never) => void,
  port: number,
  host: string,
): Promise<Server> {
  const server = createServer(app as Parameters<typeof createServer>[1]);
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeIdleConnections();
  });
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tim-kafka-bridge: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.LOG_LEVEL });
  routeProcessWarnings(logger);
  let bridge: RunningBridge;
  try {
    bridge = await startBridge(config, logger);
  } catch (err) {
    logger.fatal({ err }, 'could not start');
    process.exit(1);
  }
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    bridge.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (require.main === module) void main();
