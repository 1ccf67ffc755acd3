import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { STACK_DIR, stack } from './stack';

/** Stops the local stack only if the test run started it. */
export default async function globalTeardown(): Promise<void> {
  const marker = join(STACK_DIR, 'started-by-tests');
  if (existsSync(marker)) {
    rmSync(marker);
    stack('down');
  }
}
