import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopics } from '../../src/kafka/admin';
import { readTopic } from '../../src/kafka/reader';
import { Spool } from '../../src/spool/spool';
import { OK_REPLY } from '../../src/tencent/reply';
import { uniqueTopic } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import {
  buildIfStale,
  freePort,
  killAllBridges,
  post,
  signedQuery,
  spawnBridge,
  tail,
  waitServing,
  type BridgeProcess,
} from '../support/process';
import { type AckedSend, deliveryReport, timed } from '../support/records';
import { metricValue, scrape, waitFor } from '../support/wait';
import { privateStackOf } from './private-stack';

/**
 * The promise in production conditions, with the bridge as a real process and the broker really
 * stopped and started (a stack of this file's own): 400 concurrent 40 kB callbacks to one
 * To_Account spooled while Kafka is away and drained when it is back, and a bridge SIGTERMed
 * just as Kafka comes back, whose spool must be in Kafka before it exits.
 */
const stack = privateStackOf('hardening', {
  kafka: 29092,
  controller: 29093,
  sasl: 29094,
  tls: 29095,
  registry: 28081,
});
const base = loadFixtures().find((f) => f.name === 'text.json')!.json;
const runDir = mkdtempSync(join(tmpdir(), 'tim-hardening-'));
const topics: string[] = [];
let kafkaStopped = false;

beforeAll(async () => {
  buildIfStale(true);
  await stack.stack('up');
}, 240000);

afterAll(async () => {
  await killAllBridges();
  if (kafkaStopped) await stack.stack('kafka-start');
  await deleteTopics(stack.kafka, topics).catch(() => undefined);
  await stack.stack('down');
}, 120000);

/** A bridge process on a topic and spool directory of its own. */
async function startBridge(
  name: string,
  env: Record<string, string> = {},
): Promise<BridgeProcess & { topic: string; spoolDir: string }> {
  const topic = uniqueTopic(name);
  topics.push(topic, `${topic}.dlq`);
  const spoolDir = join(runDir, name, 'spool');
  const b = spawnBridge(name, {
    topic,
    spoolDir,
    logDir: runDir,
    port: await freePort(),
    adminPort: await freePort(),
    env: {
      KAFKA_BROKERS: stack.brokers,
      SCHEMA_REGISTRY_URL: stack.registryUrl,
      BATCH_MAX_WAIT_MS: '50',
      SHUTDOWN_GRACE_MS: '15000',
      // no load balancer to wait for here: stop serving at once
      SHUTDOWN_DELAY_MS: '0',
      ...env,
    },
  });
  await waitServing(b, { ready: true });
  return Object.assign(b, { topic, spoolDir });
}

const kafkaStop = async () => {
  await stack.stack('kafka-stop');
  kafkaStopped = true;
};
const kafkaStart = async () => {
  await stack.stack('kafka-start');
  kafkaStopped = false;
};

/** A ~40 kB callback (four 10 kB text elements) to one recipient. */
function bigBody(tag: string, i: number): { key: string; text: string } {
  const key = `${tag}-${i}`;
  return {
    key,
    text: JSON.stringify({
      ...base,
      To_Account: `${tag}-recipient`,
      MsgSeq: i,
      MsgKey: key,
      MsgBody: Array.from({ length: 4 }, (_, e) => ({
        MsgType: 'TIMTextElem',
        MsgContent: { Text: `${key}/${e} `.padEnd(10 * 1024, 'lorem ipsum ') },
      })),
    }),
  };
}

/** Posts all at once; the OK'd ones come back timed (concurrent requests have no order between them). */
async function postConcurrently(b: BridgeProcess, bodies: { key: string; text: string }[]) {
  const replies = await Promise.all(
    bodies.map(({ key, text }) =>
      timed(key, () => post(`${b.callbackUrl}?${signedQuery()}`, text, { timeoutMs: 30000 })),
    ),
  );
  const isOk = (r: (typeof replies)[number]) => r.reply.status === 200 && r.reply.body === OK_REPLY;
  return {
    ok: replies.filter(isOk).map(({ key, sentAt, repliedAt }) => ({ key, sentAt, repliedAt })),
    failed: replies.filter((r) => !isOk(r)).map((r) => `${r.reply.status} ${r.reply.body}`),
  };
}

