import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './support';

/**
 * k8s/base/topics/create-topics.sh (the Job's and the compose `topics` service's script) with a
 * stand-in kafka-topics.sh that records its arguments and the client properties it is given:
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
