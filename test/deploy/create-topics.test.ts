import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopics, describeTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { createLogger } from '../../src/observability/logger';
import { KAFKA_BROKERS, STACK_DIR } from '../support/stack';
import { ROOT } from './support';

/**
 * k8s/base/topics/create-topics.sh (the Job's and the compose `topics` service's script): against
 * the local broker with the real Kafka tool, and with a stand-in kafka-topics.sh that records its
 * arguments and the client properties it is given:
 * one idempotent create per line of topics.conf, with its partitions, the environment's
 * replication and min.insync.replicas, its configs, and SASL/TLS client settings.
 */

const SCRIPT = join(ROOT, 'k8s', 'base', 'topics', 'create-topics.sh');
const CONF = join(ROOT, 'k8s', 'base', 'topics', 'topics.conf');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tim-topics-'));
  // records each call's arguments (one per line) and a copy of the --command-config file
  writeFileSync(
    join(dir, 'kafka-topics.sh'),
    `#!/bin/sh
n=$(ls "${dir}"/call-*.args 2>/dev/null | wc -l)
for a in "$@"; do printf '%s\\n' "$a"; done > "${dir}/call-$n.args"
while [ $# -gt 0 ]; do
  if [ "$1" = --command-config ]; then cp "$2" "${dir}/call-$n.properties"; fi
  shift
done
`,
  );
  chmodSync(join(dir, 'kafka-topics.sh'), 0o755);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function runScript(env: Record<string, string>) {
  const r = spawnSync('/bin/sh', [SCRIPT], {
    env: { PATH: process.env.PATH, KAFKA_BIN: dir, TOPICS_FILE: CONF, ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

const calls = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    args: readFileSync(join(dir, `call-${i}.args`), 'utf8')
      .trim()
      .split('\n'),
    props: readFileSync(join(dir, `call-${i}.properties`), 'utf8'),
  }));

const topicLines = readFileSync(CONF, 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => l.split(/\s+/));

test('one idempotent create per topic, with its partitions, replication, min ISR and configs', () => {
  const r = runScript({
    KAFKA_BROKERS: 'k1:9092,k2:9092',
    TOPIC_REPLICATION_FACTOR: '3',
    TOPIC_MIN_INSYNC_REPLICAS: '2',
  });
  expect(r).toMatchObject({ status: 0 });
  expect(r.stdout).toContain(`${topicLines.length} topics present`);
  const made = calls(topicLines.length);
  topicLines.forEach(([name, partitions, ...configs], i) => {
    const args = made[i]?.args ?? [];
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    expect(args).toEqual(expect.arrayContaining(['--create', '--if-not-exists']));
    expect({
      bootstrap: after('--bootstrap-server'),
      topic: after('--topic'),
      partitions: after('--partitions'),
      rf: after('--replication-factor'),
    }).toEqual({ bootstrap: 'k1:9092,k2:9092', topic: name, partitions, rf: '3' });
    const given = args.filter((_, j) => args[j - 1] === '--config');
    expect(given.sort()).toEqual(['min.insync.replicas=2', ...configs].sort());
    expect(made[i]?.props).toBe(''); // no SASL, no TLS
  });
});

test('SASL/SCRAM over TLS with a private CA: the client properties the Kafka tools need', () => {
  const r = runScript({
    KAFKA_BROKERS: 'k1:9093',
    TOPIC_REPLICATION_FACTOR: '3',
    TOPIC_MIN_INSYNC_REPLICAS: '2',
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: 'tim',
    KAFKA_SASL_PASSWORD: 'pw',
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: '/etc/kafka-ca/ca.pem',
  });
  expect(r).toMatchObject({ status: 0 });
  expect(calls(1)[0]?.props.trim().split('\n')).toEqual([
    'security.protocol=SASL_SSL',
    'sasl.mechanism=SCRAM-SHA-512',
    'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="tim" password="pw";',
    'ssl.truststore.type=PEM',
    'ssl.truststore.location=/etc/kafka-ca/ca.pem',
  ]);
});

test('refuses to run without the replication settings or with an unknown SASL mechanism', () => {
  const missing = runScript({ KAFKA_BROKERS: 'k1:9092' });
  expect(missing.status).not.toBe(0);
  expect(missing.stderr).toContain('TOPIC_REPLICATION_FACTOR must be set');
  const bad = runScript({
    KAFKA_BROKERS: 'k1:9092',
    TOPIC_REPLICATION_FACTOR: '1',
    TOPIC_MIN_INSYNC_REPLICAS: '1',
    KAFKA_SASL_MECHANISM: 'gssapi',
  });
  expect(bad).toMatchObject({ status: 2 });
  expect(bad.stderr).toContain('KAFKA_SASL_MECHANISM=gssapi');
});

test('against the local broker with the real kafka-topics tool: the topics made with their partitions and configs; a second run changes nothing', async () => {
  // the Kafka tool itself (TopicCommand, what kafka-topics.sh runs), from the stack's classpath
  const classpath = readFileSync(join(STACK_DIR, 'kafka.classpath'), 'utf8').trim();
  writeFileSync(
    join(dir, 'kafka-topics.sh'),
    `#!/bin/sh\nexec java -cp '${classpath}' org.apache.kafka.tools.TopicCommand "$@"\n`,
  );
  // a sample of topics.conf (the C2C topic, its dead letters, a compacted state topic), under
  // this test's own names
  const prefix = `ct-${process.pid}-${Date.now().toString(36)}-`;
  const sample = topicLines.filter(([name]) =>
    ['c2c.after-send-msg', 'c2c.after-send-msg.dlq', 'c2c-analytics.state'].includes(name ?? ''),
  );
  expect(sample).toHaveLength(3);
  // written without a final line break, as an editor may leave it: the last topic counts too
  const conf = join(dir, 'topics.conf');
  writeFileSync(
    conf,
    sample.map(([name, ...rest]) => [prefix + name, ...rest].join(' ')).join('\n'),
  );
  const env = {
    KAFKA_BROKERS,
    TOPIC_REPLICATION_FACTOR: '1',
    TOPIC_MIN_INSYNC_REPLICAS: '1',
    TOPICS_FILE: conf,
    LOG_DIR: join(dir, 'logs'),
  };
  const kafka = createKafka({
    brokers: KAFKA_BROKERS.split(','),
    clientId: 'test-create-topics',
    logger: createLogger({ level: 'silent' }),
  });
  const names = sample.map(([name]) => prefix + name);
  try {
    for (const run of ['first', 'second']) {
      const r = runScript(env);
      expect({ run, status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({
        run,
        status: 0,
        stderr: '',
      });
      expect(r.stdout).toContain('3 topics present');
    }
    for (const [name, partitions, ...configs] of sample) {
      const wanted = Object.fromEntries(
        [...configs, 'min.insync.replicas=1'].map((c) => c.split('=') as [string, string]),
      );
      const made = await describeTopic(kafka, prefix + name, Object.keys(wanted));
      expect({ name, ...made }).toEqual({ name, partitions: Number(partitions), configs: wanted });
    }
  } finally {
    await deleteTopics(kafka, names);
  }
}, 120000);

/** A CA, a client certificate it signed, and the client's key in the given forms (openssl). */
function clientCertificate(at: string): { ca: string; cert: string; keys: Record<string, string> } {
  const openssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: at, encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  openssl(
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=test-ca', '-days', '2'],
    ...['-keyout', 'ca.key', '-out', 'ca.crt'],
  );
  openssl(
    ...['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=tim-kafka-bridge'],
    ...['-keyout', 'client.key', '-out', 'client.csr'],
  );
  openssl(
    ...['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key'],
    ...['-CAcreateserial', '-days', '2', '-out', 'client.crt'],
  );
  // an encrypted PKCS#8 key with a PBES1 scheme, which Java reads; openssl's default (PBES2) it may not
  openssl(
    ...['pkcs8', '-topk8', '-v1', 'PBE-SHA1-3DES', '-in', 'client.key'],
    ...['-out', 'client.enc.key', '-passout', 'pass:key-pw'],
  );
  openssl('rsa', '-in', 'client.key', '-traditional', '-out', 'client.rsa.key');
  return {
    ca: join(at, 'ca.crt'),
    cert: join(at, 'client.crt'),
    keys: {
      pkcs8: join(at, 'client.key'),
      encrypted: join(at, 'client.enc.key'),
      pkcs1: join(at, 'client.rsa.key'),
    },
  };
}

const TLS = {
  KAFKA_BROKERS: 'k1:9093',
  TOPIC_REPLICATION_FACTOR: '3',
  TOPIC_MIN_INSYNC_REPLICAS: '2',
  KAFKA_SSL: 'true',
};

test('mutual TLS: the client certificate and key inline in the properties, each PEM line break escaped', () => {
  const pki = clientCertificate(dir);
  const r = runScript({
    ...TLS,
    KAFKA_SSL_CA_FILE: pki.ca,
    KAFKA_SSL_CERT_FILE: pki.cert,
    KAFKA_SSL_KEY_FILE: pki.keys.pkcs8 ?? '',
  });
  expect(r).toMatchObject({ status: 0 });
  const props = calls(1)[0]?.props.trim().split('\n') ?? [];
  const escaped = (file: string) => readFileSync(file, 'utf8').replace(/\n/g, '\\n');
  expect(props).toEqual([
    'security.protocol=SSL',
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${pki.ca}`,
    'ssl.keystore.type=PEM',
    `ssl.keystore.certificate.chain=${escaped(pki.cert)}`,
    `ssl.keystore.key=${escaped(pki.keys.pkcs8 ?? '')}`,
  ]);
});

test('mutual TLS: refuses a certificate without its key, and a key the Kafka tools cannot read (PKCS#1)', () => {
  const pki = clientCertificate(dir);
  const half = runScript({ ...TLS, KAFKA_SSL_CERT_FILE: pki.cert });
  expect(half).toMatchObject({ status: 2 });
  expect(half.stderr).toContain('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together');
  const pkcs1 = runScript({
    ...TLS,
    KAFKA_SSL_CERT_FILE: pki.cert,
    KAFKA_SSL_KEY_FILE: pki.keys.pkcs1 ?? '',
  });
  expect(pkcs1).toMatchObject({ status: 2 });
  expect(pkcs1.stderr).toContain('openssl pkcs8 -topk8');
});

test("mutual TLS: the Kafka client of the stack's release builds its TLS engine from those properties (plain and encrypted key)", () => {
  const classpath = readFileSync(join(STACK_DIR, 'kafka.classpath'), 'utf8').trim();
  const pki = clientCertificate(dir);
  const files: string[] = [];
  for (const [name, key, password] of [
    ['plain', pki.keys.pkcs8, ''],
    ['encrypted', pki.keys.encrypted, 'key-pw'],
  ] as const) {
    const before = readdirSync(dir).filter((f) => f.endsWith('.properties')).length;
    const r = runScript({
      ...TLS,
      KAFKA_SSL_CA_FILE: pki.ca,
      KAFKA_SSL_CERT_FILE: pki.cert,
      KAFKA_SSL_KEY_FILE: key ?? '',
      KAFKA_SSL_KEY_PASSWORD: password,
    });
    expect({ name, status: r.status, stderr: r.stderr }).toEqual({ name, status: 0, stderr: '' });
    const file = join(dir, `${name}.client.properties`);
    writeFileSync(file, readFileSync(join(dir, `call-${before}.properties`)));
    files.push(file);
  }
  // Kafka's own SSL engine factory, configured as the AdminClient of kafka-topics.sh would be
  writeFileSync(
    join(dir, 'CheckTls.java'),
    `import java.io.FileReader;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Properties;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.security.ssl.DefaultSslEngineFactory;

public class CheckTls {
  public static void main(String[] files) throws Exception {
    for (String file : files) {
      Properties p = new Properties();
      try (FileReader r = new FileReader(file)) { p.load(r); }
      p.put("bootstrap.servers", "k1:9093");
      DefaultSslEngineFactory f = new DefaultSslEngineFactory();
      f.configure(new AdminClientConfig(p).values());
      KeyStore ks = f.keystore();
      String alias = ks.aliases().nextElement();
      X509Certificate cert = (X509Certificate) ks.getCertificate(alias);
      f.createClientSslEngine("k1", 9093, "https");
      System.out.println(ks.isKeyEntry(alias) + " " + cert.getSubjectX500Principal().getName()
          + " " + f.truststore().size());
    }
  }
}
`,
  );
  const javac = spawnSync('javac', ['-cp', classpath, '-d', dir, join(dir, 'CheckTls.java')], {
    encoding: 'utf8',
  });
  expect({ javac: javac.status, stderr: javac.stderr }).toEqual({ javac: 0, stderr: '' });
  const java = spawnSync('java', ['-cp', `${classpath}:${dir}`, 'CheckTls', ...files], {
    encoding: 'utf8',
  });
  expect({ java: java.status, stderr: java.status === 0 ? '' : java.stderr }).toEqual({
    java: 0,
    stderr: '',
  });
  // for each: a key entry, the client certificate, the CA trusted
  expect(java.stdout.trim().split('\n')).toEqual(files.map(() => 'true CN=tim-kafka-bridge 1'));
});
