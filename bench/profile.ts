import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createKafka } from '../src/kafka/client';
import { deleteTopics } from '../src/kafka/admin';
import { createLogger } from '../src/observability/logger';
import { OK_REPLY } from '../src/tencent/reply';
import { closedLoop, httpSender } from './load';
import { bodyOf, callbackTemplates } from './mix';
import { signedPathCache, startBridgeProcess } from './support';

/**
 * `npm run bench:profile [-- seconds clients]`: the production build under `--cpu-prof`, driven
 * closed-loop with the bench's callbacks; prints where the bridge's CPU time goes (self time by
 * bucket) and the profile's path (open it in Chrome DevTools or speedscope for the detail).
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Ordered: the first pattern that matches a frame's URL or name names its bucket. */
const BUCKETS: [string, (f: ProfileNode['callFrame']) => boolean][] = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['idle', (f) => f.functionName === '(idle)'],
  ['V8/native (program)', (f) => f.functionName === '(program)'],
  ['KafkaJS', (f) => f.url.includes('/kafkajs/')],
  ['Avro encode (avsc)', (f) => f.url.includes('/avsc/')],
  [
    'validation (ajv, generated code)',
    (f) => f.url.includes('/ajv/') || /^validate\d*$/.test(f.functionName),
  ],
  [
    'Express + its middleware',
    (f) =>
      /\/node_modules\/(express|router|body-parser|raw-body|finalhandler|send|qs|type-is|content-type|mime-types|on-finished|iconv-lite|depd|media-typer|parseurl|accepts|negotiator|encodeurl|etag|fresh|statuses|http-errors|content-disposition|vary|proxy-addr|forwarded|cookie|path-to-regexp|debug|ms|unpipe|destroy|ee-first|merge-descriptors|setprototypeof|inherits|safe-buffer|bytes)\//.test(
        f.url,
      ),
  ],
  ['prom-client (metrics)', (f) => f.url.includes('/prom-client/')],
  ['pino (logging)', (f) => f.url.includes('/pino')],
  [
    'node:http and sockets',
    (f) =>
      /^node:(_http|http|net|stream|internal\/(streams|http|net|stream_base|js_stream))/.test(
        f.url,
      ) || /^node:internal\/(http|streams)/.test(f.url),
  ],
  [
    'JSON.parse / stringify',
    (f) =>
      f.functionName === 'parse' && f.url === ''
        ? true
        : f.functionName === 'stringify' && f.url === '',
  ],
  ['the bridge (src/)', (f) => f.url.includes('/dist/src/')],
  ['other node: internals', (f) => f.url.startsWith('node:')],
  ['other native', (f) => f.url === ''],
];

export function summarise(profile: CpuProfile): { bucket: string; ms: number; share: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, k) =>
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[k] ?? 0)),
  );
  const totals = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    const bucket = BUCKETS.find(([, test]) => test(frame))?.[0] ?? 'other';
    totals.set(bucket, (totals.get(bucket) ?? 0) + us);
    if (bucket !== 'idle') busy += us;
  }
  return [...totals]
    .filter(([b]) => b !== 'idle')
    .map(([bucket, us]) => ({ bucket, ms: Math.round(us / 1000), share: us / busy }))
    .sort((a, b) => b.ms - a.ms);
}

/**
 * Self time attributed to its owner: the nearest frame up the stack (itself included) that is in
 * a package or in the bridge's own code, so that native work (Buffer writes, hashing, JSON)
 * counts for whoever asked for it; GC and V8's own time stay as they are.
 */
export function byOwner(profile: CpuProfile): { owner: string; ms: number; share: number }[] {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const parent = new Map<number, number>();
  for (const x of profile.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
  const ownerOf = (id: number): string => {
    const first = (byId.get(id) as ProfileNode).callFrame;
    if (first.functionName.startsWith('(')) return first.functionName;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const { url } = (byId.get(cur) as ProfileNode).callFrame;
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
      if (pkg) return EXPRESS_PACKAGES.has(pkg) ? 'express (and its middleware)' : pkg;
      const own = /\/dist\/(src\/.*)\.js$/.exec(url)?.[1];
      if (own) return own;
    }
    return first.url.startsWith('node:') ? 'node internals (http, streams, timers)' : 'native';
  };
  const totals = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, k) => {
    const owner = ownerOf(id);
    if (owner === '(idle)') return;
    const us = profile.timeDeltas[k] ?? 0;
    totals.set(owner, (totals.get(owner) ?? 0) + us);
    busy += us;
  });
  return [...totals]
    .map(([owner, us]) => ({ owner, ms: Math.round(us / 1000), share: us / busy }))
    .sort((a, b) => b.ms - a.ms);
}

const EXPRESS_PACKAGES = new Set(
  'express router body-parser raw-body finalhandler send qs type-is content-type mime-types on-finished iconv-lite depd media-typer parseurl accepts negotiator encodeurl etag fresh statuses http-errors content-disposition vary proxy-addr forwarded cookie path-to-regexp debug ms unpipe destroy ee-first merge-descriptors setprototypeof inherits safe-buffer bytes'.split(
    ' ',
  ),
);

/** The heaviest functions by self time (name, file, ms). */
export function topFunctions(profile: CpuProfile, n = 25): string[] {
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, k) => {
    const f = (byId.get(id) as ProfileNode).callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[k] ?? 0));
  });
  return [...self]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}

async function main(): Promise<void> {
  const [seconds = 15, clients = 64] = process.argv.slice(2).map(Number);
  const topic = `bench.profile.${Date.now()}`;
  const bridge = await startBridgeProcess(
    { KAFKA_TOPIC: topic, KAFKA_DLQ_TOPIC: `${topic}.dlq`, KAFKA_TOPIC_PARTITIONS: '6' },
    ['--cpu-prof', '--cpu-prof-dir=prof'],
  );
  const templates = callbackTemplates(2000);
  const path = signedPathCache();
  const sender = httpSender({
    origin: bridge.url,
    path,
    body: (i) => bodyOf(templates, 'profile', i),
    okBody: OK_REPLY,
    maxSockets: clients,
  });
  try {
    await closedLoop({ send: sender.send, concurrency: clients, seconds: 3 });
    const r = await closedLoop({
      send: sender.send,
      concurrency: clients,
      seconds,
      firstIndex: 1e7,
    });
    process.stdout.write(
      `${clients} clients, ${seconds} s: ${r.ackedPerSecond.toFixed(0)} acked/s, p99 ${r.p99Ms} ms\n`,
    );
  } finally {
    sender.close();
    await bridge.stop();
  }
  const dir = join(bridge.dir, 'prof');
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile written in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  process.stdout.write(
    '\nCPU time by owner (nearest package or src/ file up the stack; warm-up included):\n',
  );
  for (const b of byOwner(profile).slice(0, 20)) {
    process.stdout.write(
      `${b.ms.toString().padStart(7)} ms  ${(b.share * 100).toFixed(1).padStart(5)} %  ${b.owner}\n`,
    );
  }
  process.stdout.write('\nself time by bucket:\n');
  for (const b of summarise(profile)) {
    process.stdout.write(
      `${b.ms.toString().padStart(7)} ms  ${(b.share * 100).toFixed(1).padStart(5)} %  ${b.bucket}\n`,
    );
  }
  process.stdout.write(
    `\nheaviest functions:\n${topFunctions(profile).join('\n')}\n\nprofile: ${join(dir, file)}\n`,
  );
  const kafka = createKafka({
    brokers: [process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'],
    clientId: 'bench-profile',
    logger: createLogger({ level: 'error' }),
  });
  await deleteTopics(kafka, [topic, `${topic}.dlq`]);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
