import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createKafka } from '../src/kafka/client';
import { createLogger } from '../src/observability/logger';
import { memoryMiB, ProcessMeter } from './proc';
import {
  computeRatios,
  markdown,
  ratioTable,
  svgChart,
  type BenchResults,
  type RunRow,
  type SystemSummary,
} from './report';
import {
  LABELS,
  NotRunError,
  callbackTemplates,
  startBridge,
  startGoPeer,
  startHttpCeiling,
  startJvmPeer,
  startKafkaCeiling,
  topicRecords,
  type Drive,
  type RunningSystem,
  type SystemContext,
  type SystemId,
} from './systems';
import { ROOT } from './support';

/**
 * `npm run bench`: the bridge (production build) against its baselines, in one run, on one
 * machine, with one load generator and one set of callbacks; every target is a ratio of two
 * figures from this run. Writes bench/results/<date>.json and .md, the chart, and the results
 * block of docs/performance.md. `npm run bench -- --help` for the options.
 */

export interface BenchOptions {
  systems: SystemId[];
  /** Closed-loop clients per run (the maximum is the best of these). */
  levels: number[];
  seconds: number;
  warmupSeconds: number;
  /** Open-loop rates, as fractions of a system's maximum (ours for the ceilings). */
  fractions: number[];
  openSeconds: number;
  partitions: number;
  templates: number;
  resultsDir: string;
  /** Replace the results block of docs/performance.md. */
  docs: boolean;
  /** Check Maven Central for io.strimzi:kafka-bridge (one HTTP request). */
  checkStrimzi: boolean;
  ackedKeys?: Set<string>;
  keepTopics?: boolean;
  log?: (line: string) => void;
}

export const DEFAULTS: BenchOptions = {
  systems: ['bridge', 'kafka-ceiling', 'http-ceiling', 'jvm-peer', 'go-peer'],
  levels: [8, 32, 128],
  seconds: 10,
  warmupSeconds: 4,
  fractions: [0.25, 0.5, 0.75],
  openSeconds: 30,
  partitions: 6,
  templates: 2000,
  resultsDir: join(ROOT, 'bench', 'results'),
  docs: true,
  checkStrimzi: true,
};

const STRIMZI_METADATA =
  'https://repo.maven.apache.org/maven2/io/strimzi/kafka-bridge/maven-metadata.xml';

