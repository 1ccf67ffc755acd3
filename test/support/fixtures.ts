import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The shared realistic callback bodies (copied from shared/fixtures/callbacks), by file name. */
export const FIXTURES_DIR = join(__dirname, '..', 'fixtures', 'callbacks');

export interface Fixture {
  name: string;
  text: string;
  json: Record<string, unknown>;
}

export function loadFixtures(): Fixture[] {
  return readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((name) => {
      const text = readFileSync(join(FIXTURES_DIR, name), 'utf8');
      return { name, text, json: JSON.parse(text) as Record<string, unknown> };
    });
}

/** JSON.stringify with object keys sorted at every level: equal output means equal JSON values. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export const QUERY = {
  SdkAppid: '1400000001',
  CallbackCommand: 'C2C.CallbackAfterSendMsg',
  contenttype: 'json',
  ClientIP: '203.0.113.7',
  OptPlatform: 'iOS',
};
