import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePythonTools } from './python';
import { createKafka } from '../../src/kafka/client';
import { createLogger } from '../../src/observability/logger';
import {
  EXTERNAL_STACK,
  KAFKA_BROKERS,
  ROOT,
  SCHEMA_REGISTRY_URL,
  STACK_DIR,
  stack,
  stackIsUp,
} from './stack';
import { registerTestRun } from './test-runs';

/**
 * Integration tests run against a real Kafka and registry: the local stack, started if it is not
 * up (remembering that we did, so that the teardown stops only what the tests started), or the
 * existing pair KAFKA_BROKERS and SCHEMA_REGISTRY_URL name, which must answer. Either way the
 * stack's artifacts are resolved (Kafka's Java client computes partitions in the tests, the
 * outage tests start private brokers). The deploy tests' pinned tools are installed into .tools/
 * when missing (idempotent; a few minutes the first time).
 */
export default async function globalSetup(): Promise<void> {
  if (EXTERNAL_STACK) {
    process.stdout.write(
      `\nusing the existing Kafka ${KAFKA_BROKERS} and registry ${SCHEMA_REGISTRY_URL}\n`,
    );
    await checkExternal();
    stack('install');
  } else if (!stackIsUp()) {
    process.stdout.write('\nstarting the local stack (npm run stack:up)...\n');
    stack('up');
    mkdirSync(STACK_DIR, { recursive: true });
    writeFileSync(join(STACK_DIR, 'started-by-tests'), String(process.pid));
  }
  if (!EXTERNAL_STACK) registerTestRun(process.pid);
  ensurePythonTools();
  process.stdout.write(
    "checking the deploy tests' tools (scripts/tools/install-deploy-tools.sh)\n",
  );
  execFileSync('bash', [join(ROOT, 'scripts', 'tools', 'install-deploy-tools.sh')], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Fails the run at once, saying which, when the named Kafka or registry does not answer. */
async function checkExternal(): Promise<void> {
  const registry = await fetch(`${SCHEMA_REGISTRY_URL}/subjects`, {
    signal: AbortSignal.timeout(10_000),
  }).catch((err: Error) => err);
  if (registry instanceof Error || !registry.ok)
    throw new Error(
      `SCHEMA_REGISTRY_URL ${SCHEMA_REGISTRY_URL} does not answer GET /subjects (${registry instanceof Error ? registry.message : `HTTP ${registry.status}`}): a Confluent-compatible API is needed`,
    );
  const admin = createKafka({
    brokers: KAFKA_BROKERS.split(','),
    clientId: 'tim-kafka-bridge-tests',
    logger: createLogger({ level: 'silent' }),
  }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } catch (err) {
    throw new Error(`KAFKA_BROKERS ${KAFKA_BROKERS} does not answer: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    await admin.disconnect();
  }
}
