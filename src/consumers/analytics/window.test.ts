import fc from 'fast-check';
import { loadFixtures } from '../../../test/support/fixtures';
import { avroType } from '../../kafka/codec';
import { loadSchema } from '../../schemas';
import type { AfterSendMsgCallback, Envelope } from '../../tencent/callback';
import { loadAnalyticsSchema } from './schema';
import {
  KNOWN_ELEMENT_TYPES,
  MAP_KEY_LIMIT,
  MinuteWindows,
  OTHER_KEY,
  windowKey,
  type AddOutcome,
  type WindowRecord,
} from './window';

const fixtures = new Map(
  loadFixtures().map((f) => [f.name, f.json as unknown as AfterSendMsgCallback]),
);
const fixture = (name: string): AfterSendMsgCallback => {
  const f = fixtures.get(name);
  if (!f) throw new Error(`no fixture ${name}`);
  return structuredClone(f);
};
const envelope = (OptPlatform: string | null, ReceivedAt = 1_800_000_000_000): Envelope => ({
  SdkAppid: '1400000001',
  OptPlatform,
  ClientIP: null,
  ReceivedAt,
});
/** text.json at another MsgTime (and with a MsgKey of its own), with overrides. */
let keys = 0;
const msg = (MsgTime: number, over: Partial<AfterSendMsgCallback> = {}): AfterSendMsgCallback => ({
  ...fixture('text.json'),
  MsgTime,
  MsgKey: `key-${++keys}`,
  ...over,
});
/** Event times anywhere (the range check has tests of its own). */
const ANY_TIME = { maxAheadSeconds: 1e12, maxBehindSeconds: 1e12 };

const analyticsType = avroType(loadAnalyticsSchema());

describe('MinuteWindows on the fixture callbacks', () => {
  // file order puts text.json (2019) after five 2025 callbacks: too late for any open window
  const platforms: Record<string, string | null> = {
    'custom.json': 'iOS',
    'failed-send.json': 'Android',
    'location-face.json': 'IOS',
    'media.json': null,
    'relay.json': 'RESTAPI',
    'text.json': 'Web',
    'unicode-extra-fields.json': 'SmartFridge',
  };

  function run(): { outcomes: Record<string, AddOutcome>; records: WindowRecord[] } {
    const windows = new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 120 });
    const outcomes: Record<string, AddOutcome> = {};
    for (const name of [...fixtures.keys()].sort()) {
      outcomes[name] = windows.add(fixture(name), envelope(platforms[name] ?? null));
    }
    expect(windows.takeClosed()).toEqual([]);
    expect(windows.openWindows).toBe(1);
    expect(windows.closeAll(1_800_000_000_999)).toBe(1);
    expect(windows.openWindows).toBe(0);
    return { outcomes, records: windows.takeClosed() };
  }

  it('counts exactly what a known input holds', () => {
    const { outcomes, records } = run();
    expect(outcomes['text.json']).toBe('dropped');
    expect(Object.values(outcomes).filter((o) => o === 'counted')).toHaveLength(6);
    expect(records).toEqual([
      {
        WindowStart: 1764115200_000,
        WindowEnd: 1764115260_000,
        Messages: 6,
        MessagesByElementType: {
          TIMCustomElem: 1,
          TIMFaceElem: 1,
          TIMFileElem: 1,
          TIMImageElem: 1,
          TIMLocationElem: 1,
          TIMRelayElem: 1,
          TIMSoundElem: 1,
          TIMTextElem: 3,
          TIMVideoFileElem: 1,
        },
        MessagesByPlatform: { Android: 1, RESTAPI: 1, iOS: 2, none: 1, other: 1 },
        FailedSends: 1,
        FailedSendsByResult: { '80001': 1 },
        OnlineOnlyMessages: 0,
        OnlineOnlyShare: 0,
        DistinctSenders: 6,
        DistinctRecipients: 6,
        DistinctCountsExact: true,
        UnreadMsgNum: [
          { UpperBound: 0, Count: 1 },
          { UpperBound: 1, Count: 1 },
          { UpperBound: 2, Count: 1 },
          { UpperBound: 5, Count: 1 },
          { UpperBound: 10, Count: 0 },
          { UpperBound: 20, Count: 1 },
          { UpperBound: 50, Count: 0 },
          { UpperBound: 100, Count: 0 },
          { UpperBound: 1000, Count: 0 },
          { UpperBound: null, Count: 0 },
        ],
        UnreadMsgNumUnknown: 1,
        LateEvents: 0,
        DroppedLateEvents: 1,
        OutOfRangeEvents: 0,
        Watermark: 1764115205_000,
        ClosedAt: 1_800_000_000_999,
      },
    ]);
    expect(windowKey(records[0] as WindowRecord)).toBe('2025-11-26T00:00:00.000Z');
  });

  it('produces records that the Avro schema encodes and decodes unchanged', () => {
    const [record] = run().records;
    expect(analyticsType.isValid(record)).toBe(true);
    const decoded: unknown = analyticsType.fromBuffer(analyticsType.toBuffer(record));
    expect(decoded).toEqual(record);
  });
});

