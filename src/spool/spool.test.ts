import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BridgeError } from '../errors';
import { Spool } from './spool';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spool-test-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const record = (i: number, bytes = 10) => ({
  topic: 't',
  key: `k${i % 3}`,
  value: Buffer.alloc(bytes, i),
  headers: { n: String(i) },
});

describe('the spool', () => {
  test('is non-empty from the first append on, and gives records back oldest first', async () => {
    const spool = new Spool({ dir, maxRecords: 100, maxBytes: 10000 });
    expect(spool.isEmpty).toBe(true);
    const writes = [0, 1, 2].map((i) => spool.append(record(i)));
    expect(spool.isEmpty).toBe(false); // before the commit: later records must queue behind
    await Promise.all(writes);
    expect(spool.records).toBe(3);
    expect(spool.bytes).toBe(30);
    const oldest = spool.oldest(2);
    expect(oldest.map((r) => r.headers.n)).toEqual(['0', '1']);
    expect(oldest[0]).toMatchObject({ topic: 't', key: 'k0', value: Buffer.alloc(10, 0) });
    spool.remove(oldest);
    expect(spool.records).toBe(1);
    expect(spool.oldest(10).map((r) => r.headers.n)).toEqual(['2']);
    spool.close();
  });

  test('one owner at a time: a second opener of the same directory is refused until the first closes', () => {
    const first = new Spool({ dir, maxRecords: 100, maxBytes: 10000 });
    expect(() => new Spool({ dir, maxRecords: 100, maxBytes: 10000 })).toThrow(
      /is in use by another process/,
    );
    first.close();
    new Spool({ dir, maxRecords: 100, maxBytes: 10000 }).close();
  });

  test('after close, an append is refused with 503 (never a crash)', async () => {
    const spool = new Spool({ dir, maxRecords: 100, maxBytes: 10000 });
    const pending = spool.append(record(1)); // committed by close()
    spool.close();
    await expect(pending).resolves.toBeUndefined();
    await expect(spool.append(record(2))).rejects.toMatchObject({
      status: 503,
      reason: 'shutting_down',
    });
  });

  test('keeps committed records across a reopen (a restart)', async () => {
    const first = new Spool({ dir, maxRecords: 100, maxBytes: 10000 });
    await Promise.all([first.append(record(1)), first.append({ ...record(2), key: null })]);
    first.close();
    const second = new Spool({ dir, maxRecords: 100, maxBytes: 10000 });
    expect(second.records).toBe(2);
    expect(second.oldestAgeMs()).toBeGreaterThanOrEqual(0);
    expect(second.oldest(10).map((r) => [r.key, r.headers.n])).toEqual([
      ['k1', '1'],
      [null, '2'],
    ]);
    second.close();
  });

  test('refuses with 503 spool_full past its record or byte limit', async () => {
    const byCount = new Spool({ dir, maxRecords: 2, maxBytes: 10000 });
    await Promise.all([byCount.append(record(1)), byCount.append(record(2))]);
    expect(byCount.isFull).toBe(true);
    await expect(byCount.append(record(3))).rejects.toMatchObject({
      status: 503,
      reason: 'spool_full',
    });
    byCount.remove(byCount.oldest(1));
    expect(byCount.isFull).toBe(false);
    await expect(byCount.append(record(3))).resolves.toBeUndefined();
    byCount.close();

    const bytesDir = mkdtempSync(join(tmpdir(), 'spool-test-'));
    const byBytes = new Spool({ dir: bytesDir, maxRecords: 100, maxBytes: 25 });
    await byBytes.append(record(1, 20));
    const err = await byBytes.append(record(2, 10)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BridgeError);
    byBytes.close();
    rmSync(bytesDir, { recursive: true, force: true });
  });

  test('tells when it committed, for the drainer', async () => {
    const spool = new Spool({ dir, maxRecords: 100, maxBytes: 10000 });
    const seen: number[] = [];
    spool.onAppend(() => seen.push(spool.records));
    await spool.append(record(1));
    await Promise.all([spool.append(record(2)), spool.append(record(3))]);
    expect(seen).toEqual([1, 3]); // one commit (one fsync) per event-loop turn
    spool.close();
  });
});
