import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadFixtures } from '../../../test/support/fixtures';
import { avroType } from '../../kafka/codec';
import type { AfterSendMsgCallback, Envelope } from '../../tencent/callback';
import { GroupMinuteWindows } from './group-window';
import { loadAnalyticsSchema } from './schema';
import { LEGACY_SNAPSHOT_FORMAT, SNAPSHOT_FORMAT } from './snapshot';
import { MinuteWindows, windowKey, type WindowRecord } from './window';

/** Event time that cannot poison the windows, and duplicates that cannot count twice. */

const T = 1764115200; // a minute boundary
const text = loadFixtures().find((f) => f.name === 'text.json')?.json as AfterSendMsgCallback;
const msg = (i: number, MsgTime: number): AfterSendMsgCallback => ({
  ...structuredClone(text),
  MsgKey: `key-${i}`,
  From_Account: `s${i % 5}`,
  MsgTime,
});
/** Received by the bridge at `t` (Unix seconds) plus a little. */
const received = (t: number, ms = 250): Envelope => ({
  SdkAppid: '1400000001',
  OptPlatform: 'iOS',
  ClientIP: null,
  ReceivedAt: t * 1000 + ms,
});
const outputType = avroType(loadAnalyticsSchema());
const options = { allowedLatenessSeconds: 30 };

/** 300 messages over 5 minutes, each received when sent, then every window closed. */
function currentTraffic(w: MinuteWindows, poison: (i: number) => void = () => undefined) {
  for (let i = 0; i < 300; i++) {
    poison(i);
    w.add(msg(i, T + i), received(T + i));
  }
  w.closeAll((T + 400) * 1000);
  return w.takeClosed();
}

const comparable = (records: WindowRecord[]) =>
  records.map(({ OutOfRangeEvents: _o, ClosedAt: _c, ...rest }) => rest);

describe('event time out of range', () => {
  it.each([
    ['years ahead (9999999999)', 9_999_999_999],
    ['beyond what a Date holds (9e12)', 9e12],
    ['not a safe integer (1e300)', 1e300],
    ['not whole (1.5 seconds after the epoch)', 1.5],
    ['negative', -60],
    ['more than a day behind its reception', T - 86_401],
  ])('a MsgTime %s leaves the windows of current traffic exact', (_name, poisoned) => {
    const clean = currentTraffic(new MinuteWindows(options));
    const w = new MinuteWindows(options);
    const outcomes: string[] = [];
    const records = currentTraffic(w, (i) => {
      if (i % 50 === 7) outcomes.push(w.add(msg(10_000 + i, poisoned), received(T + i)));
    });
    expect(outcomes).toEqual(Array(6).fill('out_of_range'));
    expect(comparable(records)).toEqual(comparable(clean));
    expect(records).toHaveLength(5);
    // each is reported once, in the next window to close
    expect(records.reduce((n, r) => n + r.OutOfRangeEvents, 0)).toBe(6);
    for (const r of records) {
      expect(() => windowKey(r)).not.toThrow();
      expect(outputType.isValid(r)).toBe(true);
    }
    expect(w.watermark).toBe(T + 299);
  });

  it('takes event times within the tolerances, at their edges', () => {
    const w = new MinuteWindows({ ...options, maxAheadSeconds: 60, maxBehindSeconds: 120 });
    expect(w.add(msg(1, T + 60), received(T, 999))).toBe('counted');
    expect(w.add(msg(2, T + 61), received(T, 0))).toBe('out_of_range');
    expect(w.add(msg(3, T - 120), received(T, 0))).toBe('dropped'); // in range, but late
    expect(w.add(msg(4, T - 121), received(T, 0))).toBe('out_of_range');
  });

  it('refuses negative tolerances', () => {
    expect(() => new MinuteWindows({ ...options, maxAheadSeconds: -1 })).toThrow(/maxAhead/);
  });
});

describe('duplicates by MsgKey', () => {
  it('counts a MsgKey once in its window, across a snapshot and restore too', () => {
    const w = new MinuteWindows(options);
    expect(w.add(msg(1, T + 1), received(T + 1))).toBe('counted');
    expect(w.add(msg(1, T + 1), received(T + 2))).toBe('duplicate');
    const restored = MinuteWindows.restore(w.snapshot(), options);
    expect(restored.add(msg(1, T + 1), received(T + 3))).toBe('duplicate');
    expect(restored.add(msg(2, T + 2), received(T + 3))).toBe('counted');
    restored.closeAll(0);
    expect(restored.takeClosed()).toEqual([expect.objectContaining({ Messages: 2 })]);
  });

  it('forgets the keys of a window once it closes (the state stays bounded)', () => {
    const w = new MinuteWindows(options);
    for (let i = 0; i < 1000; i++) w.add(msg(i, T + (i % 60)), received(T + 60));
    const full = w.snapshot().length;
    expect(full).toBeGreaterThan(1000 * 8);
    // the watermark passes the window's end + lateness: it closes and its keys go
    w.add(msg(5000, T + 120), received(T + 120));
    expect(w.takeClosed()).toEqual([expect.objectContaining({ Messages: 1000 })]);
    expect(w.snapshot().length).toBeLessThan(full - 1000 * 8);
    // a duplicate of a message of the closed window is dropped, never counted
    expect(w.add(msg(3, T + 3), received(T + 121))).toBe('dropped');
  });

  it('counts a group message once by GroupId, TopicId and MsgSeq', () => {
    const g = new GroupMinuteWindows(options);
    const m = {
      CallbackCommand: 'Group.CallbackAfterSendMsg',
      GroupId: '@TGS#1',
      Type: 'Public',
      From_Account: 'a',
      MsgSeq: 7,
      MsgTime: T,
      MsgBody: [],
    };
    expect(g.add(m, received(T))).toBe('counted');
    expect(g.add({ ...m }, received(T + 1))).toBe('duplicate');
    expect(g.add({ ...m, MsgSeq: 8 }, received(T + 1))).toBe('counted');
  });
});

describe('snapshots of the previous format', () => {
  const legacy = JSON.parse(
    readFileSync(join(__dirname, '../../../test/fixtures/legacy-analytics-snapshots.json'), 'utf8'),
  ) as Record<'c2c' | 'group', { snapshot: string; closed: Record<string, unknown>[] }>;

  it('are still read: an upgrade keeps the exactly-once state', () => {
    const c2cBytes = Buffer.from(legacy.c2c.snapshot, 'base64');
    expect(c2cBytes[0]).toBe(LEGACY_SNAPSHOT_FORMAT);
    const c2c = MinuteWindows.restore(c2cBytes, { allowedLatenessSeconds: 60 });
    expect(c2c.snapshot()[0]).toBe(SNAPSHOT_FORMAT);
    c2c.closeAll(1764115999000);
    expect(c2c.takeClosed()).toEqual(legacy.c2c.closed.map((r) => ({ ...r, OutOfRangeEvents: 0 })));

    const groupBytes = Buffer.from(legacy.group.snapshot, 'base64');
    const group = GroupMinuteWindows.restore(groupBytes, { allowedLatenessSeconds: 60 });
    group.closeAll(1764115999000);
    expect(group.takeClosed()).toEqual(
      legacy.group.closed.map((r) => ({ ...r, OutOfRangeEvents: 0 })),
    );
  });
});
