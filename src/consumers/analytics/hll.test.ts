import fc from 'fast-check';
import { DistinctCounter, MAX_PRECISION, MIN_PRECISION } from './hll';

const fill = (counter: DistinctCounter, from: number, to: number, prefix = 'user_') => {
  for (let i = from; i < to; i++) counter.add(`${prefix}${i}`);
  return counter;
};

describe('DistinctCounter', () => {
  it('counts exactly up to 2^precision / 8 distinct values, duplicates ignored', () => {
    const c = new DistinctCounter(12);
    expect(c.count()).toBe(0);
    fill(c, 0, 512);
    fill(c, 0, 512);
    expect(c.count()).toBe(512);
    expect(c.exact).toBe(true);
    c.add('user_512');
    expect(c.exact).toBe(false);
    expect(Math.abs(c.count() - 513)).toBeLessThan(513 * 0.05);
  });

  it('estimates 100k distinct values within 3 standard errors (1.6 % each) at precision 12', () => {
    const c = fill(new DistinctCounter(12), 0, 100_000);
    fill(c, 0, 50_000); // repeats change nothing
    const error = Math.abs(c.count() / 100_000 - 1);
    expect(error).toBeLessThan(3 * (1.04 / Math.sqrt(4096)));
  });

  it('stays within 3 standard errors across cardinalities (no bias at the switch)', () => {
    const c = new DistinctCounter(10); // standard error 3.25 %
    let seen = 0;
    for (const n of [200, 1_000, 2_560, 5_000, 20_000]) {
      fill(c, seen, n, 'acct-');
      seen = n;
      expect(Math.abs(c.count() / n - 1)).toBeLessThan(3 * (1.04 / Math.sqrt(1024)));
    }
  });

  it('merges into the counter of the union, sparse or dense', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 700 }),
        fc.integer({ min: 0, max: 700 }),
        fc.integer({ min: 0, max: 700 }),
        (a, b, overlap) => {
          const left = fill(new DistinctCounter(12), 0, a);
          const right = fill(new DistinctCounter(12), a - Math.min(overlap, a), a + b);
          const all = fill(new DistinctCounter(12), 0, a + b);
          left.merge(right);
          expect(left.toState()).toEqual(all.toState());
          expect(left.count()).toBe(all.count());
        },
      ),
      { numRuns: 30 },
    );
    expect(() => new DistinctCounter(12).merge(new DistinctCounter(10))).toThrow(/precision/);
  });

  it('restores exactly from its state, sparse and dense', () => {
    for (const n of [0, 3, 512, 513, 10_000]) {
      const c = fill(new DistinctCounter(12), 0, n);
      const state = c.toState();
      expect(state.Registers === null).toBe(n <= 512);
      const r = DistinctCounter.fromState(state);
      expect(r.toState()).toEqual(state);
      expect(r.count()).toBe(c.count());
      // and keeps counting the same way
      fill(c, n, n + 600);
      fill(r, n, n + 600);
      expect(r.toState()).toEqual(c.toState());
    }
    // the sparse state is the sorted hashes: the order of adds does not matter
    const forward = fill(new DistinctCounter(12), 0, 100).toState();
    const backward = new DistinctCounter(12);
    for (let i = 99; i >= 0; i--) backward.add(`user_${i}`);
    expect(backward.toState()).toEqual(forward);
  });

  it('rejects a bad precision or a corrupt state with a message saying what is wrong', () => {
    expect(() => new DistinctCounter(MIN_PRECISION - 1)).toThrow(/precision must be an integer/);
    expect(() => new DistinctCounter(MAX_PRECISION + 1)).toThrow(/precision/);
    const registers = Buffer.alloc(4096);
    expect(() =>
      DistinctCounter.fromState({
        Precision: 12,
        Hashes: Buffer.alloc(0),
        Registers: registers.subarray(1),
      }),
    ).toThrow(/4095 registers \(expected 4096\)/);
    registers[7] = 60;
    expect(() =>
      DistinctCounter.fromState({ Precision: 12, Hashes: Buffer.alloc(0), Registers: registers }),
    ).toThrow(/register exceeds 53/);
    expect(() =>
      DistinctCounter.fromState({ Precision: 12, Hashes: Buffer.alloc(7), Registers: null }),
    ).toThrow(/7 hash bytes/);
  });
});
