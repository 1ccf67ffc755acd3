import { RecentKeys } from './dedupe';

describe('RecentKeys', () => {
  it('remembers the last max keys and forgets the oldest first', () => {
    const keys = new RecentKeys(3);
    for (const k of ['a', 'b', 'c', 'd']) keys.add(k);
    expect(['a', 'b', 'c', 'd'].map((k) => keys.has(k))).toEqual([false, true, true, true]);
    expect(keys.size).toBe(3);
  });

  it('counts a key seen again as new, so it is kept longest', () => {
    const keys = new RecentKeys(2);
    keys.add('a');
    keys.add('b');
    keys.add('a');
    keys.add('c');
    expect(keys.has('a')).toBe(true);
    expect(keys.has('b')).toBe(false);
  });

  it('remembers nothing when max is 0', () => {
    const keys = new RecentKeys(0);
    keys.add('a');
    expect(keys.has('a')).toBe(false);
  });
});
