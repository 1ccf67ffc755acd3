import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alterTopicConfig, deleteTopics, describeTopic, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { readTopic } from '../../src/kafka/reader';
import { startBridge, type RunningBridge } from '../../src/main';
import { DLQ_HEADERS, HEADER_COMMAND, HEADER_SDKAPPID } from '../../src/record-headers';
import { Spool } from '../../src/spool/spool';
import { OK_REPLY } from '../../src/tencent/reply';
import { capturedLogger, logger, postCallback, testConfig, uniqueTopic } from '../support/bridge';
import { loadFixtures, QUERY } from '../support/fixtures';
import { decodeCallbacks, deliveryReport, timed, type AckedSend } from '../support/records';
import { KAFKA_BROKERS } from '../support/stack';
import { TcpProxy } from '../support/tcp-proxy';
import { metricValue, sampleValue, scrape, waitFor } from '../support/wait';

/**
 * Records Kafka refuses for themselves (larger than their topic's `max.message.bytes`), on the
 * real broker (issue 18 §3.3). Without a spool the callback at fault is answered a 500 FAIL
 * (`kafka_refused`) at once, whether the bridge knew the limit or the broker refused the request,
 * and the callbacks that shared its request still land. With a spool, records spooled while
 * Kafka was away drain in order once it is back: the one its topic refuses goes to the
 * dead-letter topic with its reason, the one the dead-letter topic refuses too is quarantined in
 * the spool file, and one the dead-letter topic cannot take yet waits for it; none is lost.
 */
const kafka = createKafka({
  brokers: KAFKA_BROKERS.split(','),
  clientId: 'test-kafka-refusals',
  logger,
});
const kafkaPort = Number(KAFKA_BROKERS.split(',')[0]?.split(':').pop());
const base = loadFixtures().find((f) => f.name === 'text.json')!.json;
/** In every callback's text: no log line may carry it (users' text never goes into logs). */
const USER_TEXT = 'words-of-a-user';

/** A C2C text callback of about `kb` kB (10 kB elements), or a short one (kb 0). */
function callback(tag: string, i: number, to: string, kb = 0): Record<string, unknown> {
  const text = (e: number) => `${USER_TEXT} ${tag} ${i}/${e} `;
  const elements =
    kb === 0
      ? [text(0)]
      : Array.from({ length: Math.ceil(kb / 10) }, (_, e) =>
          text(e).padEnd(10 * 1024, 'abcdefghij'),
        );
  return {
    ...base,
    To_Account: to,
    MsgSeq: i,
    MsgKey: `${tag}-${i}`,
    MsgBody: elements.map((Text) => ({ MsgType: 'TIMTextElem', MsgContent: { Text } })),
  };
}

type LogLine = Record<string, unknown> & { msg: string };

interface Started {
  bridge: RunningBridge;
  topic: string;
  dlqTopic: string;
  spoolDir: string;
  lines: LogLine[];
  post(body: Record<string, unknown>): ReturnType<typeof send>;
  stop(): Promise<void>;
}

const send = (url: string, body: Record<string, unknown>) =>
  timed(body.MsgKey as string, async () => {
    const res = await postCallback(url, JSON.stringify(body));
    return { status: res.status, text: await res.text() };
  });

const topicsMade: string[] = [];
const dirsMade: string[] = [];
afterAll(async () => {
  await deleteTopics(kafka, topicsMade).catch(() => undefined);
  for (const dir of dirsMade) rmSync(dir, { recursive: true, force: true });
});

const limit = (bytes: number) => [{ name: 'max.message.bytes', value: String(bytes) }];

/**
 * The bridge on a topic made beforehand with a small `max.message.bytes` (and its dead-letter
 * topic too, when `dlqConfig` is given), its log lines captured.
 */
async function start(
  name: string,
  opts: {
    topicLimit: number;
    dlqConfig?: { name: string; value: string }[];
    env?: Record<string, string>;
  },
): Promise<Started> {
  const topic = uniqueTopic(name);
  const dlqTopic = `${topic}.dlq`;
  topicsMade.push(topic, dlqTopic);
  await ensureTopic(kafka, {
    topic,
    numPartitions: 6,
    replicationFactor: 1,
    configEntries: limit(opts.topicLimit),
  });
  if (opts.dlqConfig) {
    await ensureTopic(kafka, {
      topic: dlqTopic,
      numPartitions: 1,
      replicationFactor: 1,
      configEntries: opts.dlqConfig,
    });
  }
  const spoolDir = mkdtempSync(join(tmpdir(), 'tim-spool-refusals-'));
  dirsMade.push(spoolDir);
  const captured = capturedLogger();
  const bridge = await startBridge(
    testConfig({
      KAFKA_TOPIC: topic,
      KAFKA_DLQ_TOPIC: dlqTopic,
      SPOOL_DIR: spoolDir,
      BATCH_MAX_WAIT_MS: '50',
      ...opts.env,
    }),
    captured.logger,
  );
  let stopped = false;
  return {
    bridge,
    topic,
    dlqTopic,
    spoolDir,
    lines: captured.lines as LogLine[],
    post: (body) => send(bridge.callbackUrl, body),
    async stop() {
      if (stopped) return;
      stopped = true;
      await bridge.stop();
    },
  };
}

