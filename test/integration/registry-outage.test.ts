import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTopic } from '../../src/kafka/reader';
import { Registry } from '../../src/kafka/registry';
import { loadSchema } from '../../src/schemas';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, uniqueTopic, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { decodeCallbacks } from '../support/records';
import { SCHEMA_REGISTRY_URL } from '../support/stack';
import { TcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait';

/**
 * The schema registry down (it often goes down with Kafka) must not crash-loop the bridge: the
 * registry is reached through a proxy the test closes and opens again.
 */
const base = loadFixtures().find((f) => f.name === 'text.json')!.json;
const registryPort = Number(new URL(SCHEMA_REGISTRY_URL).port);
const registryPath = new URL(SCHEMA_REGISTRY_URL).pathname;
const dirs: string[] = [];
const bridges: TestBridge[] = [];
let proxy: TcpProxy;

beforeAll(async () => {
  proxy = await TcpProxy.create(registryPort, false);
});
afterAll(async () => {
  for (const b of bridges) await b.dispose().catch(() => undefined);
  await proxy.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const viaProxy = () => `http://127.0.0.1:${proxy.port}${registryPath}`;
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'tim-registry-'));
  dirs.push(d);
  return d;
};
async function start(name: string, overrides: Record<string, string>): Promise<TestBridge> {
  const b = await startTestBridge(name, { SCHEMA_REGISTRY_URL: viaProxy(), ...overrides });
  bridges.push(b);
  return b;
}
const post = async (b: TestBridge, key: string) => {
  const res = await postCallback(b.callbackUrl, JSON.stringify({ ...base, MsgKey: key }));
  return { status: res.status, text: await res.text() };
};
const readiness = async (b: TestBridge) => {
  const res = await fetch(`${b.adminUrl}/readyz`);
  return {
    status: res.status,
    checks: ((await res.json()) as { checks: Record<string, string> }).checks,
  };
};

test('restarted with the registry unreachable, a bridge writes with the schema id remembered in its spool', async () => {
  const spoolDir = newDir();
  const topic = uniqueTopic('registry-remembered');
  await proxy.open();
  const first = await start('registry-first', { KAFKA_TOPIC: topic, SPOOL_DIR: spoolDir });
  const id = first.schemaId;
  expect(id).toEqual(expect.any(Number));
  expect(await post(first, 'before')).toEqual({ status: 200, text: OK_REPLY });
  await first.stop();

  await proxy.close();
  const second = await start('registry-second', { KAFKA_TOPIC: topic, SPOOL_DIR: spoolDir });
  expect(second.schemaId).toBe(id);
  expect((await readiness(second)).status).toBe(200);
  expect(await post(second, 'while-away')).toEqual({ status: 200, text: OK_REPLY });
  const records = await readTopic(second.kafka, topic, { atLeast: 2 });
  expect(records.map((r) => r.value!.readUInt32BE(1))).toEqual([id, id]);
  expect((await decodeCallbacks(records)).map((c) => c.MsgKey)).toEqual(['before', 'while-away']);
});

test('with no id known and the registry away, a bridge stays up and not ready, and becomes ready when the registry is back', async () => {
  await proxy.close();
  const bridge = await start('registry-none', { SPOOL_DIR: newDir() });
  expect(bridge.schemaId).toBeUndefined();
  expect((await fetch(`${bridge.adminUrl}/healthz`)).status).toBe(200);
  const notReady = await readiness(bridge);
  expect(notReady.status).toBe(503);
  expect(notReady.checks.schema).toContain(`${bridge.topic}-value`);
  expect(notReady.checks.schema).toContain('schema registry');
  const refused = await post(bridge, 'too-early');
  expect(refused.status).toBe(503);
  expect(JSON.parse(refused.text)).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 1 });
  expect(JSON.parse(refused.text).ErrorInfo).toMatch(/schema registry/);

  await proxy.open();
  await waitFor('ready', async () => (await readiness(bridge)).status === 200, 40000, 200);
  expect(await post(bridge, 'in-time')).toEqual({ status: 200, text: OK_REPLY });
  const records = await readTopic(bridge.kafka, bridge.topic, { atLeast: 1 });
  expect((await decodeCallbacks(records)).map((c) => c.MsgKey)).toEqual(['in-time']);
});

test('SCHEMA_REGISTRY_AUTO_REGISTER=false looks the id up: not ready until someone registers the schema, never registers it itself', async () => {
  await proxy.open();
  const bridge = await start('registry-lookup', {
    SPOOL_DIR: newDir(),
    SCHEMA_REGISTRY_AUTO_REGISTER: 'false',
  });
  const subject = `${bridge.topic}-value`;
  expect((await readiness(bridge)).checks.schema).toContain(subject);
  const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
  // it asked, and registered nothing
  await expect(registry.latestId(subject)).rejects.toThrow();
  // the platform team registers it (its CI, not the bridge)
  const id = await registry.register(subject, loadSchema(), 'BACKWARD');
  await waitFor('ready', async () => (await readiness(bridge)).status === 200, 40000, 200);
  expect(bridge.schemaId).toBe(id);
  expect(await post(bridge, 'looked-up')).toEqual({ status: 200, text: OK_REPLY });
});
