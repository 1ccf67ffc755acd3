import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import autocannon from 'autocannon';
import { schemasDir } from '../src/schemas';
import { sign } from '../src/tencent/signature';

/** Shared pieces of the benchmarks: the bridge as a process, signed load with autocannon. */
/** The package root (from src or from dist alike). */
export const ROOT = dirname(schemasDir());
export const TOKEN = 'bench-token';
export const APP = '1400000001';

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

export interface BridgeProcess {
  url: string;
  adminUrl: string;
  child: ChildProcess;
  /** The process's own directory (its log, spool, and any --cpu-prof output). */
  dir: string;
  stop(): Promise<void>;
}

/** Node's flags in `npm start` (`node <flags> dist/src/main.js`): the bench runs what production runs. */
function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: { start: string };
  };
  return pkg.scripts.start.split(/\s+/).filter((t) => t.startsWith('--'));
}

/**
 * The production build (`npm start`'s `node <flags> dist/src/main.js`) with the given environment, once ready.
 * `nodeArgs` go before the script (e.g. `--cpu-prof`); the process runs in its own directory.
 */
export async function startBridgeProcess(
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<BridgeProcess> {
  const [port, adminPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'tim-bench-'));
  const log = openSync(join(dir, 'bridge.log'), 'a');
  const child = spawn(
    process.execPath,
    [...startFlags(), ...nodeArgs, join(ROOT, 'dist', 'src', 'main.js')],
    {
      cwd: dir,
      env: {
        ...process.env,
        HOST: '127.0.0.1',
        ADMIN_HOST: '127.0.0.1',
        PORT: String(port),
        ADMIN_PORT: String(adminPort),
        SPOOL_DIR: join(dir, 'spool'),
        KAFKA_TOPIC_REPLICATION_FACTOR: '1',
        TENCENT_SDKAPPIDS: APP,
        TENCENT_CALLBACK_TOKEN: TOKEN,
        LOG_LEVEL: 'warn',
        SHUTDOWN_DELAY_MS: '0',
        // the bridge's own Node flags (e.g. a heap cap), never the harness's
        NODE_OPTIONS: process.env.BENCH_BRIDGE_NODE_OPTIONS ?? '',
        ...env,
      },
      stdio: ['ignore', log, log],
    },
  );
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bridge exited: see ${join(dir, 'bridge.log')}`);
    const ok = await fetch(`${adminUrl}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      // never left behind: a stray bridge would take CPU from every run after it
      child.kill('SIGKILL');
      throw new Error(`bridge not ready: ${readFileSync(join(dir, 'bridge.log'), 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    adminUrl,
    child,
    dir,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** A signed callback query for now (RequestTime changes every second, so the signature too). */
export function signedPath(): string {
  const t = Math.floor(Date.now() / 1000);
  return `/callback?SdkAppid=${APP}&CallbackCommand=C2C.CallbackAfterSendMsg&contenttype=json&ClientIP=127.0.0.1&OptPlatform=iOS&RequestTime=${t}&Sign=${sign(TOKEN, t)}`;
}

/** signedPath(), signed once per second rather than once per request (the generator's CPU). */
export function signedPathCache(): () => string {
  let second = -1;
  let path = '';
  return () => {
    const t = Math.floor(Date.now() / 1000);
    if (t !== second) {
      second = t;
      path = signedPath();
    }
    return path;
  };
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  non2xx: number;
  errors: number;
  total: number;
}

/** Closed-loop load: `connections` clients, each sending the next body once answered. */
export async function closedLoop(opts: {
  url: string;
  bodies: string[];
  connections: number;
  seconds: number;
}): Promise<LoadResult> {
  let i = 0;
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          path: signedPath(),
          body: opts.bodies[i++ % opts.bodies.length] as string,
        }),
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    p999Ms: result.latency.p99_9,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    total: result.requests.total,
  };
}

/** Realistic bodies: the text fixture with a unique MsgKey each, to many recipients. */
export function textBodies(n: number): string[] {
  const base = JSON.parse(
    readFileSync(join(ROOT, 'test/fixtures/callbacks/text.json'), 'utf8'),
  ) as object;
  return Array.from({ length: n }, (_, k) =>
    JSON.stringify({ ...base, To_Account: `user-${k % 997}`, MsgSeq: k, MsgKey: `bench-${k}` }),
  );
}
