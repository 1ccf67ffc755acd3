import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DLQ_CONSUMER_HEADERS } from '../../src/consumers/runner';
import { readSettled } from '../../src/kafka/reader';
import { postCallback, startTestBridge, uniqueTopic, type TestBridge } from '../support/bridge';
import {
  deleteTopics,
  inputsOf,
  produceRaw,
  readDecoded,
  startTestConsumer,
} from '../support/consumers';
import type { TestConsumer } from '../support/consumers';
import { startFakeTencent, type FakeTencent } from '../support/fake-tencent';
import { loadCommandFixtures, loadFixtures } from '../support/fixtures';
import { sampleValue, scrape, waitFor } from '../support/wait';

/**
 * The moderation consumer on group messages, end to end: the real bridge routes
 * Group.CallbackAfterSendMsg to a topic of this test (and C2C messages to its own), the consumer
 * reads both from the real Kafka, group verdicts are read back through the registry, and group
 * recalls go to the local stand-in for Tencent's group_msg_recall.
 */

const SDKAPPID = 1400000001;
const ADMIN = 'administrator';
const SECRET = 'test-secret-key-0123456789abcdef';
const GROUP_CMD = 'Group.CallbackAfterSendMsg';

const RULES = `
rules:
  - id: ridge-recall
    kind: word
    action: recall
    category: test
    words: [north ridge]
  - id: packet-recall
    kind: regex
    action: recall
    pattern: 'red\\s+packet'
  - id: steep-flag
    kind: word
    action: flag
    words: [steep]
  - id: lunch-recall
    kind: word
    action: recall
    words: [lunch]
`;

interface GroupVerdict {
  GroupId: string;
  TopicId: string | null;
  GroupType: string | null;
  MsgSeq: number | null;
  From_Account: string | null;
  RuleId: string;
  Action: string;
  Outcome: string;
  Parts: string[];
  RecallErrorCode: number | null;
  RecallAttempts: number | null;
}

const group = (name: string, over: Record<string, unknown> = {}): string => {
  const f = loadCommandFixtures().find((x) => x.command === GROUP_CMD && x.name === `${name}.json`);
  if (!f) throw new Error(`no group fixture ${name}`);
  const json: Record<string, unknown> = { ...f.json, ...over };
  for (const [k, v] of Object.entries(over)) if (v === undefined) delete json[k];
  return JSON.stringify(json);
};
const postGroup = (bridge: TestBridge, body: string) =>
  postCallback(bridge.callbackUrl, body, { query: { CallbackCommand: GROUP_CMD } });

