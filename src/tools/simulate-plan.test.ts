import { execFileSync } from 'node:child_process';
import { CATALOGUE } from '../catalogue/catalogue';
import { SignatureError, verifySignature } from '../tencent/signature';
import { bodyOf, callbackTemplates, msgKeyOf, timedBodyOf } from './callback-mix';
import { parsePlatforms, parseSimulateArgs, type SimulateOptions } from './simulate-args';
import {
  createSigner,
  curlCommand,
  DUPLICATE_WINDOW,
  RequestPlan,
  shellQuote,
  urlPrefix,
  type PlanOptions,
  type SimRequest,
} from './simulate-plan';
import { dryRun } from './simulate';

const NOW = Date.UTC(2026, 11, 7, 12, 0, 0, 250);

function plan(overrides: Partial<PlanOptions> = {}): RequestPlan {
  return new RequestPlan({
    commands: ['C2C.CallbackAfterSendMsg'],
    sdkAppId: '1400000001',
    duplicates: 0,
    platforms: parsePlatforms('iOS=50,Android=40,Web=10'),
    recipients: 5000,
    seed: 7,
    runId: 'run1',
    ...overrides,
  });
}

const take = (p: RequestPlan, n: number): SimRequest[] =>
  Array.from({ length: n }, () => p.take(NOW));

const queryOf = (r: SimRequest): Record<string, string> =>
  Object.fromEntries(new URLSearchParams(r.query));

describe('the C2C.CallbackAfterSendMsg mix, for a seed', () => {
  const N = 20000;
  const requests = take(plan({ duplicates: 0.1 }), N);
  const fresh = requests.filter((r) => !r.duplicate);

  test('duplicates are the asked share, each the exact body and query of an earlier request', () => {
    const duplicates = requests.filter((r) => r.duplicate);
    expect(duplicates.length / N).toBeGreaterThan(0.09);
    expect(duplicates.length / N).toBeLessThan(0.11);
    expect(requests[0]?.duplicate).toBe(false);
    for (const d of duplicates) {
      const original = requests[d.original] as SimRequest;
      expect(original.duplicate).toBe(false);
      expect(d.original).toBeLessThan(d.index);
      expect(d.index - d.original).toBeLessThanOrEqual(DUPLICATE_WINDOW * 5);
      expect([d.body, d.query]).toEqual([original.body, original.query]);
    }
  });

  test('every fresh request has its own MsgKey <runId>-<index> and MsgTime now', () => {
    const keys = fresh.map((r) => (JSON.parse(r.body) as { MsgKey: string }).MsgKey);
    expect(keys).toEqual(fresh.map((r) => msgKeyOf('run1', r.index)));
    expect(new Set(keys).size).toBe(fresh.length);
    for (const r of fresh.slice(0, 500)) {
      const body = JSON.parse(r.body) as { MsgTime: number; CallbackCommand: string };
      expect(body.MsgTime).toBe(Math.floor(NOW / 1000));
      expect(body.CallbackCommand).toBe('C2C.CallbackAfterSendMsg');
    }
  });

  test('OptPlatform follows the weights; the query is Tencent’s, in its order', () => {
    const share = (p: string) => fresh.filter((r) => r.platform === p).length / fresh.length;
    expect(share('iOS')).toBeCloseTo(0.5, 1);
    expect(share('Android')).toBeCloseTo(0.4, 1);
    expect(share('Web')).toBeCloseTo(0.1, 1);
    expect(Math.abs(share('Web') - 0.1)).toBeLessThan(0.015);
    const r = fresh[0] as SimRequest;
    expect(Object.keys(queryOf(r))).toEqual([
      'SdkAppid',
      'CallbackCommand',
      'contenttype',
      'ClientIP',
      'OptPlatform',
    ]);
    expect(queryOf(r)).toMatchObject({
      SdkAppid: '1400000001',
      CallbackCommand: 'C2C.CallbackAfterSendMsg',
      contenttype: 'json',
      OptPlatform: r.platform,
    });
    expect(queryOf(r).ClientIP).toMatch(/^203\.0\.113\.\d+$/);
  });

  test('the bodies are the benchmark mix: every element type, Unicode, relays, failed sends', () => {
    const has = (s: string) => fresh.filter((r) => r.body.includes(s)).length / fresh.length;
    for (const type of [
      'TIMTextElem',
      'TIMLocationElem',
      'TIMFaceElem',
      'TIMCustomElem',
      'TIMSoundElem',
      'TIMImageElem',
      'TIMFileElem',
      'TIMVideoFileElem',
      'TIMRelayElem',
    ]) {
      expect({ type, share: has(`"MsgType":"${type}"`) > 0 }).toEqual({ type, share: true });
    }
    // relay 3 %, failed sends 1 % of the mix (bench/mix.ts's MIX)
    expect(Math.abs(has('"TIMRelayElem"') - 0.03)).toBeLessThan(0.01);
    const failed =
      fresh.filter((r) => (JSON.parse(r.body) as { SendMsgResult: number }).SendMsgResult !== 0)
        .length / fresh.length;
    expect(Math.abs(failed - 0.01)).toBeLessThan(0.005);
    expect(fresh.some((r) => /[\u4e00-\u9fff]/.test(r.body))).toBe(true);
  });

  test('the same seed makes the same requests; another seed others', () => {
    const again = take(plan({ duplicates: 0.1, runId: 'run1' }), 200);
    expect(again).toEqual(requests.slice(0, 200));
    const other = take(plan({ duplicates: 0.1, seed: 8 }), 200);
    expect(other.map((r) => r.body)).not.toEqual(requests.slice(0, 200).map((r) => r.body));
  });

  test('--recipients bounds the accounts', () => {
    const two = take(plan({ recipients: 2 }), 300);
    const accounts = new Set(
      two.flatMap((r) => {
        const b = JSON.parse(r.body) as { To_Account: string; From_Account: string };
        return [b.To_Account, b.From_Account];
      }),
    );
    expect([...accounts].sort()).toEqual(['user-0', 'user-1']);
  });
});

