import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePythonTools } from './python';
import { STACK_DIR, stack, stackIsUp } from './stack';

/**
 * Integration tests run against the real local stack: start it if it is not up (and remember
 * that we did, so that the teardown stops only what the tests started).
 */
export default async function globalSetup(): Promise<void> {
  if (!stackIsUp()) {
    process.stdout.write('\nstarting the local stack (npm run stack:up)...\n');
    stack('up');
    mkdirSync(STACK_DIR, { recursive: true });
    writeFileSync(join(STACK_DIR, 'started-by-tests'), String(process.pid));
  }
  ensurePythonTools();
}
