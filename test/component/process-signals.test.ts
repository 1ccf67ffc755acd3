import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildIfStale } from '../support/process';
import { ROOT } from '../support/stack';

/**
 * src/process.ts's stopOnSignals, in a real process (what `npm start` and the consumers run): the
 * first SIGTERM or SIGINT stops gracefully and exits 0; an error while stopping exits 1; a stop
 * that outlives its deadline exits 1; a second signal exits 1 at once. No broker involved: the
 * stop is a stand-in that resolves, rejects or never ends.
 */

const SCRIPT = `
const { stopOnSignals } = require(${JSON.stringify(join(ROOT, 'dist', 'src', 'process.js'))});
const { createLogger } = require(${JSON.stringify(join(ROOT, 'dist', 'src', 'observability', 'logger.js'))});
const mode = process.env.STOP_MODE;
stopOnSignals({
  logger: createLogger({ level: 'info' }),
  deadlineMs: Number(process.env.DEADLINE_MS),
  stop: () =>
    mode === 'ok' ? new Promise((r) => setTimeout(r, 50))
    : mode === 'fail' ? Promise.reject(new Error('the stand-in failed'))
    : new Promise(() => undefined),
});
setInterval(() => undefined, 1000);
process.stdout.write('ready\\n');
`;

interface Outcome {
  code: number | null;
  log: string;
  /** Milliseconds from the first signal to the exit. */
  afterSignalMs: number;
}

/** Starts the script, sends `signals` (the second 200 ms after the first), waits for the exit. */
function run(mode: 'ok' | 'fail' | 'hang', deadlineMs: number, signals: NodeJS.Signals[]) {
  return new Promise<Outcome>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SCRIPT], {
      env: { PATH: process.env.PATH, STOP_MODE: mode, DEADLINE_MS: String(deadlineMs) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    let signalledAt = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running after 30 s:\n${log}`));
    }, 30000);
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      log += d.toString();
      if (signalledAt === 0 && log.includes('ready')) {
        signalledAt = Date.now();
        child.kill(signals[0]);
        if (signals[1] !== undefined) {
          const second = signals[1];
          setTimeout(() => child.kill(second), 200);
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, log, afterSignalMs: Date.now() - signalledAt });
    });
  });
}

beforeAll(() => buildIfStale());

test('SIGTERM: the stop runs, then exit 0', async () => {
  const r = await run('ok', 10000, ['SIGTERM']);
  expect({ code: r.code, stopping: r.log.includes('"msg":"stopping"') }).toEqual({
    code: 0,
    stopping: true,
  });
});

test('SIGINT (Ctrl-C) is the same', async () => {
  expect((await run('ok', 10000, ['SIGINT'])).code).toBe(0);
});

test('an error while stopping: exit 1, logged', async () => {
  const r = await run('fail', 10000, ['SIGTERM']);
  expect(r.code).toBe(1);
  expect(r.log).toContain('error while stopping');
});

test('a stop that outlives the grace period: exit 1 once the deadline passed', async () => {
  const r = await run('hang', 800, ['SIGTERM']);
  expect(r.code).toBe(1);
  expect(r.log).toContain('grace period exceeded');
  expect(r.afterSignalMs).toBeGreaterThanOrEqual(800);
});

test('a second signal while stopping: exit 1 at once, long before the deadline', async () => {
  const r = await run('hang', 60000, ['SIGTERM', 'SIGINT']);
  expect(r.code).toBe(1);
  expect(r.log).toContain('second signal: exiting now');
  expect(r.log).not.toContain('grace period exceeded');
});
