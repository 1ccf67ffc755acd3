import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { readTopic } from '../../src/kafka/reader';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, uniqueTopic, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { decodeCallbacks, deliveryReport } from '../support/records';
import { metricValue, scrape, waitFor } from '../support/wait';

/**
 * The spool, on the real stack. Kafka is made unable to acknowledge one bridge's records by
 * deleting its topic under it (the producer retries; nothing acknowledges), and able again by
 * creating the topic anew: an outage of exactly this bridge, without stopping the shared broker.
 */
const base = loadFixtures().find((f) => f.name === 'text.json')!.json;
const ACCOUNTS = ['ann', 'bo', 'cy'];
let seq = 0;
const callback = (tag: string) => {
  const n = seq++;
  return { ...base, To_Account: ACCOUNTS[n % 3], MsgSeq: n, MsgKey: `${tag}-${n}` };
};
const recreate = (b: TestBridge) =>
  ensureTopic(b.kafka, { topic: b.topic, numPartitions: 6, replicationFactor: 1 });

describe('with Kafka unable to acknowledge', () => {
  let bridge: TestBridge;
  const acked: string[] = [];
  beforeAll(async () => {
    bridge = await startTestBridge('spool', { PUBLISH_TIMEOUT_MS: '300', SPOOL_MAX_RECORDS: '30' });
  });
  afterAll(async () => {
    await bridge?.dispose();
  });

  const post = async (body: Record<string, unknown>) => {
    const res = await postCallback(bridge.callbackUrl, JSON.stringify(body));
    const text = await res.text();
    if (res.status === 200 && text === OK_REPLY) acked.push(body.MsgKey as string);
    return { status: res.status, text };
  };

  test('callbacks are spooled and answered OK, in order behind one another, up to the limit', async () => {
    for (let i = 0; i < 5; i++) expect((await post(callback('before'))).status).toBe(200);
    await deleteTopics(bridge.kafka, [bridge.topic]);

    for (let i = 0; i < 30; i++) expect((await post(callback('outage'))).status).toBe(200);
    const metrics = await scrape(bridge.adminUrl);
    expect(metricValue(metrics, 'tim_bridge_callbacks_accepted_total{outcome="kafka"}')).toBe(5);
    expect(metricValue(metrics, 'tim_bridge_callbacks_accepted_total{outcome="spooled"}')).toBe(30);
    expect(metricValue(metrics, 'tim_bridge_spool_records')).toBe(30);
    expect(metricValue(metrics, 'tim_bridge_spool_usage_ratio')).toBe(1);
  });

  test('a full spool answers 503 and /readyz says not ready', async () => {
    const refused = await post(callback('full'));
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.text)).toEqual({
      ActionStatus: 'FAIL',
      ErrorInfo: 'the local spool is full while Kafka is unavailable',
      ErrorCode: 1,
    });
    const ready = await fetch(`${bridge.adminUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: Record<string, string> }).checks.spool).toBe(
      'spool is full',
    );
    const metrics = await scrape(bridge.adminUrl);
    expect(metricValue(metrics, 'tim_bridge_callbacks_refused_total{reason="spool_full"}')).toBe(1);
  });

  test('once Kafka is back the spool drains, everything OK is there in order, and it is ready again', async () => {
    await recreate(bridge);
    await waitFor('the spool to drain', async () =>
      metricValue(await scrape(bridge.adminUrl), 'tim_bridge_spool_records') === 0
        ? true
        : undefined,
    );
    await waitFor('ready', async () => (await fetch(`${bridge.adminUrl}/readyz`)).status === 200);
    // and the normal path is back
    expect((await post(callback('after'))).status).toBe(200);
    expect(
      metricValue(
        await scrape(bridge.adminUrl),
        'tim_bridge_callbacks_accepted_total{outcome="kafka"}',
      ),
    ).toBe(6);

    const records = await readTopic(bridge.kafka, bridge.topic, { atLeast: 31 });
    // the records sent before the delete went with the old topic; everything since is here
    const sinceOutage = acked.filter((k) => !k.startsWith('before-'));
    const report = deliveryReport(await decodeCallbacks(records), sinceOutage);
    expect(sinceOutage).toHaveLength(31);
    expect(report.missing).toEqual([]);
    expect(report.outOfOrder).toEqual([]);
    expect(new Set((await decodeCallbacks(records)).map((c) => c.MsgKey)).size).toBe(31);
  });
});

test('what the spool held when the bridge stopped is drained by the next start', async () => {
  const spoolDir = mkdtempSync(join(tmpdir(), 'tim-spool-restart-'));
  const topic = uniqueTopic('spool-restart');
  const overrides = {
    KAFKA_TOPIC: topic,
    SPOOL_DIR: spoolDir,
    PUBLISH_TIMEOUT_MS: '300',
    SHUTDOWN_GRACE_MS: '2000',
  };
  const first = await startTestBridge('spool-restart', overrides);
  await deleteTopics(first.kafka, [topic]);
  const acked: string[] = [];
  for (let i = 0; i < 10; i++) {
    const body = callback('restart');
    const res = await postCallback(first.callbackUrl, JSON.stringify(body));
    expect(res.status).toBe(200);
    acked.push(body.MsgKey);
  }
  await first.stop();

  await recreate(first);
  const second = await startTestBridge('spool-restart', overrides);
  try {
    await waitFor('the spool to drain', async () =>
      metricValue(await scrape(second.adminUrl), 'tim_bridge_spool_records') === 0
        ? true
        : undefined,
    );
    const records = await readTopic(second.kafka, topic, { atLeast: 10 });
    const report = deliveryReport(await decodeCallbacks(records), acked);
    expect(report.missing).toEqual([]);
    expect(report.outOfOrder).toEqual([]);
  } finally {
    await second.dispose();
    rmSync(spoolDir, { recursive: true, force: true });
  }
});
