import type { GroupWindowRecord } from '../../src/consumers/analytics/group-window';
import type { WindowRecord } from '../../src/consumers/analytics/window';
import { DLQ_CONSUMER_HEADERS } from '../../src/consumers/runner';
import { readSettled } from '../../src/kafka/reader';
import { postCallback, startTestBridge, uniqueTopic, type TestBridge } from '../support/bridge';
import {
  deleteTopics,
  inputsOf,
  produceRaw,
  readDecoded,
  startTestConsumer,
  type TestConsumer,
} from '../support/consumers';
import { loadCommandFixtures, loadFixtures } from '../support/fixtures';
import { sampleValue, scrape, waitFor } from '../support/wait';

/**
 * The analytics consumer on group messages, end to end: the real bridge routes
 * Group.CallbackAfterSendMsg to a topic of this test (one partition, so the order of events is
 * the order sent) and C2C messages to its own; group windows are read back from Kafka through
 * the registry, beside the C2C windows. Window 60 s, allowed lateness 120 s; the input idles
 * 3 s before the last windows close.
 */

const GROUP_CMD = 'Group.CallbackAfterSendMsg';
/** A minute boundary 20 minutes ago: every event time within what the bridge's clock allows. */
const T = Math.floor(Date.now() / 60_000) * 60 - 1200;
const ms = (s: number): number => s * 1000;

const group = (name: string, over: Record<string, unknown> = {}): string => {
  const f = loadCommandFixtures().find((x) => x.command === GROUP_CMD && x.name === `${name}.json`);
  if (!f) throw new Error(`no group fixture ${name}`);
  const json: Record<string, unknown> = { ...f.json, ...over };
  for (const [k, v] of Object.entries(over)) if (v === undefined) delete json[k];
  return JSON.stringify(json);
};

