import { alterTopicConfig } from '../../src/kafka/admin';
import { readTopic } from '../../src/kafka/reader';
import { DLQ_HEADERS } from '../../src/record-headers';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { decodeCallbacks, deliveryReport, timed } from '../support/records';
import { metricValue, scrape, waitFor } from '../support/wait';

/**
 * Big messages under concurrency, through the real bridge: produce requests are cut by bytes
 * before they are sent, and when the broker refuses a request all the same (a topic's limit
 * lowered under the running bridge), no callback is answered 503 for another one's record, the
 * refused record is set aside with its reason, and every callback answered OK is in Kafka.
 */
const base = loadFixtures().find((f) => f.name === 'text.json')!.json;

/** A ~`kb` kB text callback (a long merged text is legal: up to 12 kB per element, several elements). */
function bigCallback(tag: string, i: number, kb: number, to = 'one-recipient') {
  const elements = Math.ceil(kb / 10);
  return {
    ...base,
    To_Account: to,
    MsgSeq: i,
    MsgKey: `${tag}-${i}`,
    MsgBody: Array.from({ length: elements }, (_, e) => ({
      MsgType: 'TIMTextElem',
      MsgContent: { Text: `${tag} ${i}/${e} `.padEnd(10 * 1024, 'abcdefghij') },
    })),
  };
}

async function postAll(bridge: TestBridge, bodies: Record<string, unknown>[]) {
  const replies = await Promise.all(
    bodies.map((b) =>
      timed(b.MsgKey as string, async () => {
        const res = await postCallback(bridge.callbackUrl, JSON.stringify(b));
        return { status: res.status, text: await res.text() };
      }),
    ),
  );
  const isOk = (r: (typeof replies)[number]) => r.reply.status === 200 && r.reply.text === OK_REPLY;
  return {
    ok: replies.filter(isOk).map(({ key, sentAt, repliedAt }) => ({ key, sentAt, repliedAt })),
    refused: replies.filter((r) => !isOk(r)).map((r) => r.reply),
  };
}

describe('400 40 kB callbacks to one To_Account, 200 at a time, BATCH_MAX_WAIT_MS=50', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startTestBridge('big-batch', { BATCH_MAX_WAIT_MS: '50' });
  });
  afterAll(async () => {
    await bridge?.dispose();
  });

  test('all 400 answered OK and in the topic, in order; no request refused for size', async () => {
    const bodies = Array.from({ length: 400 }, (_, i) => bigCallback('big', i, 40));
    expect(JSON.stringify(bodies[0]).length).toBeGreaterThan(40 * 1024);
    // two rounds: the second round's are sent after the first's OKs, so they must come after them
    const first = await postAll(bridge, bodies.slice(0, 200));
    const second = await postAll(bridge, bodies.slice(200));
    const ok = [...first.ok, ...second.ok];
    expect([...first.refused, ...second.refused]).toEqual([]);
    expect(ok).toHaveLength(400);

    const records = await readTopic(bridge.kafka, bridge.topic, { atLeast: 400 });
    const report = deliveryReport(await decodeCallbacks(records), ok);
    expect(report.missing).toEqual([]);
    expect(report.outOfOrder).toEqual([]);
    const metrics = await scrape(bridge.adminUrl);
    expect(metricValue(metrics, 'tim_bridge_producer_batch_failures_total')).toBe(0);
    expect(metricValue(metrics, 'tim_bridge_producer_replacements_total')).toBe(0);
  });
});

describe('a topic limit lowered under the running bridge', () => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startTestBridge('lowered-limit', { BATCH_MAX_WAIT_MS: '50' });
  });
  afterAll(async () => {
    await bridge?.dispose();
  });

  test('the record at fault goes to the DLQ with the reason; every other callback is OK and in its topic', async () => {
    // the bridge read the default limit at start; now the topic takes batches of 30 kB at most
    await alterTopicConfig(bridge.kafka, bridge.topic, { 'max.message.bytes': '30000' });
    const small = Array.from({ length: 40 }, (_, i) => bigCallback('small', i, 1, `acct-${i % 4}`));
    const big = bigCallback('big', 1000, 40, 'acct-0');
    const { ok, refused } = await postAll(bridge, [...small.slice(0, 20), big, ...small.slice(20)]);
    // the refused request's callbacks were spooled, not answered 503; the big one too
    expect(refused).toEqual([]);
    expect(ok).toHaveLength(41);

    await waitFor('the spool to drain', async () => {
      const m = await scrape(bridge.adminUrl);
      return metricValue(m, 'tim_bridge_spool_records') === 0 &&
        metricValue(m, 'tim_bridge_spool_dead_lettered_total') === 1
        ? m
        : undefined;
    });
    const records = await readTopic(bridge.kafka, bridge.topic, { atLeast: 40 });
    const report = deliveryReport(
      await decodeCallbacks(records),
      ok.filter((k) => k.key !== 'big-1000'),
    );
    expect(report.missing).toEqual([]);
    expect(report.outOfOrder).toEqual([]);
    const [dead, ...more] = await readTopic(bridge.kafka, bridge.dlqTopic, { atLeast: 1 });
    expect(more).toHaveLength(0);
    expect(dead!.headers[DLQ_HEADERS.reason]).toBe('kafka_refused');
    expect(dead!.headers[DLQ_HEADERS.topic]).toBe(bridge.topic);
    expect(dead!.headers[DLQ_HEADERS.error]).toMatch(/larger than|too large/i);
    // the dead letter is the Avro record itself: it decodes to the callback
    expect((await decodeCallbacks([dead!]))[0]!.MsgKey).toBe('big-1000');
  });

  test('a record that neither its topic nor the DLQ takes is quarantined in the spool file; the rest flows', async () => {
    await alterTopicConfig(bridge.kafka, bridge.dlqTopic, { 'max.message.bytes': '30000' });
    const before = (await readTopic(bridge.kafka, bridge.topic)).length;
    const small = Array.from({ length: 10 }, (_, i) => bigCallback('after', i, 1));
    const { ok, refused } = await postAll(bridge, [
      ...small.slice(0, 5),
      bigCallback('big', 2000, 40),
      ...small.slice(5),
    ]);
    expect(refused).toEqual([]);
    expect(ok).toHaveLength(11);
    await waitFor('the spool to drain', async () => {
      const m = await scrape(bridge.adminUrl);
      return metricValue(m, 'tim_bridge_spool_records') === 0 &&
        metricValue(m, 'tim_bridge_spool_quarantined_records') === 1
        ? m
        : undefined;
    });
    const records = await readTopic(bridge.kafka, bridge.topic, { atLeast: before + 10 });
    const report = deliveryReport(
      await decodeCallbacks(records),
      ok.filter((k) => k.key !== 'big-2000'),
    );
    expect(report.missing).toEqual([]);
  });
});
