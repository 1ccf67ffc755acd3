import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTopic } from '../../src/kafka/reader';
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
import { EXTERNAL_STACK, STACK_DIR } from '../support/stack';
import { waitFor } from '../support/wait';

/**
 * Kafka's TLS, mutual TLS and SASL PLAIN for real, on listeners of the local broker (stack.sh):
 * SSL on 127.0.0.1:9095 with `ssl.client.auth=required`, its CA, the broker's and a client's
 * certificates made by stack.sh in STACK_DIR/tls (ca.crt, client.crt, client.key); PLAIN on the
 * SASL_PLAINTEXT listener (127.0.0.1:9094) with the SCRAM user's name and password. The bridge
 * loads the PEM files KAFKA_SSL_* name (a wrong one refused by the broker or not trusting it) and
 * logs in with KAFKA_SASL_MECHANISM=plain. Records are read back through the plaintext listener
 * of the same broker. Against an existing cluster, TEST_KAFKA_TLS_BROKERS names its mutual-TLS
 * listener (CA, client certificate and key as ca.crt, client.crt and client.key in
 * TEST_KAFKA_TLS_DIR) and TEST_KAFKA_PLAIN_BROKERS a SASL listener taking PLAIN for
 * STACK_SCRAM_USER / STACK_SCRAM_PASSWORD; without them those tests are skipped.
 */
const tlsBrokers = EXTERNAL_STACK
  ? process.env.TEST_KAFKA_TLS_BROKERS
  : `127.0.0.1:${process.env.KAFKA_TLS_PORT ?? '9095'}`;
const plainBrokers = EXTERNAL_STACK
  ? process.env.TEST_KAFKA_PLAIN_BROKERS
  : `127.0.0.1:${process.env.KAFKA_SASL_PORT ?? '9094'}`;
const TLS_DIR = process.env.TEST_KAFKA_TLS_DIR ?? join(STACK_DIR, 'tls');
const describeTls = tlsBrokers === undefined ? describe.skip : describe;
const describePlain = plainBrokers === undefined ? describe.skip : describe;

const fixture = loadFixtures().find((f) => f.name === 'text.json')!;
/** Without a spool, an OK means Kafka acknowledged the record: no spool hides a failed publish. */
const NO_SPOOL = { SPOOL_ENABLED: 'false' };
const TLS = {
  KAFKA_BROKERS: tlsBrokers ?? '',
  KAFKA_SSL: 'true',
  KAFKA_SSL_CA_FILE: join(TLS_DIR, 'ca.crt'),
};
const MUTUAL_TLS = {
  ...TLS,
  KAFKA_SSL_CERT_FILE: join(TLS_DIR, 'client.crt'),
  KAFKA_SSL_KEY_FILE: join(TLS_DIR, 'client.key'),
};
const PLAIN = {
  KAFKA_BROKERS: plainBrokers ?? '',
  KAFKA_SASL_MECHANISM: 'plain',
  KAFKA_SASL_USERNAME: process.env.STACK_SCRAM_USER ?? 'bridge',
  KAFKA_SASL_PASSWORD: process.env.STACK_SCRAM_PASSWORD ?? 'bridge-secret',
};

/** Posts the fixture; OK, and the record in the topic decodes back to it. */
async function publishesThrough(bridge: TestBridge): Promise<void> {
  const res = await postCallback(bridge.callbackUrl, fixture.text);
  expect(await res.text()).toBe(OK_REPLY);
  const records = await readTopic(bridge.kafka, bridge.topic, { atLeast: 1 });
  expect(records).toHaveLength(1);
  expect(records[0]?.key?.toString()).toBe('Jonh');
  const [callback] = await decodeCallbacks(records);
  expect(canonicalJson(callback)).toBe(canonicalJson(fixture.json));
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const newDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tim-kafka-security-'));
  dirs.push(d);
  return d;
};

