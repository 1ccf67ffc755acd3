import type { Kafka } from 'kafkajs';
import { LagTracker, partitionLag } from './lag';

describe('partitionLag', () => {
  const ends = { low: 100n, high: 250n };

  it('is the end minus the committed offset', () => {
    expect(partitionLag(ends, 200n, { fromBeginning: true })).toBe(50);
    expect(partitionLag(ends, 250n, { fromBeginning: false, baseline: 0n })).toBe(0);
  });

  it('counts from the log start when the committed offset is below it (deleted by retention)', () => {
    expect(partitionLag(ends, 40n, { fromBeginning: true })).toBe(150);
  });

  it('with nothing committed: everything kept from the beginning, else since the baseline', () => {
    expect(partitionLag(ends, undefined, { fromBeginning: true })).toBe(150);
    expect(partitionLag(ends, undefined, { fromBeginning: false, baseline: 240n })).toBe(10);
  });

  it('is never negative', () => {
    expect(partitionLag(ends, 300n, { fromBeginning: true })).toBe(0);
    expect(partitionLag(ends, undefined, { fromBeginning: false, baseline: 400n })).toBe(0);
    expect(partitionLag({ low: 0n, high: 0n }, undefined, { fromBeginning: true })).toBe(0);
  });
});

/** An admin client over offsets the test sets; `fail` makes the next fetches throw. */
function fakeKafka() {
  const state = {
    ends: new Map<number, { low: number; high: number }>(),
    committed: new Map<number, number>(),
    fail: undefined as Error | undefined,
    connects: 0,
    disconnects: 0,
    fetches: 0,
  };
  const admin = {
    connect: () => {
      state.connects++;
      return Promise.resolve();
    },
    disconnect: () => {
      state.disconnects++;
      return Promise.resolve();
    },
    fetchTopicOffsets: () => {
      state.fetches++;
      if (state.fail) return Promise.reject(state.fail);
      return Promise.resolve(
        [...state.ends].map(([partition, e]) => ({
          partition,
          offset: String(e.high),
          high: String(e.high),
          low: String(e.low),
        })),
      );
    },
    fetchOffsets: () =>
      Promise.resolve([
        {
          topic: 't',
          partitions: [...state.ends.keys()].map((partition) => ({
            partition,
            offset: String(state.committed.get(partition) ?? -1),
            metadata: null,
          })),
        },
      ]),
  };
  return { state, kafka: { admin: () => admin } as unknown as Kafka };
}

function tracker(fromBeginning = true) {
  const { state, kafka } = fakeKafka();
  const reports: Map<number, number>[] = [];
  let waiter: { count: number; resolve: () => void } | undefined;
  const logs: { level: string; msg: string }[] = [];
  const log = (level: string) => (_fields: unknown, msg: string) => logs.push({ level, msg });
  const t = new LagTracker({
    kafka,
    groupId: 'g',
    topic: 't',
    fromBeginning,
    intervalMs: 3_600_000, // fetches only when the test asks
    report: (lag) => {
      reports.push(lag);
      if (waiter && reports.length >= waiter.count) waiter.resolve();
    },
    logger: { warn: log('warn'), debug: log('debug'), info: log('info') } as never,
  });
  /** A join; resolves once the reports that follow it are in (2: the join's and the fetch's). */
  const join = (partitions: number[], reportsAfter = 2) => {
    const done = new Promise<void>((resolve) => {
      waiter = { count: reports.length + reportsAfter, resolve };
    });
    t.assigned(partitions);
    return done;
  };
  const settle = () => new Promise((r) => setTimeout(r, 10));
  const last = () => Object.fromEntries(reports.at(-1) ?? []);
  return { t, state, reports, join, settle, last, logs };
}

