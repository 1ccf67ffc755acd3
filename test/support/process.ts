import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
} from 'node:fs';
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { sign } from '../../src/tencent/signature';
import { QUERY } from './fixtures';
import { KAFKA_BROKERS, ROOT, SCHEMA_REGISTRY_URL, STACK_SCRIPT } from './stack';

/**
 * The bridge as a real, separate process (`node dist/src/main.js`): what production runs,
 * signals and crashes included. Helpers to build it, start it, sign requests to it, and to
 * drive the local stack without blocking the event loop.
 */

export const SDKAPPID = '1400000001';
export const CALLBACK_TOKEN = 'outage-test-token';
export const MAIN_JS = join(ROOT, 'dist', 'src', 'main.js');
/** Node's flags in `npm start` (`node <flags> dist/src/main.js`), so tests run what production runs. */
export const START_FLAGS: string[] = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start
  .split(/\s+/)
  .filter((t) => t.startsWith('--'));

/** Compiles src/ to dist/ (tsc -p tsconfig.build.json) when dist is missing or older than src. */
export function buildIfStale(force = false): void {
  const newestSrc = newestMtime(join(ROOT, 'src'));
  if (!force && existsSync(MAIN_JS) && statSync(MAIN_JS).mtimeMs >= newestSrc) return;
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'pipe',
  });
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** A TCP port that was free a moment ago (a server on port 0, closed, its number reused). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function accepts(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface BridgeSetup {
  topic: string;
  spoolDir: string;
  port: number;
  adminPort: number;
  /** Where each process's stdout+stderr go: `<logDir>/<name>.log`. */
  logDir: string;
  /** More environment variables (override the defaults). */
  env?: Record<string, string>;
  /**
   * The process writes its output into a pipe, which this process appends to the log file,
   * rather than into the file itself: for a test that limits the size of the files the bridge
   * may write (`prlimit --fsize`), a limit that would refuse its log lines too.
   */
  pipeOutput?: boolean;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BridgeProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  callbackUrl: string;
  adminUrl: string;
  port: number;
  adminPort: number;
  logFile: string;
  exited: Promise<ExitStatus>;
  /** Undefined while it runs. */
  exitStatus: ExitStatus | undefined;
  /** The captured log (stdout and stderr). */
  log(): string;
  /** The JSON log lines that parse, in order. */
  logLines(): Record<string, unknown>[];
  kill(signal: NodeJS.Signals): void;
  /** Resolves with the exit status, or rejects once timeoutMs passed. */
  waitExit(timeoutMs: number): Promise<ExitStatus>;
}

const running = new Set<BridgeProcess>();

/**
 * The tests' default routing: only C2C.CallbackAfterSendMsg stored (on the test's unique topic),
 * so that a bridge does not create the catalogue's ~60 topics and subjects; the catalogue tests
 * route every command (test/integration/catalogue.test.ts).
 */
export const ONLY_C2C_ROUTED = {
  COMMAND_ROUTES: '*=off,C2C.CallbackAfterSendMsg=on',
  KAFKA_OTHER_CALLBACKS_TOPIC: 'off',
};

export function bridgeEnv(setup: BridgeSetup): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    ADMIN_HOST: '127.0.0.1',
    PORT: String(setup.port),
    ADMIN_PORT: String(setup.adminPort),
    KAFKA_BROKERS,
    SCHEMA_REGISTRY_URL,
    KAFKA_TOPIC: setup.topic,
    KAFKA_DLQ_TOPIC: `${setup.topic}.dlq`,
    KAFKA_TOPIC_PARTITIONS: '6',
    KAFKA_TOPIC_REPLICATION_FACTOR: '1',
    SPOOL_DIR: setup.spoolDir,
    ...ONLY_C2C_ROUTED,
    TENCENT_SDKAPPIDS: SDKAPPID,
    TENCENT_CALLBACK_TOKEN: CALLBACK_TOKEN,
    LOG_LEVEL: 'info',
    ...setup.env,
  };
}

