import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { isUnauthenticated, loadConfig, type Config } from './config';
import { createAdminApp } from './http/admin-app';
import { BRIDGE_PROBE_IGNORES, evaluateReadiness, type HealthCheck } from './http/readiness';
import { close, listen } from './http/server';
import { createCallbackApp } from './http/callback-app';
import { createIngest } from './ingest';
import { ensureTopics } from './kafka/admin';
import { createKafka } from './kafka/client';
import { avroType, createEncoder } from './kafka/codec';
import { kafkaSecurity, registryOptions } from './kafka/from-config';
import { KafkaProbe } from './kafka/health';
import { BatchingPublisher } from './kafka/publisher';
import { Registry as SchemaRegistry } from './kafka/registry';
import { SchemaIds } from './kafka/schema-ids';
import { createLogger, routeProcessWarnings, type Logger } from './observability/logger';
import {
  createBridgeMetrics,
  createMetricsRegistry,
  initialiseBeforeSeries,
  initialiseSeries,
} from './observability/metrics';
import { loadSchema } from './schemas';
import { createDecider } from './before/decide';
import { PendingWork } from './before/pending';
import { CATALOGUE, familyOf } from './catalogue/catalogue';
import { resolveRoutes, routingOptionsOf, unknownPatterns } from './catalogue/routes';
import { createRouting } from './catalogue/routing';
import { Delivery } from './spool/delivery';
import { Spool } from './spool/spool';
import { loadConfigOrExit, stopOnSignals } from './process';
import type { AuthPolicy } from './tencent/authenticate';

/**
 * The composition root: config -> dependencies -> servers, and the process's signals.
 * `startBridge` is also what the component and integration tests start, so they run exactly
 * what production runs.
 */

export interface RunningBridge {
  config: Config;
  callbackUrl: string;
  adminUrl: string;
  metricsRegistry: Registry;
  /** The id records are written with now (undefined while the registry has given none). */
  readonly schemaId: number | undefined;
  /**
   * Graceful stop within SHUTDOWN_GRACE_MS: not ready, no new connections, every in-flight
   * request answered (Kafka or spool), the spool drained while Kafka takes it, the producer closed.
   */
  stop(): Promise<void>;
}

const KAFKA_RETRY_MS = 2000;
const KAFKA_START_WAIT_MS = 3000;
/** How long the start waits for the registry before it uses remembered ids (or none). */
const REGISTRY_START_WAIT_MS = 5000;