describe('LagTracker', () => {
  it('reports nothing before the first join, then the lag of the assigned partitions only', async () => {
    const { t, state, reports, join, last, settle } = tracker();
    state.ends.set(0, { low: 0, high: 10 }).set(1, { low: 5, high: 8 }).set(2, { low: 0, high: 4 });
    state.committed.set(0, 7);
    t.start();
    await settle();
    expect(reports).toEqual([]);

    await join([0, 1]);
    expect(last()).toEqual({ 0: 3, 1: 3 }); // 1: nothing committed, from the log start
    expect(state.connects).toBe(1);
    await t.close();
  });

  it('drops revoked partitions at the join, before any fetch, and keeps the last values of the others', async () => {
    const { t, state, join, last, settle } = tracker();
    state.ends.set(0, { low: 0, high: 10 }).set(1, { low: 0, high: 20 });
    await join([0, 1]);
    expect(last()).toEqual({ 0: 10, 1: 20 });

    state.fail = new Error('broker away');
    await join([1], 1);
    expect(last()).toEqual({ 1: 20 }); // at once, without asking Kafka
    await settle();
    expect(last()).toEqual({ 1: 20 }); // the failed fetch invents nothing, drops nothing
    await t.close();
  });

  it('grows while nothing is committed, falls when the group commits', async () => {
    const { t, state, join, last } = tracker();
    state.ends.set(0, { low: 0, high: 5 });
    await join([0]);
    expect(last()).toEqual({ 0: 5 });
    state.ends.set(0, { low: 0, high: 50 });
    await join([0]); // a rejoin; the timer would do the same
    expect(last()).toEqual({ 0: 50 });
    state.committed.set(0, 50);
    await join([0]);
    expect(last()).toEqual({ 0: 0 });
    await t.close();
  });

  it('from the end, counts an uncommitted partition from where it was first seen', async () => {
    const { t, state, join, last } = tracker(false);
    state.ends.set(0, { low: 0, high: 1000 });
    await join([0]);
    expect(last()).toEqual({ 0: 0 }); // a new group from the end has nothing behind it
    state.ends.set(0, { low: 0, high: 1030 });
    await join([0]);
    expect(last()).toEqual({ 0: 30 });
    // revoked, then assigned again: read from the end again, so a new baseline
    await join([], 1);
    expect(last()).toEqual({});
    await join([0]);
    expect(last()).toEqual({ 0: 0 });
    state.committed.set(0, 1010);
    await join([0]);
    expect(last()).toEqual({ 0: 20 });
    await t.close();
  });

  it('a failing fetch keeps the last values, warns once, then debug, then info when back', async () => {
    const { t, state, reports, join, logs, settle } = tracker();
    state.ends.set(0, { low: 0, high: 10 });
    await join([0]);
    state.fail = new Error('broker away');
    for (let i = 0; i < 3; i++) {
      await join([0], 1);
      await settle();
    }
    expect(state.fetches).toBe(4);
    expect(reports.slice(-3).map((r) => Object.fromEntries(r))).toEqual([
      { 0: 10 },
      { 0: 10 },
      { 0: 10 },
    ]);
    expect(logs.map((l) => l.level)).toEqual(['warn', 'debug', 'debug']);
    state.fail = undefined;
    await join([0]);
    expect(logs.map((l) => l.level)).toEqual(['warn', 'debug', 'debug', 'info']);
    await t.close();
  });

  it('stop reports no partition and nothing after; close disconnects the one admin client', async () => {
    const { t, state, reports, join, last, settle } = tracker();
    state.ends.set(0, { low: 0, high: 10 });
    await join([0]);
    void join([0], 1); // a fetch in flight when it stops
    t.stop();
    expect(last()).toEqual({});
    const count = reports.length;
    await settle();
    t.assigned([0]);
    await settle();
    expect(reports.length).toBe(count);
    await t.close();
    await t.close();
    expect(state.connects).toBe(1);
    expect(state.disconnects).toBe(1);
  });

  it('asks Kafka on its timer', async () => {
    const { state, kafka } = fakeKafka();
    state.ends.set(0, { low: 0, high: 1 });
    const reports: Map<number, number>[] = [];
    const t = new LagTracker({
      kafka,
      groupId: 'g',
      topic: 't',
      fromBeginning: true,
      intervalMs: 20,
      report: (lag) => reports.push(lag),
    });
    t.start();
    t.assigned([0]);
    const deadline = Date.now() + 5000;
    while (state.fetches < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(state.fetches).toBeGreaterThanOrEqual(4);
    expect(Object.fromEntries(reports.at(-1) ?? [])).toEqual({ 0: 1 });
    await t.close();
  });
});
