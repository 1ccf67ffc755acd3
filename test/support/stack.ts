import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const STACK_SCRIPT = join(ROOT, 'scripts', 'stack', 'stack.sh');
export const STACK_DIR = process.env.STACK_DIR ?? join(ROOT, '.stack');

/**
 * Where the integration tests find Kafka and the schema registry: the local stack (which the
 * test setup starts when it is not up), or an existing pair that KAFKA_BROKERS and
 * SCHEMA_REGISTRY_URL both name (a Kafka and registry started by testcontainers or docker
 * compose, a shared test cluster), which the tests then use without starting anything.
 */
export type StackTarget =
  | { kind: 'local'; brokers: string; registryUrl: string }
  | { kind: 'external'; brokers: string; registryUrl: string };

export function stackTarget(env: NodeJS.ProcessEnv): StackTarget {
  const brokers = env.KAFKA_BROKERS?.trim() || undefined;
  const registryUrl = env.SCHEMA_REGISTRY_URL?.trim() || undefined;
  if (brokers && registryUrl) return { kind: 'external', brokers, registryUrl };
  if (brokers || registryUrl)
    throw new Error(
      `the tests run against an existing Kafka and registry only when both KAFKA_BROKERS and SCHEMA_REGISTRY_URL name them (got only ${brokers ? 'KAFKA_BROKERS' : 'SCHEMA_REGISTRY_URL'}); unset it to use the local stack`,
    );
  return {
    kind: 'local',
    brokers: '127.0.0.1:9092',
    registryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7',
  };
}

const target = stackTarget(process.env);
/** The tests run against an existing Kafka and registry, not the local stack. */
export const EXTERNAL_STACK = target.kind === 'external';
export const KAFKA_BROKERS = target.brokers;
export const SCHEMA_REGISTRY_URL = target.registryUrl;

/** Runs `stack.sh <args>`, inheriting stdio; throws on a non-zero exit. */
export function stack(...args: string[]): void {
  execFileSync('bash', [STACK_SCRIPT, ...args], { stdio: 'inherit', cwd: ROOT });
}

export function stackIsUp(): boolean {
  return spawnSync('bash', [STACK_SCRIPT, 'status'], { stdio: 'ignore', cwd: ROOT }).status === 0;
}
