import type { WindowRecord } from '../../src/consumers/analytics/window';
import { DLQ_CONSUMER_HEADERS } from '../../src/consumers/runner';
import { readSettled } from '../../src/kafka/reader';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import {
  deleteTopics,
  inputsOf,
  produceRaw,
  readDecoded,
  startTestConsumer,
  type TestConsumer,
} from '../support/consumers';
import { loadFixtures } from '../support/fixtures';

/**
 * The analytics consumer end to end: fixture callbacks POSTed to the real bridge (one partition,
 * so the order of events is the order sent), windows read back from Kafka through the registry.
 * Window 60 s, allowed lateness 120 s.
 */

/** The fixtures' own MsgTimes are FIXTURES_T .. FIXTURES_T+5; they are moved to T .. T+5. */
const FIXTURES_T = 1764115200;
/** A minute boundary 20 minutes ago: every event time within what the bridge's clock allows. */
const T = Math.floor(Date.now() / 60_000) * 60 - 1200;
const ms = (s: number): number => s * 1000;

const fixture = (name: string, over: Record<string, unknown> = {}): string => {
  const f = loadFixtures().find((x) => x.name === `${name}.json`);
  if (!f) throw new Error(`no fixture ${name}`);
  const MsgTime = (f.json.MsgTime as number) - FIXTURES_T + T;
  return JSON.stringify({ ...f.json, MsgTime, ...over });
};

describe('analytics consumer', () => {
  let bridge: TestBridge;
  let consumer: TestConsumer;

  beforeAll(async () => {
    bridge = await startTestBridge('analytics', { KAFKA_TOPIC_PARTITIONS: '1' });
    consumer = await startTestConsumer('analytics', bridge.topic, {
      ANALYTICS_ALLOWED_LATENESS_SECONDS: '120',
    });
  });

  afterAll(async () => {
    await consumer?.dispose();
    if (bridge) {
      const e = consumer.env;
      await deleteTopics(bridge.kafka, [
        e.ANALYTICS_TOPIC as string,
        e.ANALYTICS_STATE_TOPIC as string,
        e.CONSUMER_DLQ_TOPIC as string,
      ]).catch(() => undefined);
      await bridge.dispose();
    }
  });

  it('publishes exact per-minute windows, counts late events within the lateness and drops later ones', async () => {
    // a poison record first: dead-lettered, the rest still counted
    await produceRaw(bridge.kafka, [
      { topic: bridge.topic, key: 'x', value: Buffer.from([0, 0, 0, 0x7f, 0x7f, 1]), headers: {} },
    ]);
    const bodies = [
      // window T: the six fixtures dated T .. T+5
      fixture('failed-send'),
      fixture('location-face'),
      fixture('custom'),
      fixture('media'),
      fixture('relay'),
      fixture('unicode-extra-fields'),
      // window T+60; the watermark passes the end of window T
      fixture('text', { MsgTime: T + 70 }),
      // years ahead: out of range, in no window, the watermark stays (reported by window T)
      fixture('text', { MsgKey: 'far-future', MsgTime: 9_999_999_999 }),
      // late for window T but within the 120 s: counted there
      fixture('custom', { MsgKey: 'late-but-counted', MsgTime: T + 30 }),
      // watermark T+200 >= T+60+120: window T closes
      fixture('text', { MsgKey: 'closer', MsgTime: T + 200, OnlineOnlyFlag: 0 }),
      // too late for window T (closed): dropped, reported by the next window to close
      fixture('custom', { MsgKey: 'too-late', MsgTime: T + 10 }),
      // watermark T+1000: windows T+60 and T+180 close
      fixture('text', { MsgKey: 'final', MsgTime: T + 1000 }),
    ];
    for (const body of bodies) {
      expect((await postCallback(bridge.callbackUrl, body)).status).toBe(200);
    }

    const windows = await readDecoded<WindowRecord>(
      bridge.kafka,
      consumer.env.ANALYTICS_TOPIC as string,
      3,
      { consumedBy: inputsOf(consumer.env) },
    );
    expect(windows.map((w) => w.record.key?.toString())).toEqual([
      new Date(ms(T)).toISOString(),
      new Date(ms(T + 60)).toISOString(),
      new Date(ms(T + 180)).toISOString(),
    ]);
    const [w0, w1, w3] = windows.map((w) => w.value);

    expect(w0).toMatchObject({
      WindowStart: ms(T),
      WindowEnd: ms(T + 60),
      Messages: 7,
      MessagesByPlatform: { iOS: 7 },
      FailedSends: 1,
      FailedSendsByResult: { '80001': 1 },
      OnlineOnlyMessages: 0,
      OnlineOnlyShare: 0,
      DistinctSenders: 6,
      DistinctRecipients: 6,
      DistinctCountsExact: true,
      UnreadMsgNumUnknown: 1,
      LateEvents: 1,
      DroppedLateEvents: 0,
      OutOfRangeEvents: 1,
      Watermark: ms(T + 200),
    });
    expect(w0?.MessagesByElementType).toMatchObject({
      TIMTextElem: 4,
      TIMCustomElem: 2,
      TIMLocationElem: 1,
      TIMFaceElem: 1,
      TIMImageElem: 1,
      TIMSoundElem: 1,
      TIMFileElem: 1,
      TIMVideoFileElem: 1,
      TIMRelayElem: 1,
    });
    // unread 0, 1, 1, 2, 3, 12 (and one -1): bucket upper bounds 0, 1, 2, 5, 10, 20, ...
    expect(w0?.UnreadMsgNum.map((b) => b.Count).slice(0, 6)).toEqual([1, 2, 1, 1, 0, 1]);

    expect(w1).toMatchObject({
      WindowStart: ms(T + 60),
      Messages: 1,
      OnlineOnlyMessages: 1,
      OnlineOnlyShare: 1,
      DroppedLateEvents: 1,
    });
    expect(w3).toMatchObject({ WindowStart: ms(T + 180), Messages: 1, DroppedLateEvents: 0 });

    const [dead, ...more] = await readSettled(
      bridge.kafka,
      consumer.env.CONSUMER_DLQ_TOPIC as string,
      1,
    );
    expect(more).toEqual([]);
    expect(dead?.headers[DLQ_CONSUMER_HEADERS.reason]).toBe('undecodable');
    expect(consumer.fatal).toEqual([]);
  });
});