/** Uses the configured Kafka (KAFKA_BROKERS) or brings the local stack up. */
function ensureStack(log: (l: string) => void): { brokers: string[]; registryUrl: string } {
  const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
  if (process.env.KAFKA_BROKERS) {
    log(`using the configured Kafka ${process.env.KAFKA_BROKERS}`);
    return { brokers: process.env.KAFKA_BROKERS.split(','), registryUrl };
  }
  const script = join(ROOT, 'scripts', 'stack', 'stack.sh');
  if (spawnSync('bash', [script, 'status'], { stdio: 'ignore' }).status !== 0) {
    log('starting the local stack (npm run stack:up)');
    execFileSync('bash', [script, 'up'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return { brokers: ['127.0.0.1:9092'], registryUrl };
}

async function strimziNote(check: boolean): Promise<string> {
  const base = 'io.strimzi:kafka-bridge is not on Maven Central';
  if (!check) return base;
  try {
    const res = await fetch(STRIMZI_METADATA, { signal: AbortSignal.timeout(5000) });
    return res.ok
      ? 'io.strimzi:kafka-bridge is now on Maven Central, but the harness does not run it yet'
      : `${base} (HTTP ${res.status} for its maven-metadata.xml, checked now)`;
  } catch (err) {
    return `${base} (unreachable now: ${(err as Error).message})`;
  }
}

function machine(): Record<string, string> {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  return {
    cpu: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown'}`,
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    node: process.version,
    java: /version "([^"]+)"/.exec(java.stderr ?? '')?.[1] ?? 'unknown',
    go: /go version go(\S+)/.exec(go.stdout ?? '')?.[1] ?? 'not installed',
    kafka: 'Apache Kafka 4.1.1 (local stack, 1 broker), Apicurio 3.0.9',
  };
}

export async function runBench(opts: BenchOptions): Promise<BenchResults> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`[bench] ${l}\n`));
  const started = Date.now();
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const stamp = date.replace(/:/g, '-');
  const { brokers, registryUrl } = ensureStack(log);
  const kafka = createKafka({
    brokers,
    clientId: 'bench',
    logger: createLogger({ level: 'error' }),
  });
  const templates = callbackTemplates(opts.templates);
  const runs: RunRow[] = [];
  const summaries: SystemSummary[] = [];
  const starters: Record<SystemId, (ctx: SystemContext) => Promise<RunningSystem>> = {
    bridge: startBridge,
    'kafka-ceiling': startKafkaCeiling,
    'http-ceiling': startHttpCeiling,
    'jvm-peer': startJvmPeer,
    'go-peer': startGoPeer,
  };
  // ours first: its maximum sets the ceilings' open-loop rates
  const order = (
    ['bridge', 'kafka-ceiling', 'http-ceiling', 'jvm-peer', 'go-peer'] as const
  ).filter((s) => opts.systems.includes(s));
  let oursMax: number | undefined;
  const rateFor = (f: number, max: number): number => Math.max(1, Math.round((f * max) / 10) * 10);

  for (const id of order) {
    const ctx: SystemContext = {
      kafka,
      brokers,
      registryUrl,
      runId: `${stamp}-${id}`,
      templates,
      partitions: opts.partitions,
      ...(opts.ackedKeys && id === 'bridge' ? { ackedKeys: opts.ackedKeys } : {}),
      ...(opts.keepTopics ? { keepTopics: true } : {}),
    };
    log(`${LABELS[id]}: starting`);
    let system: RunningSystem;
    try {
      system = await starters[id](ctx);
    } catch (err) {
      const status = err instanceof NotRunError ? 'not run' : 'failed';
      log(
        `${LABELS[id]}: ${status === 'not run' ? 'not run' : 'could not start'}: ${(err as Error).message}`,
      );
      summaries.push({ id, label: LABELS[id], status, note: (err as Error).message });
      continue;
    }
    const meter = new ProcessMeter(system.pid);
    let index = 0;
    let acked = 0;
    const mine: RunRow[] = [];
    const drive = async (d: Drive, warmup = false): Promise<RunRow> => {
      meter.start();
      const { result, avgBatch } = await system.drive(d, index);
      const { cpuSeconds, peakRssMiB } = meter.stop();
      index += result.sent + result.dropped;
      acked += result.acked;
      const row: RunRow = {
        ...result,
        system: id,
        warmup,
        cpuSecondsPer1000: result.acked > 0 ? (cpuSeconds / result.acked) * 1000 : null,
        peakRssMiB: Math.round(peakRssMiB),
        avgBatch: avgBatch ?? null,
      };
      log(
        `${id} ${warmup ? 'warm-up' : d.mode} ${d.mode === 'closed' ? `${d.level} clients` : `${d.level}/s`}: ` +
          `${row.ackedPerSecond.toFixed(0)} acked/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, p99.9 ${row.p999Ms} ms, ` +
          `failed ${row.failed}, dropped ${row.dropped}, CPU ${row.cpuSecondsPer1000?.toFixed(3) ?? '–'} s/1k, RSS ${row.peakRssMiB} MiB`,
      );
      runs.push(row);
      if (!warmup) mine.push(row);
      return row;
    };
    const summary: SystemSummary = { id, label: LABELS[id], status: 'ran' };
    try {
      const mid = opts.levels[Math.floor(opts.levels.length / 2)] as number;
      await drive({ mode: 'closed', level: mid, seconds: opts.warmupSeconds }, true);
      for (const level of opts.levels)
        await drive({ mode: 'closed', level, seconds: opts.seconds });
      const best = mine.reduce((a, b) => (b.ackedPerSecond > a.ackedPerSecond ? b : a));
      summary.max = best;
      if (id === 'bridge') oursMax = best.ackedPerSecond;
      // the ceilings at our rates (same-rate comparisons); the peers at fractions of their own max
      const peer = id === 'jvm-peer' || id === 'go-peer';
      const base = peer || oursMax === undefined ? best.ackedPerSecond : oursMax;
      for (const f of opts.fractions) {
        await drive({ mode: 'open', level: rateFor(f, base), seconds: opts.openSeconds });
      }
      summary.peakRssMiB = Math.round(memoryMiB(system.pid).peak);
      if (system.topic !== undefined) {
        const spooled = (await system.spooled?.()) ?? 0;
        const records = await topicRecords(kafka, system.topic);
        summary.topic = { name: system.topic, records, acked, spooled, exact: records === acked };
        log(
          `${id}: topic ${system.topic} holds ${records} records; ${acked} callbacks acked` +
            (spooled > 0 ? ` (${spooled} from the spool: at least once, may be stored twice)` : ''),
        );
      }
    } catch (err) {
      summary.status = 'failed';
      summary.note = (err as Error).message;
      log(`${LABELS[id]}: failed: ${(err as Error).message}`);
    } finally {
      await system.stop();
    }
    summaries.push(summary);
  }
  summaries.push({
    id: 'strimzi',
    label: 'Strimzi Kafka Bridge',
    status: 'not run',
    note: await strimziNote(opts.checkStrimzi),
  });

  const halfRate =
    oursMax !== undefined && opts.fractions.includes(0.5) ? rateFor(0.5, oursMax) : undefined;
  const results: BenchResults = {
    date,
    command: 'npm run bench',
    wallSeconds: Math.round((Date.now() - started) / 1000),
    machine: machine(),
    settings: {
      levels: opts.levels,
      seconds: opts.seconds,
      warmupSeconds: opts.warmupSeconds,
      openFractions: opts.fractions,
      openSeconds: opts.openSeconds,
      partitions: opts.partitions,
      mix: 'bench/mix.ts (MIX)',
      distinctTemplates: opts.templates,
      recipients: 5000,
      generator: 'bench/load.ts (node:http keep-alive; open loop timed from intended send)',
    },
    systems: summaries,
    runs,
    ratios: computeRatios(summaries, runs, halfRate),
  };
  mkdirSync(opts.resultsDir, { recursive: true });
  writeFileSync(join(opts.resultsDir, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
  const chartFile = join(opts.resultsDir, 'latency-vs-throughput.svg');
  writeFileSync(chartFile, svgChart(runs));
  const md = markdown(results, 'bench/results/latency-vs-throughput.svg');
  writeFileSync(join(opts.resultsDir, `${stamp}.md`), md + '\n');
  // the same block in docs/performance.md, whose chart link starts from docs/
  if (opts.docs)
    await replaceDocsBlock(markdown(results, '../bench/results/latency-vs-throughput.svg'));
  return results;
}

const BEGIN = '<!-- bench:results:begin -->';
const END = '<!-- bench:results:end -->';

/**
 * Replaces what lies between the bench markers of docs/performance.md (nothing else), if they are
 * there, formatted as Prettier would (the page is checked by `npm run lint`).
 */
export async function replaceDocsBlock(
  md: string,
  file = join(ROOT, 'docs', 'performance.md'),
): Promise<boolean> {
  // loaded only here: prettier's CJS entry imports its ESM core, which Jest's VM refuses
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(file)) ?? {};
  const block = (await prettier.format(md, { ...options, parser: 'markdown' })).trimEnd();
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) return false;
  writeFileSync(file, `${text.slice(0, a + BEGIN.length)}\n\n${block}\n\n${text.slice(b)}`);
  return true;
}