describe('MinuteWindows lateness', () => {
  const at = (ms: number) => envelope('iOS', ms);

  it('counts an event within the allowed lateness as late and drops a later one', () => {
    const w = new MinuteWindows({ ...ANY_TIME, windowSeconds: 60, allowedLatenessSeconds: 30 });
    expect(w.add(msg(1000), at(1))).toBe('counted'); // window [960, 1020)
    expect(w.add(msg(1030), at(2))).toBe('counted'); // window [1020, 1080); watermark 1030
    expect(w.add(msg(1010), at(3))).toBe('late'); // 960 window, watermark past its end
    expect(w.add(msg(1049), at(4))).toBe('counted'); // watermark 1049 < 1020 + 30: still open
    expect(w.takeClosed()).toEqual([]);
    expect(w.add(msg(1050), at(5))).toBe('counted'); // watermark 1050 = 1020 + 30: closes 960
    const [first, ...more] = w.takeClosed();
    expect(more).toEqual([]);
    expect(first).toMatchObject({
      WindowStart: 960_000,
      WindowEnd: 1020_000,
      Messages: 2,
      LateEvents: 1,
      DroppedLateEvents: 0,
      OutOfRangeEvents: 0,
      Watermark: 1050_000,
      ClosedAt: 5,
    });

    expect(w.add(msg(1019), at(6))).toBe('dropped');
    expect(w.add(msg(100), at(7))).toBe('dropped');
    expect(w.add(msg(1100), at(8))).toBe('counted'); // watermark 1100 - 30 < 1080: 1020 open
    expect(w.takeClosed()).toEqual([]);
    expect(w.add(msg(1110), at(9))).toBe('counted');
    expect(w.takeClosed()).toEqual([
      expect.objectContaining({
        WindowStart: 1020_000,
        Messages: 3,
        LateEvents: 0,
        DroppedLateEvents: 2,
        OutOfRangeEvents: 0,
        ClosedAt: 9,
      }),
    ]);
    expect(w.openWindows).toBe(1);
  });

  it('with zero lateness closes a window as soon as an event reaches its end', () => {
    const w = new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 0 });
    expect(w.add(msg(59), at(1))).toBe('counted');
    expect(w.add(msg(60), at(2))).toBe('counted');
    expect(w.takeClosed().map((r) => r.WindowStart)).toEqual([0]);
    expect(w.add(msg(59), at(3))).toBe('dropped');
  });

  it('closes several windows in start order when the watermark jumps', () => {
    const w = new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 200 });
    for (const t of [130, 70, 10, 125]) w.add(msg(t), at(t));
    expect(w.openWindows).toBe(3);
    w.add(msg(10_000), at(99));
    expect(w.takeClosed().map((r) => [r.WindowStart, r.Messages, r.ClosedAt])).toEqual([
      [0, 1, 99],
      [60_000, 1, 99],
      [120_000, 2, 99],
    ]);
  });

  it('drops events for windows closed by closeAll, even ahead of the watermark', () => {
    const w = new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 600 });
    w.add(msg(61), at(1));
    expect(w.closeAll(42)).toBe(1);
    expect(w.closeAll(43)).toBe(0);
    expect(w.add(msg(119), at(2))).toBe('dropped');
    expect(w.add(msg(120), at(3))).toBe('counted');
    expect(w.takeClosed()).toEqual([
      expect.objectContaining({ WindowStart: 60_000, ClosedAt: 42 }),
    ]);
    w.closeAll(44);
    expect(w.takeClosed()).toEqual([
      expect.objectContaining({ WindowStart: 120_000, Messages: 1, DroppedLateEvents: 1 }),
    ]);
  });
});

