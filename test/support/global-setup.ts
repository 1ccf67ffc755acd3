import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePythonTools } from './python';
import { ROOT, STACK_DIR, stack, stackIsUp } from './stack';

/**
 * Integration tests run against the real local stack: start it if it is not up (and remember
 * that we did, so that the teardown stops only what the tests started). The deploy tests' pinned
 * tools are installed into .tools/ when missing (idempotent; a few minutes the first time).
 */
export default async function globalSetup(): Promise<void> {
  if (!stackIsUp()) {
    process.stdout.write('\nstarting the local stack (npm run stack:up)...\n');
    stack('up');
    mkdirSync(STACK_DIR, { recursive: true });
    writeFileSync(join(STACK_DIR, 'started-by-tests'), String(process.pid));
  }
  ensurePythonTools();
  process.stdout.write(
    "checking the deploy tests' tools (scripts/tools/install-deploy-tools.sh)\n",
  );
  execFileSync('bash', [join(ROOT, 'scripts', 'tools', 'install-deploy-tools.sh')], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
