import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULTS, runBench } from '../../bench/run';
import { ratioTable } from '../../bench/report';
import { createKafka } from '../../src/kafka/client';
import { deleteTopics } from '../../src/kafka/admin';
import { readTopic } from '../../src/kafka/reader';
import { Registry } from '../../src/kafka/registry';
import { createLogger } from '../../src/observability/logger';
import { KAFKA_BROKERS, ROOT, SCHEMA_REGISTRY_URL } from '../support/stack';

/**
 * The harness end to end, tiny and short, so that it cannot rot: every system starts from the
 * build, takes load in both modes, and the results say what they must. Not a benchmark: nothing
 * here depends on how fast anything is.
 */
const kafka = createKafka({
  brokers: KAFKA_BROKERS.split(','),
  clientId: 'bench-smoke',
  logger: createLogger({ level: 'error' }),
});

beforeAll(() => {
  // what `npm run bench` runs: the production build of the bridge and the harness
  execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.bench.json'], {
    cwd: ROOT,
  });
});

test('npm run bench, in miniature: every system runs, the topics hold exactly the acked callbacks', async () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  const ackedKeys = new Set<string>();
  const results = await runBench({
    ...DEFAULTS,
    levels: [2],
    seconds: 1,
    warmupSeconds: 0.5,
    fractions: [0.5],
    openSeconds: 1,
    templates: 50,
    resultsDir: out,
    docs: false,
    checkStrimzi: false,
    ackedKeys,
    keepTopics: true,
    log: () => undefined,
  });
  const topics = results.systems.flatMap((s) => (s.topic ? [s.topic.name] : []));
  try {
    for (const id of ['bridge', 'kafka-ceiling', 'http-ceiling', 'jvm-peer', 'go-peer']) {
      const s = results.systems.find((x) => x.id === id);
      expect({ id, status: s?.status, note: s?.note }).toEqual({
        id,
        status: 'ran',
        note: undefined,
      });
      expect(s?.max?.acked).toBeGreaterThan(0);
      // closed loop at 2 clients, then open loop at half of ours
      const runs = results.runs.filter((r) => r.system === id && !r.warmup);
      expect(runs.map((r) => r.mode)).toEqual(['closed', 'open']);
      for (const r of runs) {
        expect(r.failed + r.dropped).toBe(0);
        expect(r.cpuSecondsPer1000).toBeGreaterThan(0);
        expect(r.peakRssMiB).toBeGreaterThan(0);
      }
    }
    expect(results.systems.find((s) => s.id === 'strimzi')?.status).toBe('not run');
    const bridge = results.systems.find((s) => s.id === 'bridge');
    expect(bridge?.max?.avgBatch).toBeGreaterThanOrEqual(1);
    // each topic holds every acked callback, and beyond them at most the requests that failed
    // (a warm-up request timed out on a busy machine may still land: at least once) and the
    // bridge's callbacks acked from its spool (the publish past its deadline may land too); which
    // system, if not
    const topicCheck = results.systems.flatMap((s) => {
      if (s.topic === undefined) return [];
      const failed = results.runs
        .filter((r) => r.system === s.id)
        .reduce((n, r) => n + r.failed, 0);
      const { records, acked, spooled = 0 } = s.topic;
      return [
        {
          id: s.id,
          allAcked: records >= acked,
          extraFailedOnly: records - acked <= failed + spooled,
        },
      ];
    });
    expect(topicCheck).toEqual(
      topicCheck.map(({ id }) => ({ id, allAcked: true, extraFailedOnly: true })),
    );

    // every callback the bridge acked is in its topic, once
    const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
    const records = await readTopic(kafka, bridge?.topic?.name as string, {
      atLeast: ackedKeys.size,
    });
    const keys: string[] = [];
    for (const r of records) {
      const { record } = await registry.decode(r.value as Buffer);
      keys.push((record as { MsgKey: string }).MsgKey);
    }
    expect([...new Set(keys)].sort()).toEqual([...ackedKeys].sort());
    expect(keys.length - ackedKeys.size).toBeLessThanOrEqual(bridge?.topic?.spooled ?? 0);

    // the Go peer's records are records of the bridge's schema, one per acked callback, keyed by
    // To_Account and partitioned as the bridge partitions (Kafka's murmur2)
    const partitionOf = new Map(records.map((r) => [String(r.key), r.partition]));
    const go = results.systems.find((s) => s.id === 'go-peer')?.topic;
    const goRecords = await readTopic(kafka, go?.name as string, { atLeast: go?.acked ?? 0 });
    expect(goRecords).toHaveLength(go?.acked as number);
    const goRun = (go?.name as string).replace(/^bench\.go-peer\./, '');
    const goKeys = new Set<string>();
    let samePartition = 0;
    for (const r of goRecords) {
      const { record } = await registry.decode(r.value as Buffer);
      const { MsgKey, To_Account, MsgBody } = record as {
        MsgKey: string;
        To_Account: string;
        MsgBody: unknown[];
      };
      expect(MsgKey.startsWith(`${goRun}-`)).toBe(true);
      goKeys.add(MsgKey);
      expect(String(r.key)).toBe(To_Account);
      expect(MsgBody.length).toBeGreaterThan(0);
      const bridgePartition = partitionOf.get(To_Account);
      if (bridgePartition !== undefined) {
        expect({ To_Account, partition: r.partition }).toEqual({
          To_Account,
          partition: bridgePartition,
        });
        samePartition++;
      }
    }
    expect(goKeys.size).toBe(goRecords.length);
    expect(samePartition).toBeGreaterThan(0);

    // the ratio table names every target, and the files are written
    const table = ratioTable(results.ratios);
    for (const name of [
      'CPU per acked callback',
      'HTTP ceiling',
      'JVM peer',
      'Go peer',
      'Strimzi',
      'Kafka ceiling',
      'Peak RSS',
    ]) {
      expect(table).toContain(name);
    }
    const files = readdirSync(out);
    expect(files.filter((f) => f.endsWith('.json'))).toHaveLength(1);
    expect(files.filter((f) => f.endsWith('.md'))).toHaveLength(1);
    const svg = readFileSync(join(out, 'latency-vs-throughput.svg'), 'utf8');
    expect(svg).toMatch(/^<svg /);
    expect(svg.match(/<polyline /g)?.length).toBe(10); // p50 and p99 for each of five systems
    expect(existsSync(join(out, files.find((f) => f.endsWith('.md')) as string))).toBe(true);
  } finally {
    await deleteTopics(kafka, [...topics, ...topics.map((t) => `${t}.dlq`)]);
  }
}, 300000); // a first Go peer build, with Go's caches cold, takes about half a minute of it
