import {
  STATE_PART_HEADER,
  STATE_SEQ_HEADER,
  formatStateMetadata,
  parseStateMetadata,
  stateRecords,
  stateRefOf,
} from './state-store';

describe('state records and the commit metadata that names them', () => {
  it('splits a snapshot into parts that each fit a record batch, keyed per part', () => {
    const state = Buffer.alloc(2500, 7);
    const records = stateRecords('state', 'group-a', 9, state, 1000);
    expect(records.map((r) => [r.key, r.value.length, r.headers?.[STATE_PART_HEADER]])).toEqual([
      ['group-a', 1000, '0/3'],
      ['group-a#1', 1000, '1/3'],
      ['group-a#2', 500, '2/3'],
    ]);
    expect(records.every((r) => r.partition === 0 && r.headers?.[STATE_SEQ_HEADER] === '9')).toBe(
      true,
    );
    expect(Buffer.concat(records.map((r) => r.value)).equals(state)).toBe(true);
    // an empty state is one (empty) part
    expect(stateRecords('state', 'g', 1, Buffer.alloc(0))).toHaveLength(1);
  });

  it('round-trips the location of the parts through the metadata', () => {
    const ref = stateRefOf(12, [
      { topic: 'state', partition: 0, baseOffset: '50000' },
      { topic: 'state', partition: 0, baseOffset: '50003' },
    ]);
    const metadata = formatStateMetadata(ref);
    expect(metadata).toBe('state-seq=12;state-at=0@50000-50003;state-parts=2');
    expect(parseStateMetadata(metadata)).toEqual({
      seq: 12,
      parts: 2,
      at: { partition: 0, from: 50000n, to: 50003n },
    });
  });

  it('reads the metadata of earlier versions (no location) and ignores what is not its own', () => {
    expect(parseStateMetadata('state-seq=7')).toEqual({ seq: 7, parts: 1 });
    for (const other of [null, undefined, '', 'something else', 'state-seq=x', 'state-seq=0']) {
      expect(parseStateMetadata(other)).toBeUndefined();
    }
  });
});