/** Waits until the broker itself reports the topic's new limit (the alteration is applied). */
async function lowerLimit(topic: string, bytes: number): Promise<void> {
  await alterTopicConfig(kafka, topic, { 'max.message.bytes': String(bytes) });
  await waitFor(`max.message.bytes=${bytes} on ${topic}`, async () => {
    const { configs } = await describeTopic(kafka, topic, ['max.message.bytes']);
    return configs['max.message.bytes'] === String(bytes);
  });
}

const isOk = (r: Awaited<ReturnType<typeof send>>) =>
  r.reply.status === 200 && r.reply.text === OK_REPLY;
const sendsOf = (replies: Awaited<ReturnType<typeof send>>[]): AckedSend[] =>
  replies.filter(isOk).map(({ key, sentAt, repliedAt }) => ({ key, sentAt, repliedAt }));

describe('without a spool: the callback Kafka refuses gets 500 FAIL, the others land', () => {
  let b: Started;
  /** Every callback answered OK so far. */
  const accepted: AckedSend[] = [];
  const metric = async (sample: string) => metricValue(await scrape(b.bridge.adminUrl), sample);
  const refusedKafka = 'tim_bridge_callbacks_refused_total{reason="kafka_refused"}';
  const batchFailures = 'tim_bridge_producer_batch_failures_total';

  beforeAll(async () => {
    b = await start('refused-direct', {
      topicLimit: 30000,
      // the publish deadline well above the 1 s a refusal must be answered within
      env: { SPOOL_ENABLED: 'false', PUBLISH_TIMEOUT_MS: '1900' },
    });
  });
  afterAll(async () => {
    await b?.stop();
  });

  test('a record larger than its topic takes (limit known at start) is refused at once; the ones sent with it land', async () => {
    const alone = await b.post(callback('huge', 0, 'acct-0', 40));
    expect(alone.reply.status).toBe(500);
    expect(JSON.parse(alone.reply.text)).toEqual({
      ActionStatus: 'FAIL',
      ErrorInfo: expect.stringMatching(
        new RegExp(`^the record \\(\\d+ bytes\\) is larger than topic ${b.topic} accepts`),
      ),
      ErrorCode: 1,
    });

    // 20 callbacks at once (they share requests) with one too large among them
    const bodies = Array.from({ length: 20 }, (_, i) => callback('direct', i, `acct-${i % 4}`));
    bodies.splice(10, 0, callback('huge', 1, 'acct-1', 40));
    const replies = await Promise.all(bodies.map((body) => b.post(body)));
    expect(replies.filter((r) => !isOk(r)).map((r) => [r.key, r.reply.status])).toEqual([
      ['huge-1', 500],
    ]);
    accepted.push(...sendsOf(replies));
    // and the next one, alone
    const next = await b.post(callback('direct', 20, 'acct-0'));
    expect(isOk(next)).toBe(true);
    accepted.push(...sendsOf([next]));

    const records = await readTopic(kafka, b.topic, { atLeast: 21 });
    const callbacks = await decodeCallbacks(records);
    expect(deliveryReport(callbacks, accepted)).toEqual({
      missing: [],
      duplicates: 0,
      outOfOrder: [],
    });
    expect(callbacks.filter((c) => c.MsgKey.startsWith('huge'))).toEqual([]);

    const metrics = await scrape(b.bridge.adminUrl);
    expect(metricValue(metrics, refusedKafka)).toBe(2);
    // answered by the bridge within 1 s, not at the publish deadline (1.9 s)
    expect(
      sampleValue(metrics, 'tim_bridge_reply_duration_seconds_bucket', {
        le: '1',
        status_class: '5xx',
      }),
    ).toBe(2);
    // refused before it was sent: Kafka saw no failed request
    expect(metricValue(metrics, batchFailures)).toBe(0);
    const refusals = b.lines.filter((l) => l.msg.startsWith('callback refused:'));
    expect(refusals.map((l) => [l.reason, l.status, l.retriable])).toEqual([
      ['kafka_refused', 500, false],
      ['kafka_refused', 500, false],
    ]);
    expect(JSON.stringify(b.lines)).not.toContain(USER_TEXT);
  });

  test('a limit lowered under the running bridge: the broker refuses, the reply is 500 at once, the next callback lands', async () => {
    // the bridge knows 30000; the broker now takes 15000: only the broker can refuse a 20 kB record
    await lowerLimit(b.topic, 15000);
    const big = await b.post(callback('big', 0, 'acct-2', 20));
    expect(big.reply.status).toBe(500);
    expect(JSON.parse(big.reply.text)).toEqual({
      ActionStatus: 'FAIL',
      ErrorInfo: expect.stringMatching(/^Kafka refused the request: .*(larger|too large)/i),
      ErrorCode: 1,
    });
    expect(await metric(batchFailures)).toBe(1);
    // the producer is replaced (the broker's refusal rolled its sequence numbers back) ...
    await waitFor('the producer to be replaced', async () =>
      (await metric('tim_bridge_producer_replacements_total')) === 1 ? true : undefined,
    );
    // ... and the next callback is taken and lands
    const next = await b.post(callback('direct', 21, 'acct-2'));
    expect(isOk(next)).toBe(true);
    accepted.push(...sendsOf([next]));
    const keys = (await decodeCallbacks(await readTopic(kafka, b.topic, { atLeast: 22 }))).map(
      (c) => c.MsgKey,
    );
    expect(keys).toContain('direct-21');
    expect(keys).not.toContain('big-0');

    // not retried, and not sent again: the refusal made the bridge read the new limit
    const again = await b.post(callback('big', 1, 'acct-2', 20));
    expect(again.reply.status).toBe(500);
    const { ErrorInfo } = JSON.parse(again.reply.text) as { ErrorInfo: string };
    const [, accepts] = /is larger than topic .* accepts \((\d+) bytes\)$/.exec(ErrorInfo) ?? [];
    expect(Number(accepts)).toBeLessThan(15000);
    expect(await metric(batchFailures)).toBe(1);
    const metrics = await scrape(b.bridge.adminUrl);
    expect(metricValue(metrics, refusedKafka)).toBe(4);
    expect(
      sampleValue(metrics, 'tim_bridge_reply_duration_seconds_bucket', {
        le: '1',
        status_class: '5xx',
      }),
    ).toBe(4);
  });

  test('the broker refuses a request of many callbacks for one of them: only that one is refused, the rest land', async () => {
    // the bridge knows 15000; the broker now takes 8000: a 10 kB record goes out with others
    await lowerLimit(b.topic, 8000);
    const before = await metric(batchFailures);
    const bodies = Array.from({ length: 20 }, (_, i) => callback('shared', i, `acct-${i % 4}`));
    bodies.splice(8, 0, callback('medium', 0, 'acct-3', 10));
    const replies = await Promise.all(bodies.map((body) => b.post(body)));
    // it did share a request with others: the broker refused one
    expect(await metric(batchFailures)).toBeGreaterThan(before!);
    expect(replies.filter((r) => !isOk(r)).map((r) => [r.key, r.reply.status])).toEqual([
      ['medium-0', 500],
    ]);
    const refused = replies.find((r) => r.key === 'medium-0')!;
    expect(JSON.parse(refused.reply.text)).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 1 });
    // one refusal, for the record at fault (the others got none, not even a 503)
    expect(await metric(refusedKafka)).toBe(5);
    accepted.push(...sendsOf(replies));
    const records = await readTopic(kafka, b.topic, { atLeast: accepted.length });
    const callbacks = await decodeCallbacks(records);
    const report = deliveryReport(callbacks, accepted);
    expect(report.missing).toEqual([]);
    expect(report.outOfOrder).toEqual([]);
    expect(callbacks.filter((c) => c.MsgKey === 'medium-0')).toEqual([]);
  });
});