export async function startBridge(config: Config, logger: Logger): Promise<RunningBridge> {
  const metricsRegistry = createMetricsRegistry();
  const metrics = createBridgeMetrics(metricsRegistry);
  initialiseSeries(metrics);
  const state = { stopping: false, kafkaReady: false };
  const afterReply = new PendingWork();

  if (isUnauthenticated(config)) {
    metrics.unauthenticatedMode.set(1);
    logger.warn(
      'callbacks are accepted without a signature check: set TENCENT_CALLBACK_TOKEN and TENCENT_SDKAPPIDS (docs/reliability.md, Authentication)',
    );
  }

  const kafka = createKafka({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID,
    logger,
    ...kafkaSecurity(config),
  });
  const publisher = new BatchingPublisher({
    kafka,
    maxBatchRecords: config.BATCH_MAX_RECORDS,
    maxBatchBytes: config.BATCH_MAX_BYTES,
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
      producerReplaced: (reason) => {
        metrics.producerReplacements.inc();
        logger.warn(
          { reason },
          'Kafka refused a produce request: the producer is replaced by a fresh one (new producer id)',
        );
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

  const spool = config.SPOOL_ENABLED
    ? new Spool({
        dir: config.SPOOL_DIR,
        maxRecords: config.SPOOL_MAX_RECORDS,
        maxBytes: config.SPOOL_MAX_BYTES,
      })
    : undefined;
  if (spool && spool.records > 0) {
    logger.info(
      { records: spool.records, bytes: spool.bytes },
      'the spool holds records from an earlier run',
    );
  }
  const delivery = new Delivery({
    publisher,
    spool,
    dlqTopic: config.KAFKA_DLQ_TOPIC,
    logger,
    events: {
      drained: (n) => metrics.spoolDrained.inc(n),
      drainFailed: (err) => {
        metrics.spoolDrainFailures.inc();
        logger.warn({ err: err.message }, 'spool drain step failed; retrying');
      },
      deadLettered: () => metrics.spoolDeadLettered.inc(),
    },
  });
  const collectors: (() => void)[] = [];
  if (spool) {
    collectors.push(() => {
      if (spool.isClosed) return;
      metrics.spoolRecords.set(spool.records);
      metrics.spoolBytes.set(spool.bytes);
      metrics.spoolOldestAge.set(spool.oldestAgeMs() / 1000);
      metrics.spoolQuarantined.set(spool.quarantined);
      metrics.spoolCapacityRatio.set(
        Math.max(spool.records / config.SPOOL_MAX_RECORDS, spool.bytes / config.SPOOL_MAX_BYTES),
      );
    });
  }

  // the command catalogue: each command's topic (or off), builder and encoder
  const routes = routingOptionsOf(config);
  for (const pattern of unknownPatterns(routes.rules)) {
    logger.warn(
      { pattern },
      'COMMAND_ROUTES names a command or family the catalogue does not know',
    );
  }
  const subject = `${config.KAFKA_TOPIC}-value`;
  const routing = createRouting({
    routes: resolveRoutes(routes),
    otherTopic: routes.otherTopic,
    loadSchema,
    encoderFor: (s, schema) => createEncoder(avroType(schema), () => schemaIds.id(s)),
  });
  const topics = [...routing.topics, config.KAFKA_DLQ_TOPIC];
  logger.info(
    { topics: routing.topics.length, other: config.KAFKA_OTHER_CALLBACKS_TOPIC },
    'command routes resolved',
  );

  const kafkaProbe = new KafkaProbe({
    kafka,
    topic: routing.topics.includes(config.KAFKA_TOPIC)
      ? config.KAFKA_TOPIC
      : config.KAFKA_DLQ_TOPIC,
    intervalMs: 5000,
    timeoutMs: 3000,
    onChange: (problem) => {
      metrics.kafkaConnected.set(problem === undefined && publisher.connected ? 1 : 0);
      if (problem) logger.warn({ problem }, 'Kafka probe failing');
      else logger.info('Kafka probe answering');
    },
  });

  const schemaIds = new SchemaIds({
    registry: new SchemaRegistry(registryOptions(config)),
    store: spool,
    autoRegister: config.SCHEMA_REGISTRY_AUTO_REGISTER,
    logger,
    onRequest: (result) => metrics.registryRequests.inc({ result }),
  });

  // set once the callback port listens: until then (and once it is closed) not ready, so that
  // ready means the callback port takes connections
  let callbackServer: Server | undefined;
  const readiness: HealthCheck[] = [
    { name: 'shutdown', check: () => (state.stopping ? 'shutting down' : undefined) },
    {
      name: 'listening',
      check: () => {
        if (callbackServer === undefined) return 'the callback port is not listening yet';
        return callbackServer.listening ? undefined : 'the callback port is closed';
      },
    },
    {
      name: 'schema',
      check: () => {
        const missing = schemaIds.missing();
        if (missing.length === 0) return undefined;
        const failure = schemaIds.failure();
        // a registry that answers with a refusal (401, 403) is not one that has not answered
        return `no schema id yet for ${missing.join(', ')}: the schema registry (${config.SCHEMA_REGISTRY_URL}) ${failure === undefined ? 'has not answered' : `failed: ${failure}`}`;
      },
    },
    {
      name: 'kafka',
      check: () =>
        state.kafkaReady
          ? (publisher.health() ?? kafkaProbe.problem)
          : 'not connected to Kafka yet',
    },
    {
      name: 'spool',
      check: () => {
        if (spool === undefined) return undefined;
        if (spool.isFull) return 'spool is full';
        const problem = spool.writeProblem();
        return problem === undefined ? undefined : `the spool cannot write: ${problem}`;
      },
    },
  ];
  // what the Kubernetes readiness probe decides, and the strict answer (Kafka included)
  const probeIgnores = new Set(BRIDGE_PROBE_IGNORES);
  collectors.push(() => {
    const answer = evaluateReadiness(readiness, probeIgnores);
    metrics.ready.set(answer.ready ? 1 : 0);
    metrics.readyStrict.set(answer.strict ? 1 : 0);
  });
  const adminServer = await listen(
    createAdminApp({
      registry: metricsRegistry,
      collectors,
      readiness,
      onReadinessChange: (ready, checks) =>
        logger.info({ ready, checks }, ready ? 'ready' : 'not ready'),
    }),
    config.ADMIN_PORT,
    config.ADMIN_HOST,
  );

  /** Topics and producer; with a spool, the bridge also starts (spooling) while Kafka is away. */
  const connectKafka = async (): Promise<void> => {
    if (config.KAFKA_CREATE_TOPIC) {
      const found = await ensureTopics(
        kafka,
        topics.map((topic) => ({
          topic,
          numPartitions: config.KAFKA_TOPIC_PARTITIONS,
          replicationFactor: config.KAFKA_TOPIC_REPLICATION_FACTOR,
        })),
      );
      for (const [topic, t] of found) {
        logger.info({ topic, ...t }, t.created ? 'topic created' : 'topic exists');
      }
    }
    await publisher.connect();
    // the topics' max.message.bytes bound the produce requests (BATCH_MAX_BYTES otherwise)
    await publisher
      .watchTopics(topics)
      .catch((err: unknown) =>
        logger.warn(
          { err: (err as Error).message },
          "could not read the topics' max.message.bytes (DescribeConfigs): requests are bounded by BATCH_MAX_BYTES alone",
        ),
      );
    state.kafkaReady = true;
    kafkaProbe.start();
    delivery.start();
  };
  let kafkaRetry: NodeJS.Timeout | undefined;
  const keepConnecting = (): void => {
    kafkaRetry = setTimeout(() => {
      connectKafka().catch((err: unknown) => {
        logger.warn(
          { err: (err as Error).message },
          'Kafka still unreachable; callbacks go to the spool',
        );
        if (!state.stopping) keepConnecting();
      });
    }, KAFKA_RETRY_MS);
  };

  try {
    // the registry: ids registered now, or remembered in the spool; without any, the bridge
    // stays up and not ready and keeps asking (a registry outage must not crash-loop it)
    const registering = schemaIds.start(routing.subjects, REGISTRY_START_WAIT_MS);
    // With a spool, callbacks need not wait for Kafka: listen after KAFKA_START_WAIT_MS at most
    // and keep connecting in the background (callbacks meanwhile go to the spool).
    const connecting = connectKafka().then(
      () => true,
      (err: unknown) => {
        if (!spool) throw err;
        logger.warn(
          { err: (err as Error).message },
          'Kafka unreachable at start; callbacks go to the spool',
        );
        keepConnecting();
        return false;
      },
    );
    await Promise.all([
      registering,
      spool ? Promise.race([connecting, sleep(KAFKA_START_WAIT_MS)]) : connecting,
    ]);

    const auth: AuthPolicy = {
      sdkAppIds: new Set(config.TENCENT_SDKAPPIDS),
      signature: config.TENCENT_CALLBACK_TOKEN
        ? {
            tokens: [config.TENCENT_CALLBACK_TOKEN, ...config.TENCENT_CALLBACK_TOKEN_PREVIOUS],
            windowSeconds: config.SIGNATURE_WINDOW_SECONDS,
            digests: new Map(),
          }
        : undefined,
    };
    const forward = new Set(config.BEFORE_CALLBACK_FORWARD);
    const upstreamUrl = config.BEFORE_CALLBACK_UPSTREAM_URL
      ? new URL(config.BEFORE_CALLBACK_UPSTREAM_URL)
      : undefined;
    const forwards = (command: string): boolean =>
      forward.has('*') || forward.has(command) || forward.has(`${familyOf(command)}.*`);
    // the series alerts compute increase() over exist at 0 from the start, so a first loss shows
    initialiseBeforeSeries(
      metrics,
      CATALOGUE.filter((e) => e.kind === 'before').map((e) => ({
        command: e.command,
        stored: routing.route(e.command).topic !== null,
        forwarded: upstreamUrl !== undefined && forwards(e.command),
      })),
    );
    const ingest = createIngest({
      routing,
      decider: createDecider({
        upstreamUrl,
        forwards,
        deadlineMs: config.BEFORE_CALLBACK_DEADLINE_MS,
        onFailure: config.BEFORE_CALLBACK_ON_FAILURE,
      }),
      dlqTopic: config.KAFKA_DLQ_TOPIC,
      deliver: (record) => delivery.deliver(record),
    });
    const app = createCallbackApp({
      ingest,
      auth,
      metrics,
      logger,
      bodyLimitBytes: config.BODY_LIMIT_BYTES,
      isStopping: () => state.stopping,
      afterReply: (work) => afterReply.track(work),
    });
    callbackServer = await listen(app, config.PORT, config.HOST, config.REQUEST_TIMEOUT_MS);
  } catch (err) {
    clearTimeout(kafkaRetry);
    schemaIds.stop();
    await kafkaProbe.stop();
    await close(adminServer);
    await publisher.close(0).catch(() => undefined);
    spool?.close();
    throw err;
  }

  const server = callbackServer;
  const port = (server.address() as AddressInfo).port;
  const adminPort = (adminServer.address() as AddressInfo).port;
  logger.info({ port, adminPort }, 'bridge ready');
  return {
    config,
    callbackUrl: `http://127.0.0.1:${port}/callback`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    metricsRegistry,
    get schemaId() {
      return schemaIds.id(subject);
    },
    async stop() {
      const deadline = Date.now() + config.SHUTDOWN_GRACE_MS;
      const left = (margin: number) => Math.max(0, deadline - Date.now() - margin);
      state.stopping = true;
      clearTimeout(kafkaRetry);
      schemaIds.stop();
      // Not ready, but still serving for SHUTDOWN_DELAY_MS: every reply now closes its connection,
      // so keep-alive clients move away instead of having a request cut by the close below.
      await sleep(Math.min(config.SHUTDOWN_DELAY_MS, left(2000)));
      // no new connections; wait for every in-flight request to be answered
      const answered = close(server);
      const inTime = await Promise.race([
        answered.then(() => true),
        sleep(left(1000)).then(() => false),
      ]);
      if (!inTime) {
        logger.warn('grace period ending: closing the remaining connections');
        server.closeAllConnections();
      }
      // before-callbacks answered but not yet stored: their records still go to Kafka or the spool
      if (!(await afterReply.settled(left(1500)))) {
        logger.warn(
          { records: afterReply.size },
          'grace period ending: before-callback records not yet stored are lost',
        );
      }
      // nothing new comes in: hand what the spool holds to Kafka while it takes it, so that no
      // spool is left behind by a replica that may never come back (scale-down)
      if (spool && spool.records > 0 && state.kafkaReady) {
        logger.info({ records: spool.records }, 'draining the spool before exit');
        await delivery.finish(left(1500));
      }
      await delivery.stop(left(700));
      await kafkaProbe.stop();
      await publisher.close(left(500));
      const remaining = { records: spool?.records ?? 0, bytes: spool?.bytes ?? 0 };
      spool?.close();
      await close(adminServer);
      // one message either way, so that one search finds every stop; the level tells them apart
      if (remaining.records > 0) {
        logger.warn(
          {
            spooled: remaining.records,
            spooledBytes: remaining.bytes,
            next: 'the next start on this spool directory sends them (or npm run spool:drain on it)',
          },
          'bridge stopped',
        );
      } else {
        logger.info({ spooled: 0 }, 'bridge stopped');
      }
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

async function main(): Promise<void> {
  const config = loadConfigOrExit(loadConfig, 'tim-kafka-bridge');
  const logger = createLogger({ level: config.LOG_LEVEL });
  routeProcessWarnings(logger);
  let bridge: RunningBridge;
  try {
    bridge = await startBridge(config, logger);
  } catch (err) {
    logger.fatal({ err }, 'could not start');
    process.exit(1);
  }
  // a second signal exits at once: the spool is SQLite in WAL mode, no committed record is lost
  stopOnSignals({ logger, deadlineMs: config.SHUTDOWN_GRACE_MS + 1000, stop: () => bridge.stop() });
}

if (require.main === module) void main();