describe('MinuteWindows counting rules', () => {
  const closeOne = (callbacks: [AfterSendMsgCallback, Envelope][]): WindowRecord => {
    const w = new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 0 });
    for (const [c, e] of callbacks) w.add(c, e);
    w.closeAll(0);
    const [record] = w.takeClosed();
    if (!record) throw new Error('no window closed');
    return record;
  };

  it('counts an element type once per message and caps unknown keys under "other"', () => {
    const text = { MsgType: 'TIMTextElem', MsgContent: { Text: 'x' } };
    const record = closeOne([
      [
        msg(0, { MsgBody: [text, text, { MsgType: 'TIMNewElem', MsgContent: {} }] }),
        envelope(null),
      ],
      ...Array.from({ length: MAP_KEY_LIMIT + 5 }, (_, i): [AfterSendMsgCallback, Envelope] => [
        msg(1, {
          MsgBody: [{ MsgType: `X${String(i).padStart(2, '0')}`, MsgContent: {} }],
          SendMsgResult: 1000 + i,
        }),
        envelope(null),
      ]),
      [msg(2, { MsgBody: [{ MsgType: 'TIMRelayElem', MsgContent: {} }] }), envelope(null)],
    ]);
    expect(record.MessagesByElementType.TIMTextElem).toBe(1);
    expect(record.MessagesByElementType.TIMNewElem).toBe(1);
    // a documented type keeps its own key even past the limit
    expect(record.MessagesByElementType.TIMRelayElem).toBe(1);
    expect(Object.keys(record.MessagesByElementType)).toHaveLength(MAP_KEY_LIMIT + 2);
    expect(record.MessagesByElementType[OTHER_KEY]).toBe(7);
    expect(Object.keys(record.FailedSendsByResult)).toHaveLength(MAP_KEY_LIMIT + 1);
    expect(record.FailedSendsByResult[OTHER_KEY]).toBe(5);
    expect(record.FailedSends).toBe(MAP_KEY_LIMIT + 5);
    expect(analyticsType.isValid(record)).toBe(true);
  });

  it('computes the online-only share and treats absent fields as unknown', () => {
    const bare = msg(0);
    delete bare.SendMsgResult;
    delete bare.OnlineOnlyFlag;
    delete bare.UnreadMsgNum;
    const record = closeOne([
      [msg(0, { OnlineOnlyFlag: 1, UnreadMsgNum: 5000 }), envelope('iPad')],
      [msg(0, { OnlineOnlyFlag: 0, UnreadMsgNum: 1000 }), envelope('IPad')],
      [msg(0, { OnlineOnlyFlag: 1, SendMsgResult: 0 }), envelope('Unknown')],
      [bare, envelope('')],
    ]);
    expect(record).toMatchObject({
      Messages: 4,
      OnlineOnlyMessages: 2,
      OnlineOnlyShare: 0.5,
      FailedSends: 0,
      FailedSendsByResult: {},
      UnreadMsgNumUnknown: 1,
      MessagesByPlatform: { iPad: 2, Unknown: 1, none: 1 },
    });
    expect(record.UnreadMsgNum.slice(-2)).toEqual([
      { UpperBound: 1000, Count: 1 },
      { UpperBound: null, Count: 1 },
    ]);
    // text.json's UnreadMsgNum 7
    expect(record.UnreadMsgNum[4]).toEqual({ UpperBound: 10, Count: 1 });
  });

  it('counts distinct senders and recipients exactly while small', () => {
    const record = closeOne(
      Array.from({ length: 300 }, (_, i): [AfterSendMsgCallback, Envelope] => [
        msg(0, { From_Account: `s${i % 7}`, To_Account: `r${i % 250}` }),
        envelope(null),
      ]),
    );
    expect(record).toMatchObject({ DistinctSenders: 7, DistinctRecipients: 250 });
    expect(record.DistinctCountsExact).toBe(true);
  });

  it('rejects bad options with a message naming them, and takes any MsgTime', () => {
    expect(() => new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: -1 })).toThrow(
      /allowedLatenessSeconds/,
    );
    expect(
      () => new MinuteWindows({ ...ANY_TIME, windowSeconds: 0, allowedLatenessSeconds: 0 }),
    ).toThrow(/windowSeconds/);
    expect(
      () => new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 0, precision: 30 }),
    ).toThrow(/precision/);
    // not thrown (the record would be dead-lettered): out of range
    expect(
      new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 0 }).add(msg(1.5), envelope(null)),
    ).toBe('out_of_range');
  });
});

