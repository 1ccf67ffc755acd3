import {
  GroupMinuteWindows,
  type GroupWindowRecord,
} from '../../src/consumers/analytics/group-window';
import { groupMessageEntry, type GroupMessageCallback } from '../../src/consumers/group';
import { rulesOf } from '../../src/catalogue/records';
import { committedOffsets, deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { avroType, createEncoder, type RecordEncoder } from '../../src/kafka/codec';
import { GroupConsumer } from '../../src/kafka/consumer';
import { readTopic } from '../../src/kafka/reader';
import { Registry } from '../../src/kafka/registry';
import { loadSchema } from '../../src/schemas';
import type { Envelope } from '../../src/tencent/callback';
import { createRecordMapper } from '../../src/tencent/record';
import { buildSchemaModel } from '../../src/tencent/schema-model';
import { logger, uniqueTopic } from '../support/bridge';
import {
  allConsumed,
  inputsOf,
  produceRaw,
  readDecoded,
  startTestConsumer,
  type TestConsumer,
} from '../support/consumers';
import { loadCommandFixtures } from '../support/fixtures';
import { KAFKA_BROKERS, SCHEMA_REGISTRY_URL } from '../support/stack';
import { sampleValue, scrape, waitFor } from '../support/wait';

/**
 * The exactly-once state across a rebalance (issue 18 §3.5), in the middle of an open window.
 * The analytics consumer's group input reads a topic of two partitions and has counted records
 * of both that it has not committed yet (its commit interval is long); then a second member
 * joins its group and takes one partition, and later leaves again. The runner must drop what it
 * had not committed (of the partition it lost and of the one it kept: Kafka redelivers both from
 * the committed offsets) and start again from the committed state, so that the window, once
 * published, counts each record once: none lost, none twice.
 *
 * And the same with the transactions racing the rebalances: commits every 50 ms under a steady
 * input while a member joins and leaves again and again. A rebalance during a commit made Kafka
 * resume from the offsets committed before it, which the state had passed (fixed in the runner:
 * a record before the state's position is skipped).
 *
 * The messages have no MsgSeq, so nothing can hide a record counted twice: neither the runner's
 * dedupe memory nor the windows' keys recognise them (only the markers below have one).
 */

const kafka = createKafka({
  brokers: KAFKA_BROKERS.split(','),
  clientId: 'test-rebalance',
  logger,
});
const T = 1764115200;
const LATENESS = 30;
const KEYS = Array.from({ length: 8 }, (_, k) => `@TGS#rebalance${k}`);
const N1 = 160;
const N2 = 80;
/** Rebalances of the second test: two each (a member joins, then leaves). */
const ROUNDS = 8;

const entry = groupMessageEntry();
const schema = loadSchema(entry.schema);
const model = buildSchemaModel(schema);
const mapper = createRecordMapper<GroupMessageCallback>(model, rulesOf(entry, model));
const sample = loadCommandFixtures().find(
  (f) => f.command === 'Group.CallbackAfterSendMsg' && f.name === 'sample.json',
)?.json as GroupMessageCallback;

interface Input {
  callback: GroupMessageCallback;
  envelope: Envelope;
}

let n = 0;
/** A group message of group `key` at `MsgTime`; MsgSeq only for markers. */
function message(key: string, msgTime: number, msgSeq?: number): Input {
  const i = n++;
  return {
    callback: {
      ...sample,
      GroupId: key,
      TopicId: undefined,
      MsgSeq: msgSeq,
      From_Account: `sender-${i % 13}`,
      Type: ['Public', 'Community', 'Work', 'AVChatRoom'][i % 4],
      MsgTime: msgTime,
    },
    envelope: { SdkAppid: '1400000001', OptPlatform: 'iOS', ClientIP: null, ReceivedAt: T * 1000 },
  };
}

/** The analytics consumer on a group-message topic of two partitions of its own, and its input. */
class Setup {
  readonly c2cTopic = uniqueTopic('rebalance-c2c');
  readonly topic = uniqueTopic('rebalance-group');
  readonly sent: Input[] = [];
  consumer: TestConsumer | undefined;
  restarted: TestConsumer | undefined;
  member: GroupConsumer | undefined;
  /** The consumer's environment (its groups and output topics). */
  env: Record<string, string> = {};
  private encoder: RecordEncoder | undefined;

  async start(overrides: Record<string, string>): Promise<TestConsumer> {
    await ensureTopic(kafka, { topic: this.c2cTopic, numPartitions: 1, replicationFactor: 1 });
    await ensureTopic(kafka, { topic: this.topic, numPartitions: 2, replicationFactor: 1 });
    const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
    const id = await registry.register(`${this.topic}-value`, schema);
    this.encoder = createEncoder(avroType(schema), id);
    this.consumer = await startTestConsumer('analytics', this.c2cTopic, {
      GROUP_KAFKA_TOPIC: this.topic,
      ANALYTICS_ALLOWED_LATENESS_SECONDS: String(LATENESS),
      ANALYTICS_IDLE_CLOSE_SECONDS: '0',
      ...overrides,
    });
    this.env = this.consumer.env;
    return this.consumer;
  }

  async send(inputs: Input[]): Promise<void> {
    const encoder = this.encoder as RecordEncoder;
    this.sent.push(...inputs);
    await produceRaw(
      kafka,
      inputs.map(({ callback, envelope }) => ({
        topic: this.topic,
        key: callback.GroupId,
        value: encoder.encode(mapper.toRecord(callback, envelope)),
        headers: {},
      })),
    );
  }

  /** A sample of the group input's runner (`analytics-group`) on `c`'s scrape (0 if none). */
  async metric(c: TestConsumer, name: string, labels: Record<string, string> = {}) {
    const text = await scrape(c.adminUrl);
    return sampleValue(text, name, { consumer: 'analytics-group', ...labels }) ?? 0;
  }

  /**
   * A second member of the consumer's group: the product's group member (as another instance
   * would join), holding what it is assigned, reading it and committing nothing (as an instance
   * that dies before its first commit). Resolves once the consumer and it hold a partition each.
   */
  async join(c: TestConsumer): Promise<number> {
    let partitions: number[] = [];
    this.member = new GroupConsumer({
      kafka,
      groupId: c.env.GROUP_CONSUMER_GROUP_ID as string,
      topic: this.topic,
      fromBeginning: true,
      events: { joined: (p) => (partitions = p) },
    });
    await this.member.connect();
    await this.member.run(async (_p, records, ctl) => {
      const last = records[records.length - 1];
      if (last) ctl.resolveOffset(last.offset);
    });
    await waitFor(
      'the partitions shared by the consumer and the new member',
      async () =>
        partitions.length === 1 && (await this.metric(c, 'tim_consumer_assigned_partitions')) === 1,
      60000,
    );
    return partitions[0] as number;
  }

  /** The member leaves the group; resolves once the consumer holds both partitions again. */
  async leave(c: TestConsumer): Promise<void> {
    await this.member?.stop();
    await this.member?.disconnect();
    this.member = undefined;
    await waitFor(
      'both partitions back with the consumer',
      async () => (await this.metric(c, 'tim_consumer_assigned_partitions')) === 2,
      60000,
    );
  }

  /**
   * Once `c` has committed its input to the end, an event past window T's lateness: the window
   * it publishes must be that of every record sent, each counted once.
   */
  async closeAndCheck(c: TestConsumer): Promise<GroupWindowRecord> {
    const inputs = inputsOf(c.env);
    await waitFor('the input consumed to its end', () => allConsumed(kafka, inputs), 60000);
    await this.send([message(KEYS[0] as string, T + 200)]);
    const expected = new GroupMinuteWindows({ allowedLatenessSeconds: LATENESS });
    for (const { callback, envelope } of this.sent) expected.add(callback, envelope);
    const want = expected.takeClosed();
    expect(want.map((w) => w.WindowStart)).toEqual([T * 1000]);
    const got = await readDecoded<GroupWindowRecord>(
      kafka,
      c.env.ANALYTICS_GROUP_TOPIC as string,
      1,
      { consumedBy: inputs, timeoutMs: 60000 },
    );
    const comparable = ({ ClosedAt: _c, ...rest }: GroupWindowRecord) => rest;
    expect(got.map((g) => comparable(g.value))).toEqual(want.map(comparable));
    return got[0]?.value as GroupWindowRecord;
  }

  async dispose(): Promise<void> {
    await this.member?.disconnect().catch(() => undefined);
    await this.consumer?.dispose().catch(() => undefined);
    await this.restarted?.dispose().catch(() => undefined);
    const env = this.env;
    await deleteTopics(kafka, [
      this.c2cTopic,
      this.topic,
      ...['ANALYTICS_TOPIC', 'ANALYTICS_GROUP_TOPIC', 'ANALYTICS_STATE_TOPIC', 'CONSUMER_DLQ_TOPIC']
        .map((k) => env[k])
        .filter((t): t is string => t !== undefined),
    ]).catch(() => undefined);
  }
}

describe('analytics consumer, exactly once, across rebalances', () => {
  const setups: Setup[] = [];
  afterAll(async () => {
    await Promise.all(setups.map((s) => s.dispose()));
  });

  it('drops what it had not committed and starts again from the committed state: the window counts each record once', async () => {
    const s = new Setup();
    setups.push(s);
    // one commit at the first record, then none for a minute (and one at stop)
    const consumer = await s.start({ ANALYTICS_COMMIT_INTERVAL_MS: '60000' });
    const metric = (name: string, labels?: Record<string, string>) =>
      s.metric(consumer, name, labels);
    const processed = () => metric('tim_consumer_records_total', { outcome: 'processed' });
    const commits = () => metric('tim_consumer_commits_total', { result: 'ok' });

    // one record, committed at once: the committed state is that record
    await s.send([message(KEYS[0] as string, T + 1)]);
    await waitFor('the first commit', async () => (await commits()) === 1, 60000);

    // records of both partitions in window T, counted, not committed
    const firstBatch = Array.from({ length: N1 }, (_, i) =>
      message(KEYS[i % 8] as string, T + 2 + (i % 40)),
    );
    await s.send(firstBatch);
    await waitFor('the records counted', async () => (await processed()) === N1 + 1, 60000);
    const partitionOf = new Map(
      (await readTopic(kafka, s.topic, { atLeast: N1 + 1 })).map((r) => [
        r.key?.toString() as string,
        r.partition,
      ]),
    );
    const keysOf = (p: number) => KEYS.filter((k) => partitionOf.get(k) === p);
    expect(keysOf(0).length).toBeGreaterThan(0);
    expect(keysOf(1).length).toBeGreaterThan(0);
    expect(await commits()).toBe(1);
    const group = consumer.env.GROUP_CONSUMER_GROUP_ID as string;
    expect((await committedOffsets(kafka, group, s.topic)).size).toBeLessThanOrEqual(1);

    // a second member joins the group: each holds one partition
    const lost = await s.join(consumer);
    const kept = 1 - lost;

    // more records of window T on both partitions; on the kept one, a message and its duplicate
    // (a MsgSeq): once the duplicate is seen, the kept partition has been read to its end
    const more = Array.from({ length: N2 }, (_, i) =>
      message(KEYS[i % 8] as string, T + 42 + (i % 15)),
    );
    const marker = message(keysOf(kept)[0] as string, T + 59, 1);
    await s.send([...more, marker, marker]);
    await waitFor(
      'the kept partition read to its end',
      async () => (await metric('tim_consumer_records_total', { outcome: 'duplicate' })) === 1,
      60000,
    );
    // Kafka redelivered the kept partition from its committed offset: what had been counted of
    // it was counted again, on a state reset to the commit, not on top of the uncommitted one
    const onKept = (inputs: Input[]) =>
      inputs.filter((i) => partitionOf.get(i.callback.GroupId) === kept).length;
    expect(await processed()).toBe(N1 + 1 + onKept(firstBatch) + onKept(more) + 1);
    expect(await commits()).toBe(1);

    // the member leaves: the consumer gets the lost partition back, from its committed offset
    await s.leave(consumer);
    // SIGTERM's path: it commits what it holds, then the consumer starts again (committing often)
    await consumer.dispose();
    s.consumer = undefined;
    s.restarted = await startTestConsumer('analytics', s.c2cTopic, {
      ...consumer.env,
      ANALYTICS_COMMIT_INTERVAL_MS: '100',
    });
    const window = await s.closeAndCheck(s.restarted);
    expect(window.Messages).toBe(1 + N1 + N2 + 1);
    expect(consumer.fatal).toEqual([]);
    expect(s.restarted.fatal).toEqual([]);
  }, 240000);

  it('rebalances while it commits every 50 ms under a steady input: each record counted once', async () => {
    const s = new Setup();
    setups.push(s);
    const consumer = await s.start({ ANALYTICS_COMMIT_INTERVAL_MS: '50' });
    let feeding = true;
    const feeder = (async () => {
      while (feeding) {
        await s.send(
          Array.from({ length: 20 }, (_, i) => message(KEYS[i % 8] as string, T + 2 + (i % 40))),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      // a rebalance may come while a transaction commits: Kafka then resumes from the offsets
      // committed before it, which the state has passed
      for (let round = 0; round < ROUNDS; round++) {
        await s.join(consumer);
        await s.leave(consumer);
      }
    } finally {
      feeding = false;
      await feeder;
    }
    const window = await s.closeAndCheck(consumer);
    expect(window.Messages).toBe(s.sent.length - 1);
    expect(consumer.fatal).toEqual([]);
  }, 300000);
});
