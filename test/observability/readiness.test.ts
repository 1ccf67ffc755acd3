import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { freePort, stackAsync } from '../support/process';
import { metricValue, scrape, waitFor } from '../support/wait';

/**
 * /readyz follows Kafka: not ready (503, naming the kafka check) when the broker is stopped,
 * while the bridge is idle, and ready again once it is back. The broker is a private one
 * (stack.sh kafka-start with its own STACK_DIR and ports), so that stopping it disturbs no
 * other test running at the same time; the schema registry is the shared one.
 */
const PRIVATE_DIR = mkdtempSync(join(tmpdir(), 'tim-readiness-stack-'));
let env: Record<string, string>;
let kafkaUp = false;
let bridge: TestBridge;

/** stack.sh on the private stack, asynchronously: the bridge under test runs in this process. */
const privateStack = (...args: string[]): Promise<void> => stackAsync(args, env);

interface Readiness {
  status: number;
  body: { status: string; checks: Record<string, string> };
}
async function readyz(): Promise<Readiness> {
  const res = await fetch(`${bridge.adminUrl}/readyz`);
  return { status: res.status, body: (await res.json()) as Readiness['body'] };
}
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
    REGISTRY_PORT: String(await freePort()),
  };
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
    body: { status: 'ready', checks: { shutdown: 'ok', schema: 'ok', kafka: 'ok', spool: 'ok' } },
  });
  expect(metricValue(await scrape(bridge.adminUrl), 'tim_bridge_ready')).toBe(1);
});

test('not ready, naming Kafka, once the broker is stopped (no callback needed)', async () => {
  await privateStack('kafka-stop');
  kafkaUp = false;
  const stopped = Date.now();
  const r = await waitFor('/readyz to answer 503', readyzAnswering(503), 30000, 250);
  // the Kafka probe (every 5 s, 3 s timeout) notices it, not a stalled produce request
  expect(Date.now() - stopped).toBeLessThan(15000);
  expect(r.body.status).toBe('not ready');
  expect(r.body.checks.kafka).toMatch(/Kafka unreachable|not connected|unacknowledged/);
  expect({ ...r.body.checks, kafka: 'ok' }).toEqual({
    shutdown: 'ok',
    schema: 'ok',
    kafka: 'ok',
    spool: 'ok',
  });
  const metrics = await scrape(bridge.adminUrl);
  expect(metricValue(metrics, 'tim_bridge_ready')).toBe(0);
  // NB: tim_bridge_kafka_connected stays 1 here (it follows the producer's connect/disconnect
  // events, which a stopped broker does not fire), so it is not asserted
  // meanwhile callbacks are still answered OK: they go to the spool
  const text = loadFixtures().find((f) => f.name === 'text.json')!.text;
  const res = await postCallback(bridge.callbackUrl, text);
  expect(await res.text()).toBe(OK_REPLY);
}, 60000);

test('ready again once the broker is back', async () => {
  await privateStack('kafka-start');
  kafkaUp = true;
  const r = await waitFor('/readyz to answer 200', readyzAnswering(200), 60000, 250);
  expect(r.body.checks).toEqual({ shutdown: 'ok', schema: 'ok', kafka: 'ok', spool: 'ok' });
  // the spooled callback reached Kafka
  await waitFor(
    'the spool to drain',
    async () => {
      const m = await scrape(bridge.adminUrl);
      return (
        metricValue(m, 'tim_bridge_spool_records') === 0 && metricValue(m, 'tim_bridge_ready') === 1
      );
    },
    30000,
  );
}, 120000);