function parseArgs(argv: string[]): BenchOptions {
  const opts: BenchOptions = { ...DEFAULTS };
  const list = (v: string | undefined): number[] => (v ?? '').split(',').map(Number);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--systems':
        opts.systems = value().split(',') as SystemId[];
        break;
      case '--levels':
        opts.levels = list(value());
        break;
      case '--seconds':
        opts.seconds = Number(value());
        break;
      case '--open-seconds':
        opts.openSeconds = Number(value());
        break;
      case '--warmup':
        opts.warmupSeconds = Number(value());
        break;
      case '--fractions':
        opts.fractions = list(value());
        break;
      case '--no-docs':
        opts.docs = false;
        break;
      case '--out':
        opts.resultsDir = value();
        break;
      case '--quick':
        Object.assign(opts, { levels: [4, 16], seconds: 3, warmupSeconds: 1, openSeconds: 3 });
        opts.docs = false;
        break;
      case '--help':
        process.stdout.write(
          'npm run bench -- [--systems bridge,kafka-ceiling,http-ceiling,jvm-peer,go-peer]\n' +
            '  [--levels 8,32,128] [--seconds 10] [--warmup 4] [--fractions 0.25,0.5,0.75] [--open-seconds 30]\n' +
            '  [--out bench/results] [--no-docs] [--quick]\n',
        );
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg} (see --help)`);
    }
  }
  for (const s of opts.systems) {
    if (!(s in LABELS))
      throw new Error(`unknown system ${s}: one of ${Object.keys(LABELS).join(', ')}`);
  }
  return opts;
}

if (require.main === module) {
  runBench(parseArgs(process.argv.slice(2))).then(
    (res) => {
      process.stdout.write(`\n${ratioTable(res.ratios)}\n\nwall time ${res.wallSeconds} s\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
