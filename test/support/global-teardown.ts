import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { STACK_DIR, stack } from './stack';
import { otherTestRuns, testRunFile } from './test-runs';

/**
 * Stops the local stack only if this test run started it and no other run (a second `jest` in
 * another terminal, still going) uses it.
 */
export default async function globalTeardown(): Promise<void> {
  rmSync(testRunFile(process.pid), { force: true });
  const marker = join(STACK_DIR, 'started-by-tests');
  if (!existsSync(marker) || readFileSync(marker, 'utf8').trim() !== String(process.pid)) return;
  rmSync(marker);
  const others = otherTestRuns(process.pid);
  if (others.length > 0) {
    process.stdout.write(
      `
leaving the local stack up: test runs ${others.join(', ')} still use it\n`,
    );
    return;
  }
  stack('down');
}
