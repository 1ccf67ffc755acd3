import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const STACK_SCRIPT = join(ROOT, 'scripts', 'stack', 'stack.sh');
export const STACK_DIR = process.env.STACK_DIR ?? join(ROOT, '.stack');

export const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const SCHEMA_REGISTRY_URL =
  process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

/** Runs `stack.sh <args>`, inheriting stdio; throws on a non-zero exit. */
export function stack(...args: string[]): void {
  execFileSync('bash', [STACK_SCRIPT, ...args], { stdio: 'inherit', cwd: ROOT });
}

export function stackIsUp(): boolean {
  return spawnSync('bash', [STACK_SCRIPT, 'status'], { stdio: 'ignore', cwd: ROOT }).status === 0;
}
