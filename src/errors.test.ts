import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REFUSAL_FAULT, refusalReasons } from './errors';

/** Every .ts file under src/, tests left out. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

test('each fault has its reasons, and no reason two faults', () => {
  expect(refusalReasons('ours')).toEqual([
    'internal',
    'kafka_refused',
    'kafka_unavailable',
    'not_ready',
    'publish_timeout',
    'shutting_down',
    'spool_full',
  ]);
  const all = [
    ...refusalReasons('ours'),
    ...refusalReasons('client'),
    ...refusalReasons('unrouted'),
  ];
  expect(all.sort()).toEqual(Object.keys(REFUSAL_FAULT).sort());
});

test("every refusal the code makes is answered 5xx when it is our fault, 4xx when the client's", () => {
  // `status: 503, reason: 'spool_full'` (one line or two) at every place a BridgeError is made
  const found: { reason: string; status: number; file: string }[] = [];
  for (const file of sources(__dirname)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/status: (\d{3}),\s*reason: '(\w+)'/g))
      found.push({ status: Number(m[1]), reason: m[2]!, file });
  }
  expect(found.length).toBeGreaterThanOrEqual(12);
  for (const f of found) {
    const fault = REFUSAL_FAULT[f.reason as keyof typeof REFUSAL_FAULT];
    expect({ ...f, fault }).toEqual({
      ...f,
      fault: f.status >= 500 ? 'ours' : expect.stringMatching(/^(client|unrouted)$/),
    });
  }
  // each of our-fault reasons is made somewhere (a reason nobody makes would be stale)
  for (const reason of refusalReasons('ours')) {
    expect({ reason, made: found.some((f) => f.reason === reason) }).toEqual({
      reason,
      made: true,
    });
  }
});
