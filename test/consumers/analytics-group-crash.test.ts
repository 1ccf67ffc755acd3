import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GroupMinuteWindows,
  type GroupWindowRecord,
} from '../../src/consumers/analytics/group-window';
import { groupMessageEntry, type GroupMessageCallback } from '../../src/consumers/group';
import { rulesOf } from '../../src/catalogue/records';
import { committedOffsets, deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { avroType, createEncoder } from '../../src/kafka/codec';
import { Registry } from '../../src/kafka/registry';
import { loadSchema } from '../../src/schemas';
import type { Envelope } from '../../src/tencent/callback';
import { createRecordMapper } from '../../src/tencent/record';
import { buildSchemaModel } from '../../src/tencent/schema-model';
import { logger, uniqueTopic } from '../support/bridge';
import {
  ANALYTICS_MAIN,
  consumerEnv,
  feedAndKill,
  inputsOf,
  readDecoded,
  spawnConsumerProcess,
} from '../support/consumers';
import { loadCommandFixtures } from '../support/fixtures';
import { buildIfStale } from '../support/process';
import { KAFKA_BROKERS, SCHEMA_REGISTRY_URL } from '../support/stack';

/**
 * Exactly-once analytics of group messages: the consumer process (production build) reads an
 * (empty) C2C topic and a group-message topic; it is SIGKILLed mid-stream and started again. The
 * group windows published must be exactly those of the whole input aggregated once, none missing,
 * none twice, restored from the group input's own state record. Then SIGTERM: it commits and
 * exits 0.
 */

const N = 3000;
const CHUNK = 150;
const T = 1764115200;
const LATENESS = 30;
const TYPES = ['Public', 'Community', 'Work', 'AVChatRoom', 'Meeting', 'Private'];

const entry = groupMessageEntry();
const schema = loadSchema(entry.schema);
const model = buildSchemaModel(schema);
const mapper = createRecordMapper<GroupMessageCallback>(model, rulesOf(entry, model));

function inputs(): { callback: GroupMessageCallback; envelope: Envelope }[] {
  const fixtures = loadCommandFixtures()
    .filter((f) => f.command === 'Group.CallbackAfterSendMsg')
    .map((f) => f.json as GroupMessageCallback);
  return Array.from({ length: N }, (_, i) => ({
    callback: {
      ...(fixtures[i % fixtures.length] as GroupMessageCallback),
      GroupId: `@TGS#crash${i % 41}`,
      TopicId: undefined,
      Type: TYPES[i % TYPES.length],
      From_Account: `sender-${i % 97}`,
      MsgSeq: i,
      MsgTime: T + Math.floor(i / 8), // ~375 s: several windows, in order
    },
    envelope: {
      SdkAppid: '1400000001',
      OptPlatform: ['iOS', 'Android', 'Web'][i % 3] ?? null,
      ClientIP: null,
      ReceivedAt: 1764115300000 + i,
    },
  }));
}

const comparable = ({ ClosedAt: _c, ...rest }: GroupWindowRecord) => rest;

describe('analytics consumer, group messages, killed mid-stream', () => {
  it('loses nothing and counts nothing twice across a SIGKILL and a restart', async () => {
    buildIfStale();
    const c2cTopic = uniqueTopic('analytics-group-crash-c2c');
    const topic = uniqueTopic('analytics-group-crash');
    const kafka = createKafka({
      brokers: KAFKA_BROKERS.split(','),
      clientId: 'test-group-crash',
      logger,
    });
    await ensureTopic(kafka, { topic: c2cTopic, numPartitions: 1, replicationFactor: 1 });
    await ensureTopic(kafka, { topic, numPartitions: 1, replicationFactor: 1 });
    const id = await new Registry({ url: SCHEMA_REGISTRY_URL }).register(`${topic}-value`, schema);
    const encoder = createEncoder(avroType(schema), id);
    const all = inputs();
    const records = all.map(({ callback, envelope }) => ({
      topic,
      key: callback.GroupId,
      value: encoder.encode(mapper.toRecord(callback, envelope)),
      headers: {},
    }));

    // what one uninterrupted pass makes (of the records as the consumer decodes them)
    const expected = new GroupMinuteWindows({ allowedLatenessSeconds: LATENESS });
    for (const { callback, envelope } of all) {
      const d = mapper.fromRecord(mapper.toRecord(callback, envelope));
      expected.add(d.callback, d.envelope);
    }
    expected.closeAll(0);
    const want = expected.takeClosed();
    expect(want.length).toBeGreaterThanOrEqual(6);

    const env = consumerEnv('analytics', c2cTopic, {
      GROUP_KAFKA_TOPIC: topic,
      ANALYTICS_ALLOWED_LATENESS_SECONDS: String(LATENESS),
      ANALYTICS_IDLE_CLOSE_SECONDS: '5',
      ANALYTICS_COMMIT_INTERVAL_MS: '100',
      SHUTDOWN_GRACE_MS: '10000',
    });
    const group = env.GROUP_CONSUMER_GROUP_ID as string;
    const logDir = mkdtempSync(join(tmpdir(), 'tim-analytics-group-crash-'));
    const first = spawnConsumerProcess(ANALYTICS_MAIN, env, join(logDir, 'first.log'));
    const committed = async () => (await committedOffsets(kafka, group, topic)).get(0) ?? 0n;
    // feed a third, wait for the first instance to commit some, then SIGKILL it while feeding
    const killedAt = await feedAndKill({ kafka, records, chunk: CHUNK, committed, victim: first });
    expect(killedAt).toBeLessThan(BigInt(N));

    const second = spawnConsumerProcess(ANALYTICS_MAIN, env, join(logDir, 'second.log'));
    try {
      const got = await readDecoded<GroupWindowRecord>(
        kafka,
        env.ANALYTICS_GROUP_TOPIC as string,
        want.length,
        { consumedBy: inputsOf(env), timeoutMs: 100000 },
      );
      const log = readFileSync(join(logDir, 'second.log'), 'utf8');
      expect(log).toMatch(/"input":"analytics-group".*state restored from the last transaction/);
      expect(got.map((g) => g.record.key?.toString())).toEqual(
        want.map((w) => new Date(w.WindowStart).toISOString()),
      );
      expect(got.map((g) => comparable(g.value))).toEqual(want.map(comparable));
      expect(got.reduce((n, g) => n + g.value.Messages, 0)).toBe(N);
      expect(got[0]?.value.MessagesByGroupType).toMatchObject({ Private: expect.any(Number) });
      // the C2C input published nothing: it had nothing
      expect(
        await readDecoded(kafka, env.ANALYTICS_TOPIC as string, 0, { consumedBy: inputsOf(env) }),
      ).toEqual([]);

      // SIGTERM: finishes, commits every offset, leaves the group, exits 0
      second.kill('SIGTERM');
      const [code] = (await once(second, 'exit')) as [number | null];
      expect(code).toBe(0);
      expect(await committed()).toBe(BigInt(N));
    } finally {
      if (second.exitCode === null) second.kill('SIGKILL');
      await deleteTopics(kafka, [
        topic,
        c2cTopic,
        env.ANALYTICS_TOPIC as string,
        env.ANALYTICS_GROUP_TOPIC as string,
        env.ANALYTICS_STATE_TOPIC as string,
        env.CONSUMER_DLQ_TOPIC as string,
      ]).catch(() => undefined);
    }
  });
});
