import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { MinuteWindows, type WindowRecord } from '../../src/consumers/analytics/window';
import { committedOffsets, deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { GroupConsumer } from '../../src/kafka/consumer';
import type { AfterSendMsgCallback, Envelope } from '../../src/tencent/callback';
import { logger, uniqueTopic } from '../support/bridge';
import {
  callbackEncoder,
  consumerEnv,
  inputsOf,
  produceRaw,
  readDecoded,
  startTestConsumer,
  type TestConsumer,
} from '../support/consumers';
import { loadFixtures } from '../support/fixtures';
import { buildIfStale } from '../support/process';
import { KAFKA_BROKERS, ROOT, SCHEMA_REGISTRY_URL } from '../support/stack';
import { waitFor } from '../support/wait';

/**
 * The analytics consumer after months of running: its state topic holds 50,000 earlier snapshots
 * (one a second is about 14 hours), and the input brings what a long life brings: MsgTimes years
 * ahead, and duplicates delivered by the bridge after a restart. Restarts stay fast (the snapshot
 * is read where the commit metadata says, not searched for) and the windows stay those of one
 * uninterrupted pass over the distinct, sane messages.
 */

const N = 2400;
const T = 1764115200;
const LATENESS = 30;
const EARLIER_SNAPSHOTS = 50_000;
/** Messages with an event time no window can hold: counted as out of range only. */
const POISON: Record<number, number> = { 100: 9_999_999_999, 1500: 9e12 };

function inputs(): { callback: AfterSendMsgCallback; envelope: Envelope }[] {
  const fixtures = loadFixtures().map((f) => f.json as unknown as AfterSendMsgCallback);
  return Array.from({ length: N }, (_, i) => {
    const f = fixtures[i % fixtures.length] as AfterSendMsgCallback;
    const sent = T + Math.floor(i / 8); // 300 s: five windows, in order
    return {
      callback: {
        ...f,
        From_Account: `sender-${i % 97}`,
        To_Account: `recipient-${i % 89}`,
        MsgKey: `months-${i}`,
        MsgTime: POISON[i] ?? sent,
      },
      envelope: {
        SdkAppid: '1400000001',
        OptPlatform: 'iOS',
        ClientIP: null,
        ReceivedAt: sent * 1000 + 500,
      },
    };
  });
}

const comparable = ({ ClosedAt: _c, ...rest }: WindowRecord) => rest;

describe('analytics consumer after months', () => {
  it('restarts in seconds over 50,000 earlier snapshots, and neither a far-future MsgTime nor a duplicate after the restart changes a window', async () => {
    const topic = uniqueTopic('analytics-months');
    const kafka = createKafka({ brokers: [KAFKA_BROKERS], clientId: 'test-months', logger });
    await ensureTopic(kafka, { topic, numPartitions: 1, replicationFactor: 1 });
    const encode = await callbackEncoder(topic);
    const all = inputs();
    const toRecord = ({ callback, envelope }: (typeof all)[number]) => ({
      topic,
      key: callback.To_Account,
      value: encode(callback, envelope),
      headers: {},
    });

    // one uninterrupted pass over every message once; the last window closes when input idles
    const options = { allowedLatenessSeconds: LATENESS };
    const expected = new MinuteWindows(options);
    for (const { callback, envelope } of all) expected.add(callback, envelope);
    expected.closeAll(0);
    const want = expected.takeClosed();
    expect(want).toHaveLength(5);
    expect(want.reduce((n, w) => n + w.OutOfRangeEvents, 0)).toBe(2);

    // the same consumer (group, topics, transactional id) at each start
    const env = consumerEnv('analytics', topic, {
      ANALYTICS_ALLOWED_LATENESS_SECONDS: String(LATENESS),
      ANALYTICS_IDLE_CLOSE_SECONDS: '5',
      ANALYTICS_COMMIT_INTERVAL_MS: '100',
    });
    let consumer: TestConsumer | undefined;
    const group = env.CONSUMER_GROUP_ID as string;
    const stateTopic = env.ANALYTICS_STATE_TOPIC as string;
    const cleanup = [
      topic,
      stateTopic,
      env.ANALYTICS_TOPIC as string,
      env.CONSUMER_DLQ_TOPIC as string,
    ];
    try {
      // months of snapshots, one a commit; the last one is the state the offsets name, in the
      // metadata format of earlier versions (no location: found by reading the topic once)
      await ensureTopic(kafka, {
        topic: stateTopic,
        numPartitions: 1,
        replicationFactor: 1,
        configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
      });
      const earlier = Array.from({ length: EARLIER_SNAPSHOTS }, (_, i) => ({
        topic: stateTopic,
        key: group,
        value:
          i + 1 === EARLIER_SNAPSHOTS ? new MinuteWindows(options).snapshot() : randomBytes(1024),
        headers: { 'state-seq': String(i + 1) },
      }));
      for (let i = 0; i < earlier.length; i += 5000)
        await produceRaw(kafka, earlier.slice(i, i + 5000));
      const committer = new GroupConsumer({
        kafka,
        groupId: group,
        topic,
        fromBeginning: true,
        transactionalId: `${group}.setup`,
      });
      await committer.connect();
      await committer.transact(
        [],
        [{ partition: 0, offset: '0', metadata: `state-seq=${EARLIER_SNAPSHOTS}` }],
      );
      await committer.disconnect();

      const firstHalf = all.slice(0, N / 2);
      await produceRaw(kafka, firstHalf.map(toRecord));
      let started = Date.now();
      consumer = await startTestConsumer('analytics', topic, env);
      const legacyRestoreMs = Date.now() - started;
      await waitFor(
        'the first half committed',
        async () => (await committedOffsets(kafka, group, topic)).get(0) === BigInt(N / 2),
        60000,
      );
      await consumer.dispose();
      consumer = undefined;

      // the bridge delivers 100 of those again (at least once), then the rest arrives
      await produceRaw(kafka, [...firstHalf.slice(600, 700), ...all.slice(N / 2)].map(toRecord));
      started = Date.now();
      consumer = await startTestConsumer('analytics', topic, env);
      const c = consumer;
      await waitFor('ready', async () => c.runner.problem() === undefined, 10000);
      const restartMs = Date.now() - started;
      logger.info({ legacyRestoreMs, restartMs }, 'analytics restarts over 50,000 snapshots');
      expect(restartMs).toBeLessThan(10000);

      const got = await readDecoded<WindowRecord>(
        kafka,
        env.ANALYTICS_TOPIC as string,
        want.length,
        {
          consumedBy: inputsOf(env),
          timeoutMs: 90000,
        },
      );
      expect(got.map((g) => comparable(g.value))).toEqual(want.map(comparable));
      expect(got.reduce((n, g) => n + g.value.Messages, 0)).toBe(N - 2);
      expect(consumer.fatal).toEqual([]);
    } finally {
      await consumer?.dispose().catch(() => undefined);
      await deleteTopics(kafka, cleanup).catch(() => undefined);
    }
  });
});

test('a window length and lateness whose state cannot fit stop the start, naming both', () => {
  buildIfStale();
  const run = spawnSync(
    process.execPath,
    [join(ROOT, 'dist', 'src', 'consumers', 'analytics', 'main.js')],
    {
      env: {
        PATH: process.env.PATH,
        KAFKA_BROKERS,
        SCHEMA_REGISTRY_URL,
        ANALYTICS_WINDOW_SECONDS: '1',
        ANALYTICS_ALLOWED_LATENESS_SECONDS: '86400',
      },
      encoding: 'utf8',
      timeout: 20000,
    },
  );
  expect(run.status).toBe(2);
  expect(run.stderr + run.stdout).toMatch(
    /ANALYTICS_ALLOWED_LATENESS_SECONDS=86400 with ANALYTICS_WINDOW_SECONDS=1 keeps up to 86402 windows open/,
  );
});
