import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deleteTopics } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { readTopic } from '../../src/kafka/reader';
import { RegistryReader } from '../../src/kafka/registry';
import { startBridge } from '../../src/main';
import { OK_REPLY } from '../../src/tencent/reply';
import {
  capturedLogger,
  logger,
  postCallback,
  startTestBridge,
  testConfig,
  uniqueTopic,
  type TestBridge,
} from '../support/bridge';
import { canonicalJson, loadFixtures } from '../support/fixtures';
import { decodeCallbacks } from '../support/records';
import { KAFKA_BROKERS, SCHEMA_REGISTRY_URL } from '../support/stack';

/**
 * The schema registry's basic auth, for real: the local registry has none, so the bridge reaches
 * it through an authenticating reverse proxy (as a gateway in front of a registry would be):
 * `Authorization: Basic` with the right user and password is forwarded, anything else gets 401.
 * The bridge sends SCHEMA_REGISTRY_USERNAME / SCHEMA_REGISTRY_PASSWORD on every request.
 */
const USER = 'registry-user';
const PASSWORD = 'registry-secret';
const EXPECTED = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const target = new URL(SCHEMA_REGISTRY_URL);
const fixture = loadFixtures().find((f) => f.name === 'text.json')!;
const kafka = createKafka({
  brokers: KAFKA_BROKERS.split(','),
  clientId: 'test-registry-auth',
  logger,
});

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
  status: number;
}

/** The authenticating reverse proxy to the registry; `seen` holds every request it took. */
async function authProxy(): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const authorization = req.headers.authorization;
    const note = (status: number) =>
      seen.push({ method: req.method ?? '', path: req.url ?? '', authorization, status });
    if (authorization !== EXPECTED) {
      note(401);
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="registry"' });
      res.end('{"error_code":401,"message":"Unauthorized"}');
      return;
    }
    const headers = { ...req.headers, host: target.host };
    delete headers.authorization;
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (up) => {
        note(up.statusCode ?? 0);
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      note(502);
      res.writeHead(502);
      res.end(err.message);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}${target.pathname}`, seen, server };
}

let proxy: Awaited<ReturnType<typeof authProxy>>;
beforeAll(async () => {
  proxy = await authProxy();
});
afterAll(async () => {
  await new Promise((r) => proxy.server.close(r));
});

test('with the credentials, the bridge registers through the authenticating proxy, publishes, and every request carried them', async () => {
  let bridge: TestBridge | undefined;
  try {
    bridge = await startTestBridge('registry-auth', {
      SCHEMA_REGISTRY_URL: proxy.url,
      SCHEMA_REGISTRY_USERNAME: USER,
      SCHEMA_REGISTRY_PASSWORD: PASSWORD,
    });
    const subject = `${bridge.topic}-value`;
    expect(bridge.schemaId).toEqual(expect.any(Number));
    const res = await postCallback(bridge.callbackUrl, fixture.text);
    expect(await res.text()).toBe(OK_REPLY);
    const records = await readTopic(bridge.kafka, bridge.topic, { atLeast: 1 });
    expect(records).toHaveLength(1);
    expect(records[0]?.value?.readUInt32BE(1)).toBe(bridge.schemaId);
    const [callback] = await decodeCallbacks(records);
    expect(canonicalJson(callback)).toBe(canonicalJson(fixture.json));
    // the read side (consumers, the client package) authenticates the same way
    const reader = new RegistryReader({
      url: proxy.url,
      auth: { username: USER, password: PASSWORD },
    });
    expect((await reader.decode(records[0]!.value!)).schemaId).toBe(bridge.schemaId);

    const mine = proxy.seen.filter((s) => s.path.includes(encodeURIComponent(subject)));
    // the registration and the compatibility check both went through the proxy
    expect(mine.map((s) => s.method)).toEqual(expect.arrayContaining(['POST', 'GET']));
    expect(proxy.seen.filter((s) => s.authorization !== EXPECTED)).toEqual([]);
    expect(proxy.seen.filter((s) => s.status >= 400 && s.status !== 404)).toEqual([]);
  } finally {
    await bridge?.dispose();
  }
});

test('with a wrong password the registry refuses: the bridge stays up and not ready, says why, answers callbacks 503, and logs the refusal', async () => {
  const { logger: captured, lines } = capturedLogger();
  const seenBefore = proxy.seen.length;
  const topic = uniqueTopic('registry-auth-wrong');
  const bridge = await startBridge(
    testConfig({
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: `${topic}.dlq`,
      SPOOL_ENABLED: 'false',
      SCHEMA_REGISTRY_URL: proxy.url,
      SCHEMA_REGISTRY_USERNAME: USER,
      SCHEMA_REGISTRY_PASSWORD: 'wrong',
    }),
    captured,
  );
  try {
    expect(bridge.schemaId).toBeUndefined();
    // it asked with the configured (wrong) credentials, and only with them
    const refused = proxy.seen.slice(seenBefore);
    expect(refused.length).toBeGreaterThan(0);
    const wrong = `Basic ${Buffer.from(`${USER}:wrong`).toString('base64')}`;
    expect(refused.filter((s) => s.authorization !== wrong || s.status !== 401)).toEqual([]);

    const ready = await fetch(`${bridge.adminUrl}/readyz`);
    expect(ready.status).toBe(503);
    const { checks } = (await ready.json()) as { checks: Record<string, string> };
    expect(checks.schema).toBe(
      `no schema id yet for ${topic}-value: the schema registry (${proxy.url}) failed: Confluent_Schema_Registry - Unauthorized`,
    );
    const res = await postCallback(bridge.callbackUrl, fixture.text);
    expect(res.status).toBe(503);
    expect(JSON.parse(await res.text())).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 1 });
    const warning = (lines as { msg: string; err?: string; subject?: string }[]).find(
      (l) => l.msg === 'could not register the schema; retrying',
    );
    expect(warning).toMatchObject({
      subject: `${topic}-value`,
      err: expect.stringMatching(/Unauthorized/),
    });
  } finally {
    await bridge.stop();
    await deleteTopics(kafka, [topic, `${topic}.dlq`]).catch(() => undefined);
  }
});