describe('moderation consumer, group messages', () => {
  let bridge: TestBridge;
  let consumer: TestConsumer;
  let tencent: FakeTencent;
  const groupTopic = uniqueTopic('moderation-group-in');

  beforeAll(async () => {
    bridge = await startTestBridge('moderation-group', {
      COMMAND_ROUTES: `*=off,C2C.CallbackAfterSendMsg=on,${GROUP_CMD}=${groupTopic}`,
    });
    tencent = await startFakeTencent({
      sdkAppId: SDKAPPID,
      adminIdentifier: ADMIN,
      secretKey: SECRET,
    });
    const dir = mkdtempSync(join(tmpdir(), 'tim-rules-'));
    writeFileSync(join(dir, 'rules.yaml'), RULES);
    consumer = await startTestConsumer('moderation', bridge.topic, {
      GROUP_KAFKA_TOPIC: groupTopic,
      MODERATION_RULES_FILE: join(dir, 'rules.yaml'),
      MODERATION_RECALL_ENABLED: 'true',
      TENCENT_SDKAPPID: String(SDKAPPID),
      TENCENT_ADMIN_IDENTIFIER: ADMIN,
      TENCENT_SECRET_KEY: SECRET,
      TENCENT_API_URL: tencent.baseUrl,
      RECALL_RATE_PER_SECOND: '50',
    });
  });

  afterAll(async () => {
    await consumer?.dispose();
    await tencent?.close();
    if (bridge) {
      const e = consumer.env;
      await deleteTopics(bridge.kafka, [
        groupTopic,
        e.MODERATION_VERDICTS_TOPIC as string,
        e.MODERATION_GROUP_VERDICTS_TOPIC as string,
        e.CONSUMER_DLQ_TOPIC as string,
      ]).catch(() => undefined);
      await bridge.dispose();
    }
  });

  it('publishes group verdicts keyed by GroupId, recalls through group_msg_recall (TopicId, retries), skips duplicates and dead-letters poison, beside the C2C input', async () => {
    const COMMUNITY = '@TGS#_@TGS#cQVLVHIM62CJ';
    const TOPIC = `${COMMUNITY}@TOPIC#_@TOPIC#cRTE3HIM62C5`;
    // the topic message: 10002 first (retried), then recalled
    tencent.scriptGroup(COMMUNITY, 57, [{ errorCode: 10002 }, 0]);
    // the sample: Tencent says the message does not exist (10030): not retried
    tencent.scriptGroup('@TGS#2J4SZEAEL', 123, [10030]);

    for (const body of [
      group('topic-id'), // "north ridge": recall in the topic
      group('sample'), // "red packet": recall fails with 10030
      group('all-element-types'), // "looks steep" in a relayed message: flag
      group('topic-id'), // the bridge's duplicate: skipped
      group('sample', { MsgSeq: undefined, Random: 99 }), // no MsgSeq: cannot recall
      group('max-uint32'), // nothing matches
    ]) {
      expect((await postGroup(bridge, body)).status).toBe(200);
    }
    // a value that is not a record of ours, on the group topic
    await produceRaw(bridge.kafka, [
      { topic: groupTopic, key: 'x', value: Buffer.from('not avro'), headers: {} },
    ]);
    expect((await postGroup(bridge, group('sample', { MsgSeq: 124 }))).status).toBe(200);
    // and a C2C message, whose verdict goes to the C2C topic through admin_msgwithdraw
    const relay = loadFixtures().find((f) => f.name === 'relay.json')?.json ?? {};
    expect((await postCallback(bridge.callbackUrl, JSON.stringify(relay))).status).toBe(200);

    const verdicts = (
      await readDecoded<GroupVerdict>(
        bridge.kafka,
        consumer.env.MODERATION_GROUP_VERDICTS_TOPIC as string,
        5,
        { consumedBy: inputsOf(consumer.env) },
      )
    ).map(({ record, value }) => ({ key: record.key?.toString(), ...value }));
    expect(verdicts).toHaveLength(5);
    expect(verdicts.filter((v) => v.RuleId === 'ridge-recall')).toEqual([
      expect.objectContaining({
        key: COMMUNITY,
        GroupId: COMMUNITY,
        TopicId: TOPIC,
        GroupType: 'Community',
        MsgSeq: 57,
        From_Account: 'leckie',
        Action: 'recall',
        Outcome: 'RECALLED',
        Parts: ['MsgBody[0].MsgContent.Text'],
        RecallAttempts: 2,
      }),
    ]);
    expect(verdicts.filter((v) => v.RuleId === 'packet-recall')).toEqual([
      expect.objectContaining({
        key: '@TGS#2J4SZEAEL',
        MsgSeq: 123,
        Outcome: 'RECALL_FAILED',
        RecallErrorCode: 10030,
        RecallAttempts: 1,
      }),
      expect.objectContaining({ MsgSeq: null, Outcome: 'NOT_RECALLED_NO_MSGSEQ' }),
      expect.objectContaining({ MsgSeq: 124, Outcome: 'RECALLED' }),
    ]);
    expect(verdicts.filter((v) => v.RuleId === 'steep-flag')).toEqual([
      expect.objectContaining({
        Outcome: 'FLAGGED',
        Parts: [
          'MsgBody[8].MsgContent.AbstractList[1]',
          'MsgBody[8].MsgContent.MsgList[1].MsgBody[0].MsgContent.Text',
        ],
      }),
    ]);

    // Tencent: group recalls by GroupId/MsgSeq (the topic's with its TopicId), one C2C recall
    // (in order within a group: one partition each; groups may interleave)
    const calls = (groupId: string, seq: number) =>
      tencent.groupCallsFor(groupId, seq).map((c) => [c.group?.TopicId, c.answer.errorCode]);
    expect(calls(COMMUNITY, 57)).toEqual([
      [TOPIC, 10002],
      [TOPIC, 0],
    ]);
    expect(calls('@TGS#2J4SZEAEL', 123)).toEqual([[null, 10030]]);
    expect(calls('@TGS#2J4SZEAEL', 124)).toEqual([[null, 0]]);
    expect(tencent.calls.filter((c) => c.group !== null)).toHaveLength(4);
    expect(tencent.calls.every((c) => c.checkFailure === null)).toBe(true);
    const c2c = await readDecoded<{ MsgKey: string; Outcome: string }>(
      bridge.kafka,
      consumer.env.MODERATION_VERDICTS_TOPIC as string,
      1,
      { consumedBy: inputsOf(consumer.env) },
    );
    expect(c2c.map((v) => [v.value.MsgKey, v.value.Outcome])).toEqual([[relay.MsgKey, 'RECALLED']]);
    expect(tencent.callsFor(relay.MsgKey as string)).toHaveLength(1);

    // the poison record: dead-lettered by the group input, raw, the rest went on
    const [dead, ...more] = await readSettled(
      bridge.kafka,
      consumer.env.CONSUMER_DLQ_TOPIC as string,
      1,
    );
    expect(more).toEqual([]);
    expect(dead?.value?.toString()).toBe('not avro');
    expect(dead?.headers[DLQ_CONSUMER_HEADERS.consumer]).toBe('moderation-group');
    expect(dead?.headers[DLQ_CONSUMER_HEADERS.topic]).toBe(groupTopic);

    const records = (m: string, c: string, outcome: string) =>
      sampleValue(m, 'tim_consumer_records_total', { consumer: c, outcome });
    const metrics = await waitFor('the group input counted', async () => {
      const m = await scrape(consumer.adminUrl);
      return records(m, 'moderation-group', 'processed') === 6 && m;
    });
    expect(records(metrics, 'moderation-group', 'duplicate')).toBe(1);
    expect(records(metrics, 'moderation-group', 'dead_lettered')).toBe(1);
    expect(records(metrics, 'moderation', 'processed')).toBe(1);
    expect(sampleValue(metrics, 'tim_consumer_ready', { consumer: 'moderation-group' })).toBe(1);
    const recalls = (outcome: string) =>
      sampleValue(metrics, 'tim_moderation_group_recalls_total', { outcome });
    expect([
      recalls('recalled'),
      recalls('recall_failed'),
      recalls('not_recalled_no_msgseq'),
    ]).toEqual([2, 1, 1]);
    expect(sampleValue(metrics, 'tim_moderation_recalls_total', { outcome: 'recalled' })).toBe(1);
    expect(consumer.fatal).toEqual([]);
  });
});