describe('spooled while Kafka was away: refused records are set aside, the rest drains in order', () => {
  let proxy: TcpProxy;
  beforeEach(async () => {
    proxy = await TcpProxy.create(kafkaPort, false); // Kafka away: connections refused
  });
  afterEach(async () => {
    await proxy.close();
  });

  test('one to the dead-letter topic with its reason, one the dead-letter topic refuses too into the quarantine', async () => {
    // the topic takes 20000 bytes, the dead-letter topic 35000: a 25 kB record is dead-lettered,
    // a 45 kB one neither topic takes
    const b = await start('refused-spooled', {
      topicLimit: 20000,
      dlqConfig: limit(35000),
      env: { KAFKA_BROKERS: `127.0.0.1:${proxy.port}` },
    });
    try {
      const metrics = async () => scrape(b.bridge.adminUrl);
      const t0 = Date.now();
      const bodies = [
        ...Array.from({ length: 4 }, (_, i) => callback('spooled', i, i % 2 ? 'bob' : 'ann')),
        callback('to-dlq', 0, 'ann', 25),
        ...Array.from({ length: 4 }, (_, i) => callback('spooled', 4 + i, i % 2 ? 'bob' : 'ann')),
        callback('quarantined', 0, 'bob', 45),
        ...Array.from({ length: 4 }, (_, i) => callback('spooled', 8 + i, i % 2 ? 'bob' : 'ann')),
      ];
      const replies = [];
      for (const body of bodies) replies.push(await b.post(body));
      expect(replies.filter((r) => !isOk(r))).toEqual([]);
      const during = await metrics();
      expect(
        sampleValue(during, 'tim_bridge_callbacks_accepted_total', { outcome: 'spooled' }),
      ).toBe(14);
      expect(metricValue(during, 'tim_bridge_spool_records')).toBe(14);

      await proxy.open(); // Kafka is back
      const drained = await waitFor(
        'the spool to drain',
        async () => {
          const m = await metrics();
          return metricValue(m, 'tim_bridge_spool_records') === 0 &&
            metricValue(m, 'tim_bridge_spool_dead_lettered_total') === 1 &&
            metricValue(m, 'tim_bridge_spool_quarantined_records') === 1
            ? m
            : undefined;
        },
        90000,
        200,
      );
      expect(metricValue(drained, 'tim_bridge_spool_drained_records_total')).toBe(12);

      // the 12 others in the topic, in the order they were accepted
      const good = sendsOf(replies).filter((s) => s.key.startsWith('spooled-'));
      const callbacks = await decodeCallbacks(await readTopic(kafka, b.topic, { atLeast: 12 }));
      const report = deliveryReport(callbacks, good);
      expect(report.missing).toEqual([]);
      expect(report.outOfOrder).toEqual([]);
      expect(callbacks.map((c) => c.MsgKey).filter((k) => !k.startsWith('spooled-'))).toEqual([]);
      // the refused ones were refused before they were sent (the limits are read at connect):
      // the drain sent nothing twice. Only a request the broker refused (a drain step taken
      // before the limits were read) may leave copies of its other records (at-least-once).
      if (metricValue(drained, 'tim_bridge_producer_batch_failures_total') === 0) {
        expect(report.duplicates).toBe(0);
      }

      // the dead letter: the Avro record itself, its key and headers, and why
      const [dead, ...more] = await readTopic(kafka, b.dlqTopic, { atLeast: 1 });
      expect(more).toHaveLength(0);
      expect(dead!.key?.toString()).toBe('ann');
      expect(dead!.headers).toMatchObject({
        [DLQ_HEADERS.reason]: 'kafka_refused',
        [DLQ_HEADERS.topic]: b.topic,
        [HEADER_COMMAND]: 'C2C.CallbackAfterSendMsg',
        [HEADER_SDKAPPID]: QUERY.SdkAppid,
      });
      expect(dead!.headers[DLQ_HEADERS.error]).toMatch(/larger than topic .* accepts/);
      const receivedAt = Number(dead!.headers[DLQ_HEADERS.receivedAt]);
      expect(receivedAt).toBeGreaterThanOrEqual(t0);
      expect(receivedAt).toBeLessThanOrEqual(Date.now());
      expect((await decodeCallbacks([dead!]))[0]!.MsgKey).toBe('to-dlq-0');

      // what the logs say (names, sizes, never the user's text)
      const moved = b.lines.filter((l) => l.msg.startsWith('Kafka refused a spooled record: '));
      expect(moved).toHaveLength(1);
      expect(moved[0]).toMatchObject({ topic: b.topic, dlqTopic: b.dlqTopic });
      const kept = b.lines.filter((l) => /quarantined in the spool file/.test(l.msg));
      expect(kept).toHaveLength(1);
      expect(kept[0]).toMatchObject({ topic: b.topic, dlqTopic: b.dlqTopic });
      expect(kept[0]!.bytes).toBeGreaterThan(35000);
      expect(JSON.stringify(b.lines)).not.toContain(USER_TEXT);

      // nothing waits any more: the next callback goes straight to Kafka
      const next = await b.post(callback('after', 0, 'ann'));
      expect(isOk(next)).toBe(true);
      expect(
        sampleValue(await metrics(), 'tim_bridge_callbacks_accepted_total', { outcome: 'kafka' }),
      ).toBe(1);
    } finally {
      await b.stop();
    }
    // the quarantined record is kept in the spool file, for `spool:drain --requeue-quarantined`
    const spool = new Spool({ dir: b.spoolDir, maxRecords: 100, maxBytes: 1e8 });
    try {
      expect([spool.records, spool.quarantined]).toEqual([0, 1]);
    } finally {
      spool.close();
    }
  }, 180000);
});

