import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isRawJson } from '../../src/tencent/parse';

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

/**
 * JSON.stringify with object keys sorted at every level: equal output means equal JSON values.
 * Raw JSON (an exact big number, as parseJsonExact keeps it) is written as its digits.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && !isRawJson(v)
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

/** Bodies of every catalogued command: test/fixtures/commands/<Command>/<case>.json. */
export const COMMAND_FIXTURES_DIR = join(__dirname, '..', 'fixtures', 'commands');

export interface CommandFixture extends Fixture {
  command: string;
  /** The query Tencent sends with it (a sidecar `<case>.query.json` overrides; null: absent). */
  query: Record<string, string | undefined>;
}

export function loadCommandFixtures(): CommandFixture[] {
  const out: CommandFixture[] = [];
  const commands = readdirSync(COMMAND_FIXTURES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  for (const command of commands) {
    const dir = join(COMMAND_FIXTURES_DIR, command);
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.json') || name.endsWith('.query.json')) continue;
      const text = readFileSync(join(dir, name), 'utf8');
      const query: Record<string, string | undefined> = { ...QUERY, CallbackCommand: command };
      const sidecar = join(dir, name.replace(/\.json$/, '.query.json'));
      try {
        const overrides = JSON.parse(readFileSync(sidecar, 'utf8')) as Record<
          string,
          string | null
        >;
        for (const [k, v] of Object.entries(overrides)) query[k] = v ?? undefined;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      out.push({ command, name, text, json: JSON.parse(text) as Record<string, unknown>, query });
    }
  }
  return out;
}
