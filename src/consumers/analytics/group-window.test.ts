import { loadCommandFixtures } from '../../../test/support/fixtures';
import { rulesOf } from '../../catalogue/records';
import { avroType } from '../../kafka/codec';
import { loadSchema } from '../../schemas';
import type { Envelope } from '../../tencent/callback';
import { createRecordMapper } from '../../tencent/record';
import { buildSchemaModel } from '../../tencent/schema-model';
import { GROUP_AFTER_SEND_MSG, groupMessageEntry, type GroupMessageCallback } from '../group';
import { GROUP_SNAPSHOT_FORMAT } from './group-snapshot';
import { GroupMinuteWindows, type GroupWindowRecord } from './group-window';
import { loadGroupAnalyticsSchema } from './schema';
import { MAP_KEY_LIMIT, MinuteWindows, OTHER_KEY, windowKey } from './window';

/** The group fixtures, as the runner hands them over: through the bridge's record and back. */
const entry = groupMessageEntry();
const schema = loadSchema(entry.schema);
const model = buildSchemaModel(schema);
const mapper = createRecordMapper<GroupMessageCallback>(model, rulesOf(entry, model));
const fixtures = new Map(
  loadCommandFixtures()
    .filter((f) => f.command === GROUP_AFTER_SEND_MSG)
    .map((f) => [f.name.replace(/\.json$/, ''), f.json as GroupMessageCallback]),
);
const T = 1764115200; // a minute boundary
const RECEIVED = 1_800_000_000_000;
/** Event times anywhere (the range check has tests of its own). */
const ANY_TIME = { maxAheadSeconds: 1e12, maxBehindSeconds: 1e12 };
const envelope = (OptPlatform: string | null = 'iOS', ReceivedAt = RECEIVED): Envelope => ({
  SdkAppid: '1400000001',
  OptPlatform,
  ClientIP: null,
  ReceivedAt,
});
function decoded(name: string, over: Record<string, unknown> = {}, env = envelope()) {
  const f = fixtures.get(name);
  if (!f) throw new Error(`no fixture ${name}`);
  const json = { ...structuredClone(f), ...over };
  for (const [k, v] of Object.entries(over)) if (v === undefined) delete json[k];
  return mapper.fromRecord(mapper.toRecord(json, env));
}
const add = (
  w: GroupMinuteWindows,
  name: string,
  over: Record<string, unknown> = {},
  env = envelope(),
) => {
  const { callback, envelope: e } = decoded(name, over, env);
  return w.add(callback, e);
};
const outputType = avroType(loadGroupAnalyticsSchema());
const valid = (records: GroupWindowRecord[]) => {
  for (const r of records) {
    const errors: string[] = [];
    outputType.isValid(r, { errorHook: (path) => errors.push(path.join('.')) });
    expect(errors).toEqual([]);
  }
  return records;
};