describe('with a spool, Kafka up', () => {
  test('a record its topic refuses is answered OK from the spool, and waits there while the dead-letter topic is away', async () => {
    const b = await start('refused-dlq-away', { topicLimit: 20000 });
    try {
      const metrics = async () => scrape(b.bridge.adminUrl);
      // ready: connected, and the topics' limits read
      await waitFor('ready', async () => (await fetch(`${b.bridge.adminUrl}/readyz`)).ok);
      // the dead-letter topic goes away (nothing creates it again while the bridge runs)
      await deleteTopics(kafka, [b.dlqTopic]);
      const bodies = [
        ...Array.from({ length: 3 }, (_, i) => callback('held', i, 'cy')),
        callback('to-dlq', 1, 'cy', 25),
        ...Array.from({ length: 3 }, (_, i) => callback('held', 3 + i, 'cy')),
      ];
      const replies = [];
      for (const body of bodies) replies.push(await b.post(body));
      // with a spool the callback whose record Kafka refuses is answered OK: its record is kept
      expect(replies.filter((r) => !isOk(r))).toEqual([]);
      const accepted = (m: string, outcome: string) =>
        sampleValue(m, 'tim_bridge_callbacks_accepted_total', { outcome });

      // the drainer cannot dead-letter it: it stays in the spool (neither dropped nor
      // quarantined), with the records behind it, and the drainer keeps trying
      const stuck = await waitFor(
        'a failed attempt to dead-letter it',
        async () => {
          const m = await metrics();
          return (metricValue(m, 'tim_bridge_spool_drain_failures_total') ?? 0) >= 1
            ? m
            : undefined;
        },
        60000,
        200,
      );
      expect([accepted(stuck, 'kafka'), accepted(stuck, 'spooled')]).toEqual([3, 4]);
      expect(metricValue(stuck, 'tim_bridge_spool_records')).toBe(4);
      expect(metricValue(stuck, 'tim_bridge_spool_quarantined_records')).toBe(0);
      expect(metricValue(stuck, 'tim_bridge_spool_dead_lettered_total')).toBe(0);
      // callbacks are still taken meanwhile (behind it, in the spool)
      const meanwhile = await b.post(callback('held', 6, 'cy'));
      expect(isOk(meanwhile)).toBe(true);
      replies.push(meanwhile);

      await ensureTopic(kafka, { topic: b.dlqTopic, numPartitions: 1, replicationFactor: 1 });
      await waitFor(
        'the spool to drain',
        async () => {
          const m = await metrics();
          return metricValue(m, 'tim_bridge_spool_records') === 0 &&
            metricValue(m, 'tim_bridge_spool_dead_lettered_total') === 1
            ? m
            : undefined;
        },
        60000,
        200,
      );
      const good = sendsOf(replies).filter((s) => s.key.startsWith('held-'));
      const callbacks = await decodeCallbacks(await readTopic(kafka, b.topic, { atLeast: 7 }));
      const report = deliveryReport(callbacks, good);
      expect(report.missing).toEqual([]);
      expect(report.outOfOrder).toEqual([]);
      expect(callbacks.filter((c) => c.MsgKey === 'to-dlq-1')).toEqual([]);
      // in the dead-letter topic (more than once if an attempt that timed out landed after all)
      const dead = await readTopic(kafka, b.dlqTopic, { atLeast: 1 });
      expect(new Set((await decodeCallbacks(dead)).map((c) => c.MsgKey))).toEqual(
        new Set(['to-dlq-1']),
      );
      expect(new Set(dead.map((r) => r.headers[DLQ_HEADERS.reason]))).toEqual(
        new Set(['kafka_refused']),
      );
      expect(metricValue(await metrics(), 'tim_bridge_spool_quarantined_records')).toBe(0);
    } finally {
      await b.stop();
    }
  }, 180000);
});