describe('MinuteWindows snapshot and restore', () => {
  type Op =
    { kind: 'add'; t: number; from: number; to: number; platform: number } | { kind: 'idle' };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 20,
      arbitrary: fc.record({
        kind: fc.constant('add' as const),
        t: fc.integer({ min: 0, max: 900 }),
        from: fc.integer({ min: 0, max: 40 }),
        to: fc.integer({ min: 0, max: 3 }),
        platform: fc.integer({ min: 0, max: 3 }),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'idle' as const }) },
  );
  const platforms = [null, 'iOS', 'Web', 'Fridge'];

  /** Applies ops from `i`, returning outcomes and every record taken after each op. */
  function apply(w: MinuteWindows, ops: Op[], from: number, out: unknown[]): void {
    ops.slice(from).forEach((op, k) => {
      const i = from + k;
      if (op.kind === 'idle') {
        out.push(w.closeAll(i));
      } else {
        out.push(
          w.add(
            msg(op.t, {
              MsgKey: `op-${i}`,
              From_Account: `u${op.from}`,
              To_Account: `u${op.to}`,
              SendMsgResult: op.to === 3 ? 20006 : 0,
            }),
            envelope(platforms[op.platform] ?? null, i),
          ),
        );
      }
      if (i % 3 === 0) out.push(w.takeClosed());
    });
  }

  it('continues after restore(snapshot()) exactly as without it', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 120 }),
        fc.nat(),
        fc.integer({ min: 0, max: 200 }),
        fc.constantFrom(4, 12),
        (ops, cutSeed, lateness, precision) => {
          const opts = {
            ...ANY_TIME,
            windowSeconds: 60,
            allowedLatenessSeconds: lateness,
            precision,
          };
          const cut = ops.length === 0 ? 0 : cutSeed % (ops.length + 1);

          const straight = new MinuteWindows(opts);
          const expected: unknown[] = [];
          apply(straight, ops.slice(0, cut), 0, expected);
          apply(straight, ops, cut, expected);
          expected.push(straight.takeClosed());

          const first = new MinuteWindows(opts);
          const actual: unknown[] = [];
          apply(first, ops.slice(0, cut), 0, actual);
          // closed windows may still be pending here: the snapshot keeps them too
          const bytes = first.snapshot();
          const restored = MinuteWindows.restore(bytes, opts);
          expect(restored.snapshot().equals(bytes)).toBe(true);
          apply(restored, ops, cut, actual);
          actual.push(restored.takeClosed());

          expect(actual).toEqual(expected);
          expect(restored.snapshot().equals(straight.snapshot())).toBe(true);
          for (const records of expected) {
            if (Array.isArray(records)) {
              for (const r of records) expect(analyticsType.isValid(r)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps dense sketches exact across a restore', () => {
    const opts = { ...ANY_TIME, allowedLatenessSeconds: 60, precision: 12 };
    const a = new MinuteWindows(opts);
    for (let i = 0; i < 5000; i++) {
      a.add(msg(i % 60, { From_Account: `s${i}`, To_Account: `r${i % 10}` }), envelope(null));
    }
    const b = MinuteWindows.restore(a.snapshot(), opts);
    for (const w of [a, b]) {
      w.add(msg(30, { From_Account: 'late-one' }), envelope(null));
      w.closeAll(1);
    }
    const [ra] = a.takeClosed();
    const [rb] = b.takeClosed();
    expect(rb).toEqual(ra);
    // r0..r9 and text.json's To_Account of the late one
    expect(ra).toMatchObject({ DistinctRecipients: 11, DistinctCountsExact: false });
    expect(Math.abs((ra as WindowRecord).DistinctSenders / 5001 - 1)).toBeLessThan(0.05);
  });

  it('is compact: bounded by the open windows, the sketch size and 8 bytes a counted message', () => {
    const w = new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 120, precision: 12 });
    for (let i = 0; i < 20_000; i++) {
      w.add(msg(1020 + (i % 180), { From_Account: `s${i}`, To_Account: `r${i}` }), envelope(null));
    }
    expect(w.openWindows).toBe(3);
    // 3 windows x 2 dense sketches x 4 KiB, a 64-bit hash of each MsgKey, plus a little
    expect(w.snapshot().length).toBeLessThan(3 * 2 * 4096 + 20_000 * 8 + 1024);
  });

  it('refuses a snapshot of another window length or format', () => {
    const bytes = new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 0 }).snapshot();
    expect(() =>
      MinuteWindows.restore(bytes, { ...ANY_TIME, windowSeconds: 300, allowedLatenessSeconds: 0 }),
    ).toThrow(/60-second windows but windowSeconds is 300/);
    expect(() =>
      MinuteWindows.restore(Buffer.from('junk'), { ...ANY_TIME, allowedLatenessSeconds: 0 }),
    ).toThrow(/not an analytics snapshot/);
    const truncated = Buffer.concat([Buffer.of(1), Buffer.from([0x7f])]);
    expect(() =>
      MinuteWindows.restore(truncated, { ...ANY_TIME, allowedLatenessSeconds: 0 }),
    ).toThrow(/corrupt/);
  });

  it('closes restored windows that a smaller lateness makes due at the next event', () => {
    const w = new MinuteWindows({ ...ANY_TIME, allowedLatenessSeconds: 600 });
    w.add(msg(10), envelope(null));
    w.add(msg(100), envelope(null));
    w.add(msg(200), envelope(null));
    const r = MinuteWindows.restore(w.snapshot(), { ...ANY_TIME, allowedLatenessSeconds: 60 });
    expect(r.add(msg(201), envelope(null, 7))).toBe('counted');
    expect(r.takeClosed().map((x) => [x.WindowStart, x.ClosedAt])).toEqual([
      [0, 7],
      [60_000, 7],
    ]);
  });
});

describe('the analytics schema', () => {
  it('documents every field and knows every documented element type', () => {
    const schema = loadAnalyticsSchema() as unknown as { fields: { name: string; doc?: string }[] };
    for (const f of schema.fields) expect(f.doc ?? '').not.toBe('');
    const callbackSchemaText = JSON.stringify(loadSchema());
    const elementNames = [...callbackSchemaText.matchAll(/"name":"(TIM\w+Elem)"/g)].map(
      (m) => m[1],
    );
    expect([...new Set(elementNames)].sort()).toEqual([...KNOWN_ELEMENT_TYPES].sort());
  });
});
