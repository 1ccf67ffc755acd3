import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BRIDGE_READINESS_PROBE_PATH } from '../../src/http/readiness';
import { createKafka } from '../../src/kafka/client';
import { readTopic } from '../../src/kafka/reader';
import { createLogger } from '../../src/observability/logger';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { accepts, freePort, stackAsync } from '../support/process';
import { decodeCallbacks } from '../support/records';
import { TcpProxy } from '../support/tcp-proxy';
import { metricValue, scrape, waitFor } from '../support/wait';

/**
 * /readyz follows Kafka: not ready (503, naming the kafka check) when the broker is stopped,
 * while the bridge is idle, and ready again once it is back. The Kubernetes probe
 * (/readyz?ignore=kafka) keeps the replica in service meanwhile, and the gauges say both:
 * tim_bridge_ready what the probe decides, tim_bridge_ready_strict the strict answer. Ready also
 * means the callback port takes connections (start-up and stop). The broker is a private one
 * (stack.sh kafka-start with its own STACK_DIR and ports), so that stopping it disturbs no
 * other test running at the same time; the schema registry is the shared one.
 */
const PRIVATE_DIR = mkdtempSync(join(tmpdir(), 'tim-readiness-stack-'));
let env: Record<string, string>;
let privateBrokers: string;
let kafkaUp = false;
let bridge: TestBridge;

/** stack.sh on the private stack, asynchronously: the bridge under test runs in this process. */
const privateStack = (...args: string[]): Promise<void> => stackAsync(args, env);

interface Readiness {
  status: number;
  body: { status: string; checks: Record<string, string> };
}
async function readyz(path = '/readyz', adminUrl = bridge.adminUrl): Promise<Readiness> {
  const res = await fetch(`${adminUrl}${path}`);
  return { status: res.status, body: (await res.json()) as Readiness['body'] };
}
/** The callback sent while Kafka is away (a MsgKey of its own). */
const spooledCallback = {
  ...(loadFixtures().find((f) => f.name === 'text.json')!.json as Record<string, unknown>),
  MsgKey: `readiness-spooled-${process.pid}`,
};
const ALL_OK = { shutdown: 'ok', listening: 'ok', schema: 'ok', kafka: 'ok', spool: 'ok' };
const readyzAnswering = (status: number) => async () => {
  const res = await readyz().catch(() => undefined);
  return res?.status === status ? res : undefined;
};

beforeAll(async () => {
  const kafkaPort = await freePort();
  env = {
    STACK_DIR: PRIVATE_DIR,
    KAFKA_PORT: String(kafkaPort),
    KAFKA_CONTROLLER_PORT: String(await freePort()),
    KAFKA_SASL_PORT: String(await freePort()),
    KAFKA_TLS_PORT: String(await freePort()),
    REGISTRY_PORT: String(await freePort()),
  };
  privateBrokers = `127.0.0.1:${kafkaPort}`;
  await privateStack('kafka-start');
  kafkaUp = true;
  bridge = await startTestBridge('obs-readiness', {
    KAFKA_BROKERS: `127.0.0.1:${kafkaPort}`,
    PUBLISH_TIMEOUT_MS: '500',
  });
}, 180000);

afterAll(async () => {
  if (!kafkaUp) await privateStack('kafka-start'); // so that the bridge's producer closes cleanly
  await bridge?.dispose();
  await privateStack('down', '--purge');
  rmSync(PRIVATE_DIR, { recursive: true, force: true });
}, 120000);

test('ready with Kafka up (once the first Kafka probe answered)', async () => {
  const r = await waitFor('/readyz to answer 200', readyzAnswering(200), 20000, 100);
  expect(r).toEqual({
    status: 200,
    body: { status: 'ready', checks: ALL_OK },
  });
  const metrics = await scrape(bridge.adminUrl);
  expect(metricValue(metrics, 'tim_bridge_ready')).toBe(1);
  expect(metricValue(metrics, 'tim_bridge_ready_strict')).toBe(1);
});

test('not ready, naming Kafka, once the broker is stopped (no callback needed)', async () => {
  await privateStack('kafka-stop');
  kafkaUp = false;
  // no callback is sent: only the Kafka probe (every 5 s, 3 s timeout) can notice it, well
  // within the 30 s allowed here even on a busy machine
  const r = await waitFor('/readyz to answer 503', readyzAnswering(503), 30000, 250);
  expect(r.body.status).toBe('not ready');
  expect(r.body.checks.kafka).toMatch(/Kafka unreachable|not connected|unacknowledged/);
  expect({ ...r.body.checks, kafka: 'ok' }).toEqual(ALL_OK);
  // the Kubernetes probe leaves Kafka out: the replica stays in service (its spool takes the
  // callbacks), and tim_bridge_ready says so; tim_bridge_ready_strict has Kafka in it
  const probe = await readyz(BRIDGE_READINESS_PROBE_PATH);
  expect(probe.status).toBe(200);
  expect(probe.body.checks.kafka).toBe(r.body.checks.kafka);
  const metrics = await scrape(bridge.adminUrl);
  expect(metricValue(metrics, 'tim_bridge_ready')).toBe(1);
  expect(metricValue(metrics, 'tim_bridge_ready_strict')).toBe(0);
  // NB: tim_bridge_kafka_connected stays 1 here (it follows the producer's connect/disconnect
  // events, which a stopped broker does not fire), so it is not asserted
  // meanwhile callbacks are still answered OK: they go to the spool
  const res = await postCallback(bridge.callbackUrl, JSON.stringify(spooledCallback));
  expect(await res.text()).toBe(OK_REPLY);
  const after = await scrape(bridge.adminUrl);
  expect(metricValue(after, 'tim_bridge_callbacks_accepted_total{outcome="spooled"}')).toBe(1);
  expect(metricValue(after, 'tim_bridge_spool_records')).toBe(1);
}, 60000);