test('the shared generator: timed bodies are the benchmark bodies with MsgTime replaced', () => {
  const templates = callbackTemplates(50, 100, 7);
  for (const [i, t] of templates.entries()) {
    const plain = JSON.parse(bodyOf(templates, 'r', i)) as Record<string, unknown>;
    const timed = JSON.parse(timedBodyOf(t, msgKeyOf('r', i), 1234567890)) as Record<
      string,
      unknown
    >;
    expect(timed).toEqual({ ...plain, MsgTime: 1234567890 });
    expect(Object.keys(timed)).toEqual(Object.keys(plain));
  }
});

describe('every command of the catalogue (--command all)', () => {
  const all = CATALOGUE.map((e) => e.command);
  const requests = take(plan({ commands: all, duplicates: 0 }), 3000);

  test('each is sent, in turn, its fixtures as they are but for a unique MsgKey', () => {
    expect(requests.slice(0, all.length).map((r) => r.command)).toEqual(all);
    for (const r of requests) {
      const body = JSON.parse(r.body) as Record<string, unknown>;
      expect(queryOf(r).CallbackCommand).toBe(r.command);
      if (r.command !== 'C2C.CallbackAfterSendMsg' && typeof body.MsgKey === 'string') {
        if (r.body.indexOf('"MsgKey"') === r.body.lastIndexOf('"MsgKey"')) {
          expect(body.MsgKey).toBe(msgKeyOf('run1', r.index));
        }
      }
    }
  });

  test("a fixture's sidecar query wins; batches count one record per event; before is known", () => {
    const push = requests.filter((r) => r.command === 'Push.OfflinePush');
    expect(push.length).toBeGreaterThan(0);
    for (const r of push) {
      expect(queryOf(r)).not.toHaveProperty('ClientIP');
      expect(queryOf(r)).not.toHaveProperty('OptPlatform');
      expect(r.platform).toBeUndefined();
      expect(r.records).toBe((JSON.parse(r.body) as { Events: unknown[] }).Events.length);
    }
    expect(push.some((r) => r.records === 3)).toBe(true);
    const state = requests.filter(
      (r) => r.command === 'State.StateChange' && r.body.includes('KickedDevice'),
    );
    expect(state.some((r) => queryOf(r).OptPlatform === 'IOS')).toBe(true);
    const before = new Set(requests.filter((r) => r.before).map((r) => r.command));
    expect(before).toEqual(
      new Set(CATALOGUE.filter((e) => e.kind === 'before').map((e) => e.command)),
    );
  });
});