describe('analytics consumer, group messages', () => {
  let bridge: TestBridge;
  let consumer: TestConsumer;
  const groupTopic = uniqueTopic('analytics-group-in');

  beforeAll(async () => {
    bridge = await startTestBridge('analytics-group', {
      KAFKA_TOPIC_PARTITIONS: '1',
      COMMAND_ROUTES: `*=off,C2C.CallbackAfterSendMsg=on,${GROUP_CMD}=${groupTopic}`,
    });
    consumer = await startTestConsumer('analytics', bridge.topic, {
      GROUP_KAFKA_TOPIC: groupTopic,
      ANALYTICS_ALLOWED_LATENESS_SECONDS: '120',
      ANALYTICS_IDLE_CLOSE_SECONDS: '3',
    });
  });

  afterAll(async () => {
    await consumer?.dispose();
    if (bridge) {
      const e = consumer.env;
      await deleteTopics(bridge.kafka, [
        groupTopic,
        e.ANALYTICS_TOPIC as string,
        e.ANALYTICS_GROUP_TOPIC as string,
        e.ANALYTICS_STATE_TOPIC as string,
        e.CONSUMER_DLQ_TOPIC as string,
      ]).catch(() => undefined);
      await bridge.dispose();
    }
  });

  it('publishes exact per-minute windows of group messages by group type, exactly once, beside the C2C windows', async () => {
    // a poison record first: dead-lettered, the rest still counted
    await produceRaw(bridge.kafka, [
      { topic: groupTopic, key: 'x', value: Buffer.from([0, 0, 0, 0x7f, 0x7f, 1]), headers: {} },
    ]);
    const bodies = [
      // window T: six messages of five types (Work is Private), one of them twice
      group('sample', { MsgTime: T + 1 }), // Public, online-only
      group('topic-id', { MsgTime: T + 2 }), // Community, in a topic
      group('all-element-types', { MsgTime: T + 3 }), // Community, in a topic
      group('topic-id', { MsgTime: T + 2 }), // the bridge's duplicate: counted once
      group('no-event-time', { MsgTime: T + 4, Type: 'Work' }),
      group('event-time-number', { MsgTime: T + 5, Type: 'AVChatRoom' }),
      // window T+60: the watermark passes the end of window T
      group('group-at-info', { MsgTime: T + 70 }),
      // late for window T but within the 120 s: counted there
      group('sample', { MsgTime: T + 30, MsgSeq: 1000, Type: 'Meeting' }),
      // watermark T+200 >= T+60+120: window T closes
      group('sample', { MsgTime: T + 200, MsgSeq: 1001 }),
      // too late for window T (closed): dropped, reported by the next window to close
      group('sample', { MsgTime: T + 10, MsgSeq: 1002 }),
      // no MsgTime: windowed by the bridge's ReceivedAt (now), which closes T+60 and T+180
      group('max-uint32', { MsgTime: undefined }),
    ];
    for (const body of bodies) {
      const res = await postCallback(bridge.callbackUrl, body, {
        query: { CallbackCommand: GROUP_CMD },
      });
      expect(res.status).toBe(200);
    }
    // one C2C message: its own window, on its own output
    const text = loadFixtures().find((f) => f.name === 'text.json')?.json ?? {};
    const c2cBody = JSON.stringify({ ...text, MsgTime: T + 5 });
    expect((await postCallback(bridge.callbackUrl, c2cBody)).status).toBe(200);

    // window T closes on the watermark; T+60, T+180 and the ReceivedAt window when input idles
    const windows = await readDecoded<GroupWindowRecord>(
      bridge.kafka,
      consumer.env.ANALYTICS_GROUP_TOPIC as string,
      4,
      { consumedBy: inputsOf(consumer.env), timeoutMs: 60000 },
    );
    expect(windows.map((w) => w.record.key?.toString()).slice(0, 3)).toEqual([
      new Date(ms(T)).toISOString(),
      new Date(ms(T + 60)).toISOString(),
      new Date(ms(T + 180)).toISOString(),
    ]);
    expect(windows).toHaveLength(4);
    const [w0, w1, w3, now] = windows.map((w) => w.value);
    expect(w0).toMatchObject({
      WindowStart: ms(T),
      WindowEnd: ms(T + 60),
      Messages: 6,
      MessagesByGroupType: { AVChatRoom: 1, ChatRoom: 1, Community: 2, Private: 1, Public: 1 },
      MessagesByPlatform: { iOS: 6 },
      OnlineOnlyMessages: 2,
      TopicMessages: 2,
      MessagesWithoutMsgTime: 0,
      DistinctGroups: 2,
      DistinctSenders: 4, // jared, leckie, carol, bob
      DistinctCountsExact: true,
      LateEvents: 1,
      DroppedLateEvents: 0,
      Watermark: ms(T + 200),
    });
    expect(w0?.MessagesByElementType).toMatchObject({ TIMTextElem: 6, TIMStickerPackElem: 1 });
    expect(w1).toMatchObject({ WindowStart: ms(T + 60), Messages: 1, DroppedLateEvents: 1 });
    expect(w3).toMatchObject({ WindowStart: ms(T + 180), Messages: 1, DroppedLateEvents: 0 });
    // the message without MsgTime: in the window of the bridge's clock
    expect(now).toMatchObject({ Messages: 1, MessagesWithoutMsgTime: 1 });
    expect(Math.abs((now?.WindowStart ?? 0) - Date.now())).toBeLessThan(10 * 60_000);

    // the C2C input: its own window, nothing of the group messages
    const c2c = await readDecoded<WindowRecord>(
      bridge.kafka,
      consumer.env.ANALYTICS_TOPIC as string,
      1,
      {
        consumedBy: inputsOf(consumer.env),
        timeoutMs: 60000,
      },
    );
    expect(c2c.map((w) => [w.value.WindowStart, w.value.Messages])).toEqual([[ms(T), 1]]);

    const [dead, ...more] = await readSettled(
      bridge.kafka,
      consumer.env.CONSUMER_DLQ_TOPIC as string,
      1,
    );
    expect(more).toEqual([]);
    expect(dead?.headers[DLQ_CONSUMER_HEADERS.reason]).toBe('undecodable');
    expect(dead?.headers[DLQ_CONSUMER_HEADERS.consumer]).toBe('analytics-group');

    const metrics = await waitFor('the group windows counted', async () => {
      const m = await scrape(consumer.adminUrl);
      return sampleValue(m, 'tim_analytics_group_windows_closed_total') === 4 && m;
    });
    expect(sampleValue(metrics, 'tim_analytics_group_messages_total')).toBe(9);
    expect(
      sampleValue(metrics, 'tim_analytics_group_messages_by_group_type_total', {
        group_type: 'Community',
      }),
    ).toBe(2);
    expect(
      sampleValue(metrics, 'tim_consumer_records_total', {
        consumer: 'analytics-group',
        outcome: 'duplicate',
      }),
    ).toBe(1);
    expect(sampleValue(metrics, 'tim_analytics_windows_closed_total')).toBe(1);
    expect(consumer.fatal).toEqual([]);
  });
});