async function spooled(b: BridgeProcess): Promise<number | undefined> {
  return metricValue(await scrape(b.adminUrl), 'tim_bridge_spool_records');
}

test('400 40 kB callbacks to one To_Account, 200 at a time, while Kafka is stopped: all OK, spooled, and all in Kafka in order once it is started', async () => {
  const bridge = await startBridge('spooled-big');
  await kafkaStop();
  const bodies = Array.from({ length: 400 }, (_, i) => bigBody('spooled', i));
  // two rounds: the second round's are sent after the first's OKs, so they must come after them
  const first = await postConcurrently(bridge, bodies.slice(0, 200));
  const second = await postConcurrently(bridge, bodies.slice(200));
  const ok = [...first.ok, ...second.ok];
  expect([...first.failed, ...second.failed]).toEqual([]);
  expect(ok).toHaveLength(400);
  expect(await spooled(bridge)).toBe(400);

  await kafkaStart();
  await waitFor('the spool to drain', async () => (await spooled(bridge)) === 0, 90000, 200);
  const records = await readTopic(stack.kafka, bridge.topic, { atLeast: 400, timeoutMs: 60000 });
  const report = deliveryReport(await stack.decode(records), ok);
  expect(report.missing).toEqual([]);
  expect(report.outOfOrder).toEqual([]);
  const metrics = await scrape(bridge.adminUrl);
  expect(metricValue(metrics, 'tim_bridge_spool_drained_records_total')).toBe(400);
  expect(metricValue(metrics, 'tim_bridge_spool_dead_lettered_total')).toBe(0);
}, 240000);

/** Posts `n` small callbacks in rounds of 100 concurrent ones; returns the MsgKeys answered OK. */
async function postMany(bridge: BridgeProcess, tag: string, n: number): Promise<AckedSend[]> {
  const ok: AckedSend[] = [];
  for (let from = 0; from < n; from += 100) {
    const bodies = Array.from({ length: Math.min(100, n - from) }, (_, i) => {
      const key = `${tag}-${from + i}`;
      const body = { ...base, To_Account: `${tag}-${i % 7}`, MsgSeq: from + i, MsgKey: key };
      return { key, text: JSON.stringify(body) };
    });
    const replies = await postConcurrently(bridge, bodies);
    expect(replies.failed).toEqual([]);
    ok.push(...replies.ok);
  }
  return ok;
}

async function expectDrainedAndExited(
  bridge: BridgeProcess & { topic: string; spoolDir: string },
  ok: AckedSend[],
): Promise<void> {
  const exit = await bridge.waitExit(40000);
  expect({ exit, log: exit.code === 0 ? '' : tail(bridge.log()) }).toEqual({
    exit: { code: 0, signal: null },
    log: '',
  });
  // nothing is left behind in the spool file
  const spool = new Spool({ dir: bridge.spoolDir, maxRecords: 1e6, maxBytes: 1e10 });
  const left = spool.records;
  spool.close();
  expect({ bridge: bridge.name, left }).toEqual({ bridge: bridge.name, left: 0 });
  const records = await readTopic(stack.kafka, bridge.topic, {
    atLeast: ok.length,
    timeoutMs: 60000,
  });
  const report = deliveryReport(await stack.decode(records), ok);
  expect(report.missing).toEqual([]);
  expect(report.outOfOrder).toEqual([]);
}

test('bridges SIGTERMed with a full spool as Kafka comes back (just before, or at once after) leave every record in Kafka before they exit', async () => {
  // SIGTERMed while Kafka is still away, and Kafka back within the grace period
  const early = await startBridge('sigterm-before-kafka', { SHUTDOWN_GRACE_MS: '30000' });
  // SIGTERMed as soon as Kafka answers again
  const late = await startBridge('sigterm-after-kafka');
  await kafkaStop();
  // more than one drain step (500 records each): a drainer merely stopped at SIGTERM leaves some
  const okEarly = await postMany(early, 'early', 1200);
  const okLate = await postMany(late, 'late', 1200);
  expect(await spooled(early)).toBe(1200);
  expect(await spooled(late)).toBe(1200);

  early.kill('SIGTERM');
  await kafkaStart();
  late.kill('SIGTERM');
  await expectDrainedAndExited(early, okEarly);
  await expectDrainedAndExited(late, okLate);
  expect(early.logLines().some((l) => l.msg === 'draining the spool before exit')).toBe(true);
}, 240000);
