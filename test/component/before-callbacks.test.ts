import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readSettled } from '../../src/kafka/reader';
import { deleteTopics } from '../../src/kafka/admin';
import { Spool } from '../../src/spool/spool';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, uniqueTopic, type TestBridge } from '../support/bridge';
import { loadCommandFixtures } from '../support/fixtures';
import { fastavroDecode } from '../support/python';
import { SCHEMA_REGISTRY_URL } from '../support/stack';
import { metricValue, scrape } from '../support/wait';

/**
 * Before-callbacks through the real bridge: answered within Tencent's deadline whatever Kafka
 * does, relayed from the app's decision service when it answers in time, allowed (and counted)
 * when it does not; the callback and its decision stored after the reply.
 */

const BEFORE = 'C2C.CallbackBeforeSendMsg';
const fixture = loadCommandFixtures().find(
  (f) => f.command === BEFORE && f.name === 'sample.json',
)!;
const post = (b: TestBridge) => postCallback(b.callbackUrl, fixture.text, { query: fixture.query });

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** The app's decision service: answers with `reply` after `delayMs`. */
let upstream: Server;
let upstreamUrl: string;
let behaviour = { delayMs: 0, reply: OK_REPLY };
const upstreamCalls: string[] = [];
beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      upstreamCalls.push(body);
      const t = setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(behaviour.reply);
      }, behaviour.delayMs);
      res.on('close', () => clearTimeout(t));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/tim/before`;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

test('no upstream, Kafka unreachable: OK with ErrorCode 0 in under 50 ms, every time; each record kept in the spool', async () => {
  const topic = uniqueTopic('before-nokafka');
  const bridge = await startTestBridge('before-nokafka', {
    KAFKA_BROKERS: `127.0.0.1:${await closedPort()}`,
    COMMAND_ROUTES: `*=off,${BEFORE}=${topic}`,
  });
  let stopped = false;
  try {
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const started = performance.now();
      const res = await post(bridge);
      const text = await res.text();
      times.push(performance.now() - started);
      expect({ status: res.status, text }).toEqual({ status: 200, text: OK_REPLY });
    }
    expect(Math.max(...times)).toBeLessThan(50);
    const metrics = await scrape(bridge.adminUrl);
    expect(
      metricValue(
        metrics,
        `tim_bridge_before_callback_decisions_total{command="${BEFORE}",outcome="allow",decided_by="policy"}`,
      ),
    ).toBe(30);
    // stored after the reply, at least once: in the spool while Kafka is away, still there after
    // the stop (which waits for records in flight), for the next start to send
    stopped = true;
    await bridge.stop();
    const spool = new Spool({ dir: bridge.spoolDir, maxRecords: 1000, maxBytes: 1e9 });
    const kept = spool.oldest(1000);
    spool.close();
    expect(kept.map((r) => r.topic)).toEqual(Array.from({ length: 30 }, () => topic));
  } finally {
    if (!stopped) await bridge.stop();
    rmSync(bridge.spoolDir, { recursive: true, force: true });
  }
}, 60000);

describe('with a decision service', () => {
  let bridge: TestBridge;
  const topic = uniqueTopic('before-upstream');
  beforeAll(async () => {
    bridge = await startTestBridge('before-upstream', {
      COMMAND_ROUTES: `*=off,${BEFORE}=${topic}`,
      BEFORE_CALLBACK_UPSTREAM_URL: upstreamUrl,
      BEFORE_CALLBACK_FORWARD: 'C2C.*',
    });
  });
  afterAll(async () => {
    await bridge?.dispose();
    if (bridge) await deleteTopics(bridge.kafka, [topic]).catch(() => undefined);
  });

  test('from the start, the series the alerts watch exist at 0 (so a first loss or failure shows)', async () => {
    const metrics = await scrape(bridge.adminUrl);
    const at = (name: string, labels: string) => metricValue(metrics, `${name}{${labels}}`);
    expect(at('tim_bridge_command_records_total', `command="${BEFORE}",outcome="lost"`)).toBe(0);
    for (const problem of ['timeout', 'status', 'malformed', 'network']) {
      expect(
        at(
          'tim_bridge_before_callback_upstream_failures_total',
          `command="${BEFORE}",problem="${problem}"`,
        ),
      ).toBe(0);
    }
    // routed off and not forwarded: nothing to watch, no series
    expect(
      at(
        'tim_bridge_command_records_total',
        `command="Group.CallbackBeforeSendMsg",outcome="lost"`,
      ),
    ).toBeUndefined();
  });

  test('a block (ErrorCode 1) is relayed as the service wrote it; the record carries the decision', async () => {
    behaviour = { delayMs: 20, reply: '{"ActionStatus":"OK","ErrorInfo":"spam","ErrorCode":1}' };
    upstreamCalls.length = 0;
    const res = await post(bridge);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(behaviour.reply);
    expect(upstreamCalls).toEqual([fixture.text]);
    const [record] = await readSettled(bridge.kafka, topic, 1, { settleMs: 200 });
    const [decoded] = fastavroDecode(SCHEMA_REGISTRY_URL, [record!.value as Buffer]) as {
      record: { Body: string; Decision: [string, Record<string, unknown>] };
    }[];
    // fastavro gives a union's record branch as [full name, value]
    const [branch, decision] = decoded!.record.Decision;
    expect(branch).toBe('tim.callback.Decision');
    expect(decoded!.record.Body).toBe(fixture.text);
    expect(decision).toMatchObject({
      Outcome: 'block',
      DecidedBy: 'upstream',
      ErrorCode: 1,
      Reply: behaviour.reply,
      Problem: null,
    });
    expect(decision.UpstreamLatencyMs).toBeGreaterThanOrEqual(15);
  });

  test('a service that takes 3 s: allowed at the deadline (1.5 s), counted as a timeout', async () => {
    behaviour = { delayMs: 3000, reply: '{"ActionStatus":"OK","ErrorInfo":"late","ErrorCode":1}' };
    const started = Date.now();
    const res = await post(bridge);
    const took = Date.now() - started;
    expect({ status: res.status, text: await res.text() }).toEqual({ status: 200, text: OK_REPLY });
    expect(took).toBeGreaterThanOrEqual(1450);
    expect(took).toBeLessThan(1900);
    const metrics = await scrape(bridge.adminUrl);
    expect(
      metricValue(
        metrics,
        `tim_bridge_before_callback_upstream_failures_total{command="${BEFORE}",problem="timeout"}`,
      ),
    ).toBe(1);
    expect(
      metricValue(
        metrics,
        `tim_bridge_before_callback_decisions_total{command="${BEFORE}",outcome="allow",decided_by="fail-open"}`,
      ),
    ).toBe(1);
  }, 10000);

  test('a command not forwarded (Group.*) is allowed by the policy without asking', async () => {
    upstreamCalls.length = 0;
    const group = loadCommandFixtures().find((f) => f.command === 'Group.CallbackBeforeSendMsg')!;
    const res = await postCallback(bridge.callbackUrl, group.text, { query: group.query });
    expect(await res.text()).toBe(OK_REPLY);
    expect(upstreamCalls).toEqual([]);
  });
});