describe('signing', () => {
  test('the URL carries RequestTime and a Sign that the bridge’s check accepts', () => {
    const suffix = createSigner('secret-token')(NOW);
    const q = new URLSearchParams(suffix.slice(1));
    const input = {
      sign: q.get('Sign') ?? undefined,
      requestTime: q.get('RequestTime') ?? undefined,
    };
    expect(input.requestTime).toBe(String(Math.floor(NOW / 1000)));
    expect(() =>
      verifySignature(input, { tokens: ['secret-token'], windowSeconds: 60 }, NOW),
    ).not.toThrow();
    expect(() => verifySignature(input, { tokens: ['other'], windowSeconds: 60 }, NOW)).toThrow(
      SignatureError,
    );
    // a new second, a new signature
    expect(createSigner('secret-token')(NOW + 1000)).not.toBe(suffix);
  });

  test('without a token, nothing is signed', () => {
    expect(createSigner(undefined)(NOW)).toBe('');
  });

  test('the query goes after the URL’s own', () => {
    expect(urlPrefix('http://127.0.0.1:8080/callback')).toBe('http://127.0.0.1:8080/callback?');
    expect(urlPrefix('https://h.example/cb?tenant=a#x')).toBe('https://h.example/cb?tenant=a&');
  });
});

describe('--dry-run: one request as curl', () => {
  /** The words bash makes of a command line (curl replaced by a function printing them). */
  const words = (commandLine: string): string[] =>
    execFileSync('bash', ['-c', `curl() { printf '%s\\0' "$@"; }\n${commandLine}`])
      .toString('utf8')
      .split('\0')
      .slice(0, -1);

  test.each([
    "it's",
    "'",
    '\'\'"$(touch /tmp/x)" `id` \\ $HOME !',
    '好的 👩‍👩‍👧 مرحبا\u200f',
    'two\nlines',
  ])('shellQuote(%j) is one word, byte for byte', (text) => {
    expect(words(`curl ${shellQuote(text)}`)).toEqual([text]);
  });

  test('the signed URL and the exact body reach curl; the signature verifies', () => {
    const parsed = parseSimulateArgs([
      '--token',
      "it's-a-token",
      '--command',
      'Group.CallbackAfterSendMsg,Push.OfflinePush',
      '--seed',
      '3',
    ]);
    const options = (parsed as { options: SimulateOptions }).options;
    const printed = dryRun(options, 'dry');
    const args = words(printed);
    expect(args.slice(0, 3)).toEqual(['-sS', '-X', 'POST']);
    const url = new URL(args[3] as string);
    expect(args.slice(4)).toEqual([
      '-H',
      'Content-Type: application/json',
      '--data-binary',
      take(plan({ ...options, runId: 'dry' }), 1)[0]?.body,
    ]);
    const now = Date.now();
    expect(() =>
      verifySignature(
        {
          sign: url.searchParams.get('Sign') ?? undefined,
          requestTime: url.searchParams.get('RequestTime') ?? undefined,
        },
        { tokens: ["it's-a-token"], windowSeconds: 60 },
        now,
      ),
    ).not.toThrow();
    expect(url.origin + url.pathname).toBe('http://127.0.0.1:8080/callback');
  });

  test('curlCommand is three lines a shell joins', () => {
    expect(curlCommand('http://h/c?a=1&b=2', '{"x":"y"}')).toBe(
      "curl -sS -X POST 'http://h/c?a=1&b=2' \\\n  -H 'Content-Type: application/json' \\\n  --data-binary '{\"x\":\"y\"}'",
    );
  });
});
