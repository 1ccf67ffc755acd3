import { execFile, fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { Kafka } from '../src/kafka/client';
import { loadConfig } from '../src/config';
import { deleteTopics, endOffsets, ensureTopic } from '../src/kafka/admin';
import { loadSchema } from '../src/schemas';
import { OK_REPLY } from '../src/tencent/reply';
import type { CeilingCommand, CeilingReply } from './kafka-ceiling';
import { closedLoop, httpSender, openLoop, type LoadResult, type Send } from './load';
import { bodyOf, callbackTemplates, msgKeyOf, type CallbackTemplate } from './mix';
import { metricValue, scrape, waitFor } from '../test/support/wait';
import { APP, freePort, ROOT, signedPathCache, startBridgeProcess, TOKEN } from './support';

/**
 * The systems the benchmark compares, each behind one interface: started as its own process
 * (so its CPU and memory are its own), driven by the same load generator with the same
 * callbacks, and checked against its topic.
 */

export type SystemId = 'bridge' | 'kafka-ceiling' | 'http-ceiling' | 'jvm-peer' | 'go-peer';

export interface Drive {
  mode: 'closed' | 'open';
  /** closed: clients; open: callbacks per second */
  level: number;
  seconds: number;
}

export interface DriveResult {
  result: LoadResult;
  /** Records per produce request over the run, when the system produces. */
  avgBatch: number | undefined;
}

export interface RunningSystem {
  id: SystemId;
  pid: number;
  /** The topic it produces to, if it produces. */
  topic: string | undefined;
  drive(d: Drive, firstIndex: number): Promise<DriveResult>;
  /**
   * Callbacks it answered OK from its local spool instead of Kafka (a publish past its deadline),
   * once the spool is empty: each may be stored twice (at least once), so the topic may hold that
   * many more records than callbacks acked.
   */
  spooled?(): Promise<number>;
  stop(): Promise<void>;
}

export interface SystemContext {
  kafka: Kafka;
  brokers: string[];
  registryUrl: string;
  runId: string;
  templates: CallbackTemplate[];
  partitions: number;
  /** MsgKeys of every acknowledged callback go here when given (the smoke test checks them). */
  ackedKeys?: Set<string>;
  /** Leave the topics in place after stopping (to read them back); else they are deleted. */
  keepTopics?: boolean;
}

export const LABELS: Record<SystemId, string> = {
  bridge: 'tim-kafka-bridge (this project)',
  'kafka-ceiling': 'Kafka ceiling (encode + produce, no HTTP)',
  'http-ceiling': 'HTTP ceiling (node:http, JSON.parse, OK)',
  'jvm-peer': 'JVM peer (stand-in for Strimzi: JDK HttpServer + kafka-clients)',
  'go-peer': 'Go peer (net/http + franz-go + hamba/avro, by hand)',
};

/** A system that cannot run on this machine (its toolchain is missing): reported `not run`. */
export class NotRunError extends Error {
  override name = 'NotRunError';
}

const OPEN_MAX_SOCKETS = 256;

/** Drives an HTTP endpoint with the generator, both modes. */
function httpDrive(
  origin: string,
  ctx: SystemContext,
  path: () => string,
): (d: Drive, firstIndex: number) => Promise<LoadResult> {
  return async (d, firstIndex) => {
    const sender = httpSender({
      origin,
      path,
      body: (i) => bodyOf(ctx.templates, ctx.runId, i),
      okBody: OK_REPLY,
      maxSockets: d.mode === 'closed' ? d.level : OPEN_MAX_SOCKETS,
    });
    const send = recordingAcks(sender.send, ctx);
    try {
      return d.mode === 'closed'
        ? await closedLoop({ send, concurrency: d.level, seconds: d.seconds, firstIndex })
        : await openLoop({ send, rate: d.level, seconds: d.seconds, firstIndex });
    } finally {
      sender.close();
    }
  };
}

function recordingAcks(send: Send, ctx: SystemContext): Send {
  const keys = ctx.ackedKeys;
  if (keys === undefined) return send;
  return async (i) => {
    const ok = await send(i);
    if (ok) keys.add(msgKeyOf(ctx.runId, i));
    return ok;
  };
}

/** Sum and count of an unlabelled Prometheus histogram. */
async function histogramTotals(
  adminUrl: string,
  name: string,
): Promise<{ sum: number; count: number }> {
  const text = await scrape(adminUrl);
  return {
    sum: metricValue(text, `${name}_sum`) ?? 0,
    count: metricValue(text, `${name}_count`) ?? 0,
  };
}

export async function startBridge(ctx: SystemContext): Promise<RunningSystem> {
  const topic = `bench.bridge.${ctx.runId}`;
  const bridge = await startBridgeProcess({
    KAFKA_BROKERS: ctx.brokers.join(','),
    SCHEMA_REGISTRY_URL: ctx.registryUrl,
    KAFKA_TOPIC: topic,
    KAFKA_DLQ_TOPIC: `${topic}.dlq`,
    KAFKA_TOPIC_PARTITIONS: String(ctx.partitions),
  });
  const drive = httpDrive(bridge.url, ctx, signedPathCache());
  return {
    id: 'bridge',
    pid: bridge.child.pid as number,
    topic,
    async drive(d, firstIndex) {
      const before = await histogramTotals(bridge.adminUrl, 'tim_bridge_producer_batch_records');
      const result = await drive(d, firstIndex);
      const after = await histogramTotals(bridge.adminUrl, 'tim_bridge_producer_batch_records');
      const batches = after.count - before.count;
      return { result, avgBatch: batches > 0 ? (after.sum - before.sum) / batches : undefined };
    },
    async spooled() {
      const drained = async () =>
        (metricValue(await scrape(bridge.adminUrl), 'tim_bridge_spool_records') ?? 0) === 0;
      await waitFor('the bridge spool to drain', drained, 60000, 200);
      const text = await scrape(bridge.adminUrl);
      return metricValue(text, 'tim_bridge_callbacks_accepted_total{outcome="spooled"}') ?? 0;
    },
    async stop() {
      await bridge.stop();
      if (!ctx.keepTopics) await deleteTopics(ctx.kafka, [topic, `${topic}.dlq`]);
    },
  };
}

/** Waits for a child's `listening <port>` line on stdout. */
async function listeningPort(child: ChildProcess, what: string, log: string): Promise<number> {
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const exited = once(child, 'exit').then(() => {
    throw new Error(`${what} exited before listening: see ${log}`);
  });
  const port = new Promise<number>((resolve) => {
    lines.on('line', (line) => {
      const m = /^listening (\d+)$/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
  return Promise.race([port, exited]);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(timer);
}

function logFile(name: string): { path: string; fd: number } {
  const path = join(mkdtempSync(join(tmpdir(), `tim-bench-${name}-`)), `${name}.log`);
  return { path, fd: openSync(path, 'a') };
}

export async function startHttpCeiling(ctx: SystemContext): Promise<RunningSystem> {
  const log = logFile('http-ceiling');
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'bench', 'http-ceiling.js')], {
    stdio: ['ignore', 'pipe', log.fd],
  });
  const port = await listeningPort(child, 'the HTTP ceiling', log.path);
  const drive = httpDrive(`http://127.0.0.1:${port}`, ctx, () => '/callback');
  return {
    id: 'http-ceiling',
    pid: child.pid as number,
    topic: undefined,
    drive: async (d, firstIndex) => ({ result: await drive(d, firstIndex), avgBatch: undefined }),
    stop: () => stopChild(child),
  };
}

export async function startJvmPeer(ctx: SystemContext): Promise<RunningSystem> {
  const topic = `bench.jvm-peer.${ctx.runId}`;
  await ensureTopic(ctx.kafka, { topic, numPartitions: ctx.partitions, replicationFactor: 1 });
  const classpath = readFileSync(kafkaClasspathFile(), 'utf8').trim();
  const log = logFile('jvm-peer');
  const port = await freePort();
  const child = spawn(
    'java',
    [
      // a heap as small as our RSS target allows: a JVM left to its defaults takes 1/4 of RAM
      '-Xmx256m',
      // the JDK server otherwise leaves Nagle on: ~40 ms per reply (delayed ACKs), not Strimzi-like
      '-Dsun.net.httpserver.nodelay=true',
      // and keeps at most 200 idle keep-alive connections, closing others under the open loop's 256
      '-Dsun.net.httpserver.maxIdleConnections=1024',
      `-Dlog4j2.configurationFile=${join(ROOT, 'scripts', 'stack', 'log4j2.xml')}`,
      '-Dstack.log.level=WARN',
      '-Dstack.log.target=SYSTEM_ERR',
      '-cp',
      classpath,
      join(ROOT, 'scripts', 'bench', 'JvmPeer.java'),
      String(port),
      ctx.brokers.join(','),
      topic,
    ],
    { stdio: ['ignore', 'pipe', log.fd], env: { ...process.env, LC_ALL: 'C.UTF-8' } },
  );
  await listeningPort(child, 'the JVM peer', log.path);
  const origin = `http://127.0.0.1:${port}`;
  const drive = httpDrive(origin, ctx, () => '/callback');
  return {
    id: 'jvm-peer',
    pid: child.pid as number,
    topic,
    async drive(d, firstIndex) {
      const result = await drive(d, firstIndex);
      // kafka-clients' own average (over its recent sample windows: about the last 30 s)
      const stats = (await (await fetch(`${origin}/stats`)).json()) as {
        recordsPerRequestAvg: number;
      };
      const avg = stats.recordsPerRequestAvg;
      return { result, avgBatch: Number.isFinite(avg) ? avg : undefined };
    },
    async stop() {
      await stopChild(child);
      if (!ctx.keepTopics) await deleteTopics(ctx.kafka, [topic]);
    },
  };
}

/** The peer's producer stats: records per produce request since the last call (JSON null when none). */
async function peerStats(origin: string): Promise<number | undefined> {
  const stats = (await (await fetch(`${origin}/stats`)).json()) as {
    recordsPerRequestAvg: number | null;
  };
  const avg = stats.recordsPerRequestAvg;
  return typeof avg === 'number' && Number.isFinite(avg) ? avg : undefined;
}

const GO_PEER_DIR = join(ROOT, 'scripts', 'bench', 'go-peer');

/**
 * The Go peer (scripts/bench/go-peer): built with the local Go (modules from the Go module proxy,
 * cached in Go's default GOMODCACHE and GOCACHE), then started on its own topic. Authenticates
 * the same signed queries as the bridge and registers the bridge's schema under its topic.
 */
export async function startGoPeer(ctx: SystemContext): Promise<RunningSystem> {
  const env = { ...process.env, GOTOOLCHAIN: 'local' };
  const version = spawnSync('go', ['version'], { env, encoding: 'utf8' });
  if (version.error !== undefined)
    throw new NotRunError(`Go is not installed (go is not on PATH: ${version.error.message})`);
  const log = logFile('go-peer');
  const binary = join(dirname(log.path), 'go-peer');
  try {
    // no VCS stamp (the binary is thrown away after the run)
    await promisify(execFile)('go', ['build', '-buildvcs=false', '-o', binary, '.'], {
      cwd: GO_PEER_DIR,
      env,
      maxBuffer: 16 * 2 ** 20,
    });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`go build failed in ${GO_PEER_DIR}: ${(e.stderr ?? e.message).trim()}`, {
      cause: err,
    });
  }
  // the schema the bridge registers: c2c-after-send-msg.avsc with its shared types written out
  const schemaFile = join(dirname(log.path), 'c2c-after-send-msg.json');
  writeFileSync(schemaFile, JSON.stringify(loadSchema()));
  const topic = `bench.go-peer.${ctx.runId}`;
  await ensureTopic(ctx.kafka, { topic, numPartitions: ctx.partitions, replicationFactor: 1 });
  const port = await freePort();
  const child = spawn(
    binary,
    [
      ...['-port', String(port), '-brokers', ctx.brokers.join(','), '-topic', topic],
      ...['-registry', ctx.registryUrl, '-schema', schemaFile, '-app', APP, '-token', TOKEN],
    ],
    { stdio: ['ignore', 'pipe', log.fd] },
  );
  await listeningPort(child, 'the Go peer', log.path);
  const origin = `http://127.0.0.1:${port}`;
  const drive = httpDrive(origin, ctx, signedPathCache());
  return {
    id: 'go-peer',
    pid: child.pid as number,
    topic,
    async drive(d, firstIndex) {
      await peerStats(origin); // its averages are since the last call: start them here
      const result = await drive(d, firstIndex);
      return { result, avgBatch: await peerStats(origin) };
    },
    async stop() {
      await stopChild(child);
      if (!ctx.keepTopics) await deleteTopics(ctx.kafka, [topic]);
    },
  };
}

export function kafkaClasspathFile(): string {
  return join(process.env.STACK_DIR ?? join(ROOT, '.stack'), 'kafka.classpath');
}

export async function startKafkaCeiling(ctx: SystemContext): Promise<RunningSystem> {
  const topic = `bench.kafka-ceiling.${ctx.runId}`;
  await ensureTopic(ctx.kafka, { topic, numPartitions: ctx.partitions, replicationFactor: 1 });
  const config = loadConfig(process.env); // the bridge's batching settings, defaults included
  const log = logFile('kafka-ceiling');
  const child = fork(join(ROOT, 'dist', 'bench', 'kafka-ceiling.js'), [], {
    stdio: ['ignore', log.fd, log.fd, 'ipc'],
  });
  const replies: CeilingReply[] = [];
  let wake: (() => void) | undefined;
  child.on('message', (m: CeilingReply) => {
    replies.push(m);
    wake?.();
  });
  child.on('exit', () => wake?.());
  const next = async (): Promise<CeilingReply> => {
    while (replies.length === 0) {
      if (child.exitCode !== null) throw new Error(`the Kafka ceiling exited: see ${log.path}`);
      await new Promise<void>((resolve) => (wake = resolve));
    }
    const reply = replies.shift() as CeilingReply;
    if (reply.type === 'error') throw new Error(`Kafka ceiling: ${reply.message}`);
    return reply;
  };
  const command = (cmd: CeilingCommand): void => void child.send(cmd);
  command({
    type: 'setup',
    brokers: ctx.brokers,
    registryUrl: ctx.registryUrl,
    topic,
    runId: ctx.runId,
    templates: ctx.templates.length,
    recipients: 5000,
    maxBatchRecords: config.BATCH_MAX_RECORDS,
    maxWaitMs: config.BATCH_MAX_WAIT_MS,
    timeoutMs: config.PUBLISH_TIMEOUT_MS,
  });
  await next();
  return {
    id: 'kafka-ceiling',
    pid: child.pid as number,
    topic,
    async drive(d, firstIndex) {
      command(
        d.mode === 'closed'
          ? { type: 'closed', concurrency: d.level, seconds: d.seconds, firstIndex }
          : { type: 'open', rate: d.level, seconds: d.seconds, firstIndex },
      );
      const reply = await next();
      if (reply.type !== 'result') throw new Error(`Kafka ceiling: unexpected ${reply.type}`);
      return {
        result: reply.result,
        avgBatch: reply.batches > 0 ? reply.batchRecords / reply.batches : undefined,
      };
    },
    async stop() {
      const exited = once(child, 'exit');
      command({ type: 'stop' });
      await exited;
      if (!ctx.keepTopics) await deleteTopics(ctx.kafka, [topic]);
    },
  };
}

/** Topic records (sum of end offsets; the topics are fresh). */
export async function topicRecords(kafka: Kafka, topic: string): Promise<number> {
  let n = 0n;
  for (const high of (await endOffsets(kafka, topic)).values()) n += high;
  return Number(n);
}

export { callbackTemplates };