describe('GroupMinuteWindows', () => {
  it('counts a window of group messages by group type, element type, platform, topic and online-only', () => {
    const w = new GroupMinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 0 });
    add(w, 'sample', { MsgTime: T + 1 }); // Public, online-only, text
    add(w, 'topic-id', { MsgTime: T + 2 }, envelope('Android')); // Community, topic
    add(w, 'all-element-types', { MsgTime: T + 3 }, envelope(null)); // Community, topic, 10 types
    add(w, 'unicode-text', { MsgTime: T + 4, Type: 'Work' }); // Private (Work folded in), topic
    add(w, 'no-event-time', { MsgTime: T + 5, Type: 'Meeting' }); // ChatRoom
    add(w, 'max-uint32', { MsgTime: T + 6, Type: undefined }); // no Type
    add(w, 'event-time-number', { MsgTime: T + 7, Type: 'AVChatRoom' });
    expect(w.takeClosed()).toEqual([]);
    expect(w.openWindows).toBe(1);
    // the next minute's first message closes it (no lateness)
    expect(add(w, 'group-at-info', { MsgTime: T + 60 })).toBe('counted');
    const [record, ...rest] = valid(w.takeClosed());
    expect(rest).toEqual([]);
    expect(windowKey(record as GroupWindowRecord)).toBe(new Date(T * 1000).toISOString());
    expect(record).toEqual({
      WindowStart: T * 1000,
      WindowEnd: (T + 60) * 1000,
      Messages: 7,
      MessagesByGroupType: {
        AVChatRoom: 1,
        ChatRoom: 1,
        Community: 2,
        Private: 1,
        Public: 1,
        none: 1,
      },
      MessagesByElementType: {
        TIMCustomElem: 1,
        TIMFaceElem: 1,
        TIMFileElem: 1,
        TIMImageElem: 1,
        TIMLocationElem: 2,
        TIMRelayElem: 1,
        TIMSoundElem: 1,
        TIMStickerPackElem: 1,
        TIMTextElem: 7,
        TIMVideoFileElem: 1,
      },
      MessagesByPlatform: { Android: 1, iOS: 5, none: 1 },
      OnlineOnlyMessages: 1,
      TopicMessages: 3,
      MessagesWithoutMsgTime: 0,
      DistinctGroups: 2,
      DistinctSenders: 5, // jared, leckie, 用户_李雷, carol, bob
      DistinctCountsExact: true,
      LateEvents: 0,
      DroppedLateEvents: 0,
      OutOfRangeEvents: 0,
      Watermark: (T + 60) * 1000,
      ClosedAt: RECEIVED,
    });
  });

  it('counts late messages within the lateness, drops later ones and reports them once', () => {
    const w = new GroupMinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 120 });
    expect(add(w, 'sample', { MsgTime: T + 10 })).toBe('counted');
    expect(add(w, 'sample', { MsgTime: T + 70, MsgSeq: 2 })).toBe('counted');
    expect(add(w, 'sample', { MsgTime: T + 30, MsgSeq: 3 })).toBe('late');
    expect(w.takeClosed()).toEqual([]);
    // watermark T+180 = end of window T + 120: window T closes
    expect(add(w, 'sample', { MsgTime: T + 180, MsgSeq: 4 })).toBe('counted');
    expect(add(w, 'sample', { MsgTime: T + 5, MsgSeq: 5 })).toBe('dropped');
    const [w0] = w.takeClosed();
    expect(w0).toMatchObject({
      WindowStart: T * 1000,
      Messages: 2,
      LateEvents: 1,
      DroppedLateEvents: 0,
      OutOfRangeEvents: 0,
    });
    expect(w.watermark).toBe(T + 180);
    expect(w.closeAll(RECEIVED + 5)).toBe(2);
    const [w1, w3] = w.takeClosed();
    expect(w1).toMatchObject({
      WindowStart: (T + 60) * 1000,
      Messages: 1,
      DroppedLateEvents: 1,
      OutOfRangeEvents: 0,
      ClosedAt: RECEIVED + 5,
    });
    expect(w3).toMatchObject({ WindowStart: (T + 180) * 1000, Messages: 1, DroppedLateEvents: 0 });
  });

  it('windows a message without a usable MsgTime by ReceivedAt, and reads a MsgTime sent as a string', () => {
    const w = new GroupMinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 0 });
    add(w, 'sample', { MsgTime: undefined }, envelope('iOS', (T + 3) * 1000 + 999));
    add(w, 'sample', { MsgTime: 'soon', MsgSeq: 2 }, envelope('iOS', (T + 4) * 1000));
    add(w, 'sample', { MsgTime: String(T + 5), MsgSeq: 3 });
    w.closeAll(0);
    expect(w.takeClosed()).toEqual([
      expect.objectContaining({ WindowStart: T * 1000, Messages: 3, MessagesWithoutMsgTime: 2 }),
    ]);
  });

  it('bounds the group-type map: documented types always keyed, others up to the limit, then "other"', () => {
    const w = new GroupMinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 0 });
    for (let i = 0; i < MAP_KEY_LIMIT + 8; i++) {
      add(w, 'sample', { MsgTime: T, MsgSeq: i, Type: `Custom${i}` });
    }
    add(w, 'sample', { MsgTime: T, MsgSeq: 1000, Type: 'Community' });
    w.closeAll(0);
    const [record] = w.takeClosed();
    const byType = record?.MessagesByGroupType ?? {};
    // 32 custom keys, then "other" for the 8 more, and Community keyed anyway
    expect(Object.keys(byType)).toHaveLength(MAP_KEY_LIMIT + 2);
    expect(byType[OTHER_KEY]).toBe(8);
    expect(byType.Community).toBe(1);
    expect(Object.values(byType).reduce((a, b) => a + b, 0)).toBe(MAP_KEY_LIMIT + 9);
  });

  it('restores a snapshot taken mid-stream to exactly the uninterrupted result', () => {
    const inputs = Array.from({ length: 300 }, (_, i) => ({
      name: [...fixtures.keys()][i % fixtures.size] as string,
      over: {
        MsgTime: T + Math.floor(i / 2) + ((i * 7) % 11) - 5,
        MsgSeq: i,
        GroupId: `g${i % 13}`,
      },
    }));
    const options = { ...ANY_TIME, allowedLatenessSeconds: 30 };
    const once = new GroupMinuteWindows(options);
    for (const { name, over } of inputs) add(once, name, over);
    once.closeAll(1);
    const want = once.takeClosed();
    expect(want.length).toBeGreaterThanOrEqual(3);

    let w = new GroupMinuteWindows(options);
    const got: GroupWindowRecord[] = [];
    inputs.forEach(({ name, over }, i) => {
      add(w, name, over);
      if (i % 37 === 0) {
        got.push(...w.takeClosed());
        const bytes = w.snapshot();
        expect(bytes[0]).toBe(GROUP_SNAPSHOT_FORMAT);
        w = GroupMinuteWindows.restore(bytes, options);
        expect(w.snapshot().equals(bytes)).toBe(true); // deterministic
      }
    });
    w.closeAll(1);
    got.push(...w.takeClosed());
    expect(got).toEqual(want);
  });

  it('refuses a C2C snapshot, and the C2C aggregator refuses a group one', () => {
    const group = new GroupMinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 0 });
    add(group, 'sample', { MsgTime: T });
    const c2c = new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 0 });
    expect(() =>
      GroupMinuteWindows.restore(c2c.snapshot(), { ...ANY_TIME, allowedLatenessSeconds: 0 }),
    ).toThrow(/not a group analytics snapshot/);
    expect(() =>
      MinuteWindows.restore(group.snapshot(), { ...ANY_TIME, allowedLatenessSeconds: 0 }),
    ).toThrow(/not an analytics snapshot/);
    expect(() =>
      GroupMinuteWindows.restore(group.snapshot(), {
        ...ANY_TIME,
        windowSeconds: 30,
        allowedLatenessSeconds: 0,
      }),
    ).toThrow(/60-second windows/);
  });
});