/** Starts `node dist/src/main.js` with the setup's environment; does not wait for it. */
export function spawnBridge(name: string, setup: BridgeSetup): BridgeProcess {
  mkdirSync(setup.logDir, { recursive: true });
  const logFile = join(setup.logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...START_FLAGS, MAIN_JS], {
      cwd: ROOT,
      env: bridgeEnv(setup),
      stdio: setup.pipeOutput ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  if (setup.pipeOutput) {
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk: Buffer) => appendFileSync(logFile, chunk));
    }
  }
  if (child.pid === undefined) throw new Error(`could not spawn the bridge ${name}`);
  const bridge: BridgeProcess = {
    name,
    child,
    pid: child.pid,
    port: setup.port,
    adminPort: setup.adminPort,
    callbackUrl: `http://127.0.0.1:${setup.port}/callback`,
    adminUrl: `http://127.0.0.1:${setup.adminPort}`,
    logFile,
    exitStatus: undefined,
    exited: new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => {
        bridge.exitStatus = { code, signal };
        running.delete(bridge);
        resolve(bridge.exitStatus);
      });
    }),
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    logLines: () =>
      bridge
        .log()
        .split('\n')
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    kill: (signal) => {
      if (bridge.exitStatus === undefined) child.kill(signal);
    },
    waitExit: (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        bridge.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(`bridge ${name} (pid ${bridge.pid}) still runs after ${timeoutMs} ms`),
              ),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    },
  };
  running.add(bridge);
  return bridge;
}

/**
 * Waits until the bridge serves: `/readyz` 200 when `ready`, otherwise `/healthz` 200 and the
 * callback port accepting connections (with Kafka down the bridge serves, but is not ready).
 * Fails at once, with its log, if the process exits.
 */
export async function waitServing(
  bridge: BridgeProcess,
  opts: { ready: boolean; timeoutMs?: number },
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60000);
  for (;;) {
    if (bridge.exitStatus !== undefined) {
      throw new Error(
        `bridge ${bridge.name} exited (${JSON.stringify(bridge.exitStatus)}) before serving:\n${tail(bridge.log())}`,
      );
    }
    if (await serving(bridge, opts.ready)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `bridge ${bridge.name} not ${opts.ready ? 'ready' : 'serving'} in time:\n${tail(bridge.log())}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function serving(bridge: BridgeProcess, ready: boolean): Promise<boolean> {
  try {
    const res = await fetch(`${bridge.adminUrl}/${ready ? 'readyz' : 'healthz'}`, {
      signal: AbortSignal.timeout(2000),
    });
    await res.arrayBuffer();
    if (res.status !== 200) return false;
    return ready || (await accepts(bridge.port));
  } catch {
    return false;
  }
}

export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** SIGKILLs every bridge process still running (afterAll). */
export async function killAllBridges(): Promise<void> {
  const left = [...running];
  for (const b of left) b.kill('SIGKILL');
  await Promise.all(left.map((b) => b.exited));
}

/** Tencent's query string for C2C.CallbackAfterSendMsg, signed with the token for now. */
export function signedQuery(token = CALLBACK_TOKEN, nowMs = Date.now()): string {
  const requestTime = String(Math.floor(nowMs / 1000));
  return new URLSearchParams({
    ...QUERY,
    SdkAppid: SDKAPPID,
    RequestTime: requestTime,
    Sign: sign(token, requestTime),
  }).toString();
}

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * POSTs with node:http (so that a refused connection, a reset and a hang-up are told apart by
 * their error code, and `Connection: close` is visible). Rejects with the socket's error.
 */
export function post(
  url: string,
  body: string,
  opts: { agent?: Agent; timeoutMs?: number } = {},
): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent: opts.agent,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 15000, () =>
      req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })),
    );
    req.on('error', (err: Error & { reusedSocket?: boolean }) => {
      // a reset on a reused keep-alive socket: the server closed it as our request went out
      err.reusedSocket = req.reusedSocket;
      reject(err);
    });
    req.end(body);
  });
}

/**
 * Runs `stack.sh <args>` asynchronously (kafka-start takes ~10 s: the clients keep going), with
 * extra environment (STACK_DIR, KAFKA_PORT, ... for a private stack). Rejects with its output on
 * a non-zero exit.
 */
export function stackAsync(args: string[], env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [STACK_SCRIPT, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`stack.sh ${args.join(' ')} failed (${code ?? signal}):\n${output}`));
    });
  });
}
