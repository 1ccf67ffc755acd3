import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STACK_DIR } from './stack';

/**
 * The test runs (jest processes) using the local stack, one file per run's pid in
 * `.stack/test-runs/`, so that the run that started the stack does not stop it under another.
 */
const DIR = join(STACK_DIR, 'test-runs');

export const testRunFile = (pid: number): string => join(DIR, String(pid));

/** Records this run as a user of the stack. */
export function registerTestRun(pid: number): void {
  mkdirSync(DIR, { recursive: true });
  writeFileSync(testRunFile(pid), '');
}

/** The other runs still alive (files of runs that died without their teardown are removed). */
export function otherTestRuns(pid: number): number[] {
  let names: string[];
  try {
    names = readdirSync(DIR);
  } catch {
    return [];
  }
  return names
    .map(Number)
    .filter((other) => other !== pid && Number.isInteger(other))
    .filter((other) => {
      try {
        process.kill(other, 0);
        return true;
      } catch {
        rmSync(testRunFile(other), { force: true });
        return false;
      }
    });
}
