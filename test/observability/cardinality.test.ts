import { platformLabel } from '../../src/observability/platform';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { scrape } from '../support/wait';

/**
 * OptPlatform is whatever the caller sends; as a label it must not grow the number of series.
 * 10,000 callbacks, each with a random Unicode OptPlatform (some of them the documented values
 * in random case), through the real bridge: the received counter keeps a small, fixed set.
 */
const CALLBACKS = 10000;
const CONCURRENCY = 50;
/** Tencent's documented platforms, their spellings folded, plus none and other. */
const ALLOWED = [
  'RESTAPI',
  'Web',
  'Android',
  'iOS',
  'Windows',
  'Mac',
  'iPad',
  'Unknown',
  'none',
  'other',
];

let bridge: TestBridge;
beforeAll(async () => {
  bridge = await startTestBridge('obs-cardinality');
});
afterAll(async () => {
  await bridge?.dispose();
});

/** A random string of 1 to 24 code points from all over Unicode (lone surrogates excluded). */
function randomUnicode(): string {
  const n = 1 + Math.floor(Math.random() * 24);
  let s = '';
  for (let i = 0; i < n; i++) {
    let cp: number;
    do cp = Math.floor(Math.random() * 0x110000);
    while (cp >= 0xd800 && cp <= 0xdfff);
    s += String.fromCodePoint(cp);
  }
  return s;
}
const randomCase = (s: string) =>
  [...s].map((c) => (Math.random() < 0.5 ? c.toLowerCase() : c.toUpperCase())).join('');
const DOCUMENTED = [
  'RESTAPI',
  'Web',
  'Android',
  'iOS',
  'IOS',
  'Windows',
  'Mac',
  'macOS',
  'iPad',
  'IPad',
];

test(`${CALLBACKS} callbacks with random OptPlatform strings make at most ${ALLOWED.length} series`, async () => {
  const body = loadFixtures().find((f) => f.name === 'text.json')!.text;
  const platforms = Array.from({ length: CALLBACKS }, (_, i) =>
    i % 10 === 0 ? randomCase(DOCUMENTED[(i / 10) % DOCUMENTED.length]!) : randomUnicode(),
  );
  const expected = new Set(platforms.map(platformLabel));
  let next = 0;
  let ok = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < platforms.length) {
        const OptPlatform = platforms[next++]!;
        const res = await postCallback(bridge.callbackUrl, body, { query: { OptPlatform } });
        await res.arrayBuffer();
        if (res.status === 200) ok++;
      }
    }),
  );
  expect(ok).toBe(CALLBACKS);

  const lines = (await scrape(bridge.adminUrl))
    .split('\n')
    .filter((l) => l.startsWith('tim_bridge_callbacks_received_total{'));
  const series = new Map(
    lines.map((l) => {
      const labels = Object.fromEntries(
        [...l.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
      );
      return [labels.platform!, { labels, value: Number(l.slice(l.lastIndexOf(' ') + 1)) }];
    }),
  );
  expect(series.size).toBe(lines.length); // one series per platform (one command)
  expect(series.size).toBeLessThanOrEqual(ALLOWED.length);
  expect([...series.keys()].every((p) => ALLOWED.includes(p))).toBe(true);
  expect(new Set(series.keys())).toEqual(expected);
  // every callback counted once, and the random strings all landed in "other"
  expect([...series.values()].reduce((n, s) => n + s.value, 0)).toBe(CALLBACKS);
  expect(series.get('other')!.value).toBeGreaterThanOrEqual(CALLBACKS * 0.85);
  for (const { labels } of series.values())
    expect(labels).toEqual({ command: 'C2C.CallbackAfterSendMsg', platform: labels.platform });
});