test('ready again once the broker is back', async () => {
  await privateStack('kafka-start');
  kafkaUp = true;
  const r = await waitFor('/readyz to answer 200', readyzAnswering(200), 60000, 250);
  expect(r.body.checks).toEqual(ALL_OK);
  await waitFor(
    'the spool to drain',
    async () => {
      const m = await scrape(bridge.adminUrl);
      return (
        metricValue(m, 'tim_bridge_spool_records') === 0 &&
        metricValue(m, 'tim_bridge_ready') === 1 &&
        metricValue(m, 'tim_bridge_ready_strict') === 1
      );
    },
    30000,
  );
  // the spooled callback reached Kafka. At least once: the produce request that timed out was
  // still being retried, and lands when the broker is back, beside the spool's copy (at most two;
  // docs/reliability.md, dedupe by MsgKey)
  const kafka = createKafka({
    brokers: [privateBrokers],
    clientId: 'test-readiness',
    logger: createLogger({ level: 'silent' }),
  });
  const records = await readTopic(kafka, bridge.topic, { atLeast: 1 });
  const callbacks = await decodeCallbacks(records);
  const keys = callbacks.map((c) => c.MsgKey);
  expect([...new Set(keys)]).toEqual([spooledCallback.MsgKey]);
  expect(keys.length).toBeLessThanOrEqual(2);
}, 120000);

/**
 * Ready means the callback port takes connections. A bridge whose Kafka refuses connections at
 * start (a closed proxy in front of the private broker) listens on its callback port only after
 * KAFKA_START_WAIT_MS (3 s; KafkaJS keeps retrying longer than that): its registry answered, so
 * in that window every check the probe does not ignore passes but one, `listening`. Polled
 * throughout the start-up and the stop: whenever the probe answers 200, the callback port
 * accepts. At start the port only ever opens, so "200, then refused" is a probe ahead of the
 * port; at stop it only ever closes, so "refused, then 200" is a probe behind it.
 */
describe('ready only while the callback port accepts', () => {
  let proxy: TcpProxy | undefined;
  let starting: TestBridge | undefined;
  let stopping: Promise<void> | undefined;
  afterAll(async () => {
    if (starting && !stopping) await starting.stop();
    if (starting) rmSync(starting.spoolDir, { recursive: true, force: true });
    await proxy?.close();
  }, 60000);

  test('not ready until the callback port listens, and not ready once it is closed', async () => {
    // Kafka refuses connections (nothing listens behind the proxy's port) during the whole test
    proxy = await TcpProxy.create(Number(env.KAFKA_PORT), false);
    const [port, adminPort] = [await freePort(), await freePort()];
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const probe = () => readyz(BRIDGE_READINESS_PROBE_PATH, adminUrl).catch(() => undefined);
    let aheadOfPort: Readiness | undefined;
    let sawWaitingForPort: Readiness | undefined;
    let started = false;
    const start = startTestBridge('obs-readiness-start', {
      KAFKA_BROKERS: `127.0.0.1:${proxy.port}`,
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      SHUTDOWN_DELAY_MS: '200',
    }).finally(() => (started = true));
    await waitFor(
      'the bridge to start',
      async () => {
        const r = await probe(); // the probe first, then the port: it only opens
        if (r?.status === 200 && !(await accepts(port))) aheadOfPort ??= r;
        const { listening, schema, kafka } = r?.body.checks ?? {};
        if (r?.status === 503 && listening !== 'ok' && schema === 'ok' && kafka !== 'ok')
          sawWaitingForPort ??= r;
        return started;
      },
      30000,
      20,
    );
    starting = await start;
    expect(aheadOfPort).toBeUndefined();
    // the window was there: all but `listening` (and the ignored kafka) passed, and it said so
    expect(sawWaitingForPort?.body.checks.listening).toBe('the callback port is not listening yet');
    // once started: ready, and the port takes connections (the registry answered; Kafka ignored)
    expect((await probe())?.status).toBe(200);
    expect(await accepts(port)).toBe(true);

    // A request in flight (headers sent, its body not) holds the stop between closing the
    // listener and answering it (up to REQUEST_TIMEOUT_MS): the port refuses, the admin port
    // still answers. Ended once the probe was seen to say so (or to be behind the port).
    const inFlight = connect(port, '127.0.0.1');
    await once(inFlight, 'connect');
    inFlight.on('error', () => undefined);
    inFlight.write(
      'POST /callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    let behindPort: Readiness | undefined;
    let sawPortClosed: Readiness | undefined;
    let stopped = false;
    stopping = starting.stop().finally(() => (stopped = true));
    await waitFor(
      'the bridge to stop',
      async () => {
        const refused = !(await accepts(port)); // the port first, then the probe: it only closes
        const r = await probe();
        if (refused && r?.status === 200) behindPort ??= r;
        if (refused && r?.status === 503) sawPortClosed ??= r;
        if (behindPort ?? sawPortClosed) inFlight.destroy();
        return stopped;
      },
      30000,
      20,
    );
    await stopping;
    expect(behindPort).toBeUndefined();
    expect(sawPortClosed?.body.checks).toMatchObject({
      shutdown: 'shutting down',
      listening: 'the callback port is closed',
    });
  }, 90000);
});
