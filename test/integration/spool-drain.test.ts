import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { readTopic } from '../../src/kafka/reader';
import { Spool } from '../../src/spool/spool';
import { postCallback, startTestBridge, uniqueTopic } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { buildIfStale } from '../support/process';
import { decodeCallbacks, deliveryReport } from '../support/records';
import { KAFKA_BROKERS, ROOT } from '../support/stack';

/**
 * `npm run spool:drain`: a spool that no bridge owns any more (a replica scaled away) is sent to
 * Kafka by a drain-only process, the one a Kubernetes Job runs on the retained claim.
 */
const base = loadFixtures().find((f) => f.name === 'text.json')!.json;
const DRAIN_JS = join(ROOT, 'dist', 'src', 'tools', 'spool-drain.js');

function drain(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [DRAIN_JS, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, KAFKA_BROKERS, LOG_LEVEL: 'info', ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a stranded spool is drained to Kafka by spool:drain, in order; status, ownership and a wrong path are handled', async () => {
  buildIfStale();
  const spoolDir = mkdtempSync(join(tmpdir(), 'tim-stranded-'));
  const topic = uniqueTopic('stranded');
  const dlqTopic = `${topic}.dlq`;
  try {
    // a bridge whose topic cannot take records spools them, and stops with them (Kafka refuses)
    const bridge = await startTestBridge('stranded', {
      KAFKA_TOPIC: topic,
      SPOOL_DIR: spoolDir,
      PUBLISH_TIMEOUT_MS: '300',
      SHUTDOWN_GRACE_MS: '1500',
    });
    await deleteTopics(bridge.kafka, [topic]);
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      const body = { ...base, To_Account: `acct-${i % 3}`, MsgSeq: i, MsgKey: `stranded-${i}` };
      const res = await postCallback(bridge.callbackUrl, JSON.stringify(body));
      expect(res.status).toBe(200);
      acked.push(body.MsgKey);
    }
    await bridge.stop();

    const status = drain(['--dir', spoolDir, '--status']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      records: 20,
      quarantined: 0,
      topics: { [topic]: 20 },
    });

    // one owner at a time: a drain refuses a spool that a live process holds
    const owner = new Spool({ dir: spoolDir, maxRecords: 100, maxBytes: 1e9 });
    const refused = drain(['--dir', spoolDir]);
    owner.close();
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/in use by another process/);

    // a wrong path is an error, not an empty success
    const wrong = drain(['--dir', join(spoolDir, 'nope')]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/no spool in/);

    await ensureTopic(bridge.kafka, { topic, numPartitions: 6, replicationFactor: 1 });
    const drained = drain(['--dir', spoolDir, '--timeout-ms', '30000'], {
      KAFKA_DLQ_TOPIC: dlqTopic,
    });
    expect({ code: drained.code, stderr: drained.stderr }).toEqual({ code: 0, stderr: '' });
    expect(drained.stdout).toMatch(/the spool is empty/);
    const records = await readTopic(bridge.kafka, topic, { atLeast: 20 });
    const report = deliveryReport(await decodeCallbacks(records), acked);
    expect(report.missing).toEqual([]);
    expect(report.outOfOrder).toEqual([]);
    expect(JSON.parse(drain(['--dir', spoolDir, '--status']).stdout)).toMatchObject({ records: 0 });
    await deleteTopics(bridge.kafka, [topic, dlqTopic]);
  } finally {
    rmSync(spoolDir, { recursive: true, force: true });
  }
});
