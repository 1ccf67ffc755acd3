import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configSpec, connectionChecks, connectionSpec, loadSpec } from '../config';
import { createKafka } from '../kafka/client';
import { kafkaSecurity } from '../kafka/from-config';
import { BatchingPublisher } from '../kafka/publisher';
import { createLogger, routeProcessWarnings } from '../observability/logger';
import { loadConfigOrExit } from '../process';
import { Delivery } from '../spool/delivery';
import { SPOOL_FILE, Spool } from '../spool/spool';

/**
 * `npm run spool:drain -- --dir <path>`: sends what a spool directory holds to Kafka and exits,
 * for a spool that no bridge replica owns any more (a StatefulSet scaled down leaves its claim
 * behind). The same drainer as the bridge's: oldest first, a record Kafka refuses for itself to
 * the dead-letter topic. Records keep the schema id they were written with: no registry needed.
 *
 * Exit 0 when the spool is empty, 1 when records are left (Kafka unreachable until --timeout-ms),
 * 2 on bad arguments or configuration or when another process holds the spool.
 */

export const drainSpec = {
  ...connectionSpec,
  KAFKA_CLIENT_ID: configSpec.KAFKA_CLIENT_ID,
  KAFKA_DLQ_TOPIC: configSpec.KAFKA_DLQ_TOPIC,
  BATCH_MAX_RECORDS: configSpec.BATCH_MAX_RECORDS,
  BATCH_MAX_BYTES: configSpec.BATCH_MAX_BYTES,
  LOG_LEVEL: configSpec.LOG_LEVEL,
};

const USAGE = `usage: spool-drain --dir <spool directory> [--status] [--requeue-quarantined] [--timeout-ms <ms>]

  --dir <path>             the spool directory (SPOOL_DIR of the bridge that wrote it)
  --status                 print what it holds (JSON) and exit; sends nothing
  --requeue-quarantined    put quarantined records back in line first (after fixing their topic)
  --timeout-ms <ms>        give up after this long (default 600000); exit 1 if records are left

Kafka settings come from the bridge's variables: KAFKA_BROKERS, KAFKA_SASL_*, KAFKA_SSL_*,
KAFKA_DLQ_TOPIC, BATCH_MAX_RECORDS, BATCH_MAX_BYTES, LOG_LEVEL.
`;

function fail(message: string): never {
  process.stderr.write(`spool-drain: ${message}\n\n${USAGE}`);
  process.exit(2);
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        dir: { type: 'string' },
        status: { type: 'boolean', default: false },
        'requeue-quarantined': { type: 'boolean', default: false },
        'timeout-ms': { type: 'string', default: '600000' },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  const dir = args.dir ?? fail('--dir is required');
  const timeoutMs = Number(args['timeout-ms']);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0)
    fail('--timeout-ms must be a positive integer');
  // never create a spool where there is none: a mistyped path must not "drain" successfully
  if (!existsSync(join(dir, SPOOL_FILE))) fail(`no spool in ${dir} (no ${SPOOL_FILE})`);

  const config = loadConfigOrExit(
    (env) => loadSpec(drainSpec, env, connectionChecks),
    'spool-drain',
  );
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'tim-kafka-bridge-spool-drain' });
  routeProcessWarnings(logger);
  let spool: Spool;
  try {
    spool = new Spool({
      dir,
      maxRecords: Number.MAX_SAFE_INTEGER,
      maxBytes: Number.MAX_SAFE_INTEGER,
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const status = () => ({
    dir,
    records: spool.records,
    bytes: spool.bytes,
    oldestAgeSeconds: Math.round(spool.oldestAgeMs() / 1000),
    quarantined: spool.quarantined,
    topics: spool.topics(),
  });
  if (args.status) {
    process.stdout.write(`${JSON.stringify(status())}\n`);
    spool.close();
    return;
  }
  if (args['requeue-quarantined']) {
    logger.info({ records: spool.requeueQuarantined() }, 'quarantined records put back in line');
  }
  logger.info(status(), 'draining');

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
    maxWaitMs: 0,
    timeoutMs: 10000,
  });
  const delivery = new Delivery({
    publisher,
    spool,
    dlqTopic: config.KAFKA_DLQ_TOPIC,
    logger,
    events: {
      drainFailed: (err) => logger.warn({ err: err.message }, 'drain step failed; retrying'),
    },
  });
  const deadline = Date.now() + timeoutMs;
  let connected = false;
  while (!connected && Date.now() < deadline) {
    try {
      await publisher.connect();
      connected = true;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'Kafka unreachable; retrying');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  if (connected) {
    await publisher
      .watchTopics([...Object.keys(spool.topics()), config.KAFKA_DLQ_TOPIC])
      .catch((err: unknown) =>
        logger.warn(
          { err: (err as Error).message },
          "could not read the topics' max.message.bytes",
        ),
      );
    await delivery.finish(Math.max(0, deadline - Date.now()));
  }
  await delivery.stop(1000);
  await publisher.close(1000).catch(() => undefined);
  const left = status();
  spool.close();
  if (left.records > 0) {
    logger.error(left, 'records are left in the spool');
    process.exit(1);
  }
  logger.info(left, 'the spool is empty');
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`spool-drain: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