describeTls('mutual TLS', () => {
  const bridges: TestBridge[] = [];
  afterAll(async () => {
    for (const b of bridges) await b.dispose();
  });

  test('with the CA, the client certificate and its key, the bridge creates its topic and publishes through the TLS listener', async () => {
    const bridge = await startTestBridge('mtls', { ...MUTUAL_TLS, ...NO_SPOOL });
    bridges.push(bridge);
    await publishesThrough(bridge);
  });

  test('an encrypted client key is opened with KAFKA_SSL_KEY_PASSWORD', async () => {
    const keyFile = join(newDir(), 'client.enc.key');
    const pem = createPrivateKey(readFileSync(MUTUAL_TLS.KAFKA_SSL_KEY_FILE)).export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'key-passphrase',
    });
    writeFileSync(keyFile, pem);
    expect(pem.toString()).toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const bridge = await startTestBridge('mtls-encrypted', {
      ...MUTUAL_TLS,
      ...NO_SPOOL,
      KAFKA_SSL_KEY_FILE: keyFile,
      KAFKA_SSL_KEY_PASSWORD: 'key-passphrase',
    });
    bridges.push(bridge);
    await publishesThrough(bridge);
  });

  test('without a client certificate the broker refuses the handshake: the bridge starts on its spool, not ready, and logs the TLS alert as the reason', async () => {
    const { logger: captured, lines } = capturedLogger();
    const spoolDir = newDir();
    const bridge = await startBridge(
      testConfig({ ...TLS, KAFKA_TOPIC: uniqueTopic('tls-no-cert'), SPOOL_DIR: spoolDir }),
      captured,
    );
    try {
      type Line = { msg: string; err?: string };
      const reason = await waitFor(
        'the reason Kafka is unreachable in the log',
        () =>
          (lines as Line[]).find(
            (l) => l.msg === 'Kafka unreachable at start; callbacks go to the spool',
          ),
        60000,
        200,
      );
      // Java's broker answers a missing client certificate with a bad_certificate alert (42);
      // TLS 1.3 also defines certificate_required (116)
      expect(reason.err).toMatch(/alert (bad certificate|certificate required)/);
      const res = await fetch(`${bridge.adminUrl}/readyz`);
      expect(res.status).toBe(503);
      const { checks } = (await res.json()) as { checks: Record<string, string> };
      expect(checks.kafka).toBe('not connected to Kafka yet');
    } finally {
      await bridge.stop();
    }
  });

  test("a CA that did not sign the broker's certificate: the broker is not trusted, the start without a spool fails and says so", async () => {
    const dir = newDir();
    const r = spawnSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2'],
        ...['-subj', '/CN=another CA', '-keyout', 'ca.key', '-out', 'ca.crt'],
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    if (r.error || r.status !== 0) throw new Error(`openssl: ${r.error?.message ?? r.stderr}`);
    const config = testConfig({
      ...MUTUAL_TLS,
      ...NO_SPOOL,
      KAFKA_SSL_CA_FILE: join(dir, 'ca.crt'),
      KAFKA_TOPIC: uniqueTopic('tls-wrong-ca'),
    });
    await expect(startBridge(config, logger)).rejects.toThrow(
      /self-signed certificate in certificate chain|unable to get local issuer certificate/,
    );
  });
});

describePlain('SASL PLAIN', () => {
  test('a bridge with KAFKA_SASL_MECHANISM=plain creates its topic and publishes', async () => {
    const bridge = await startTestBridge('plain', { ...PLAIN, ...NO_SPOOL });
    try {
      await publishesThrough(bridge);
    } finally {
      await bridge.dispose();
    }
  });

  test('a wrong PLAIN password stops the start with an authentication error', async () => {
    const config = testConfig({
      ...PLAIN,
      ...NO_SPOOL,
      KAFKA_SASL_PASSWORD: 'wrong',
      KAFKA_TOPIC: uniqueTopic('plain-wrong'),
    });
    await expect(startBridge(config, logger)).rejects.toThrow(
      /SASL PLAIN authentication failed: .*Invalid username or password/,
    );
  });
});
