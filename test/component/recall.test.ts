import { Api } from 'tls-sig-api-v2/TLSSigAPIv2.js';
import { RecallClient, type RecallClientOptions } from '../../src/consumers/moderation/recall';
import {
  BAD_BODY,
  BAD_REQUEST,
  BODY_NOT_JSON,
  startFakeTencent,
  USERSIG_EXPIRED,
  USERSIG_INVALID,
  USERSIG_MISMATCH,
  type FakeTencent,
} from '../support/fake-tencent';

/**
 * RecallClient against a local stand-in for Tencent's admin_msgwithdraw, with real HTTP and a
 * real UserSig from tls-sig-api-v2, verified by the stand-in on its own.
 */

const APP = { sdkAppId: 1400000001, adminIdentifier: 'administrator', secretKey: 'k3y-0f-the-app' };

let fake: FakeTencent;
beforeEach(async () => {
  fake = await startFakeTencent(APP);
});
afterEach(async () => {
  await fake.close();
});

function client(extra: Partial<RecallClientOptions> = {}): RecallClient {
  return new RecallClient({
    baseUrl: fake.baseUrl,
    ...APP,
    backoffBaseMs: 10,
    timeoutMs: 1000,
    ...extra,
  });
}

const msg = (MsgKey: string) => ({ From_Account: 'spam_bot_17', To_Account: 'alice', MsgKey });

describe('RecallClient against the fake Tencent REST API', () => {
  it('sends a request that passes every check: path, query, body and a verifying UserSig', async () => {
    expect(await client().recall(msg('1_2_3'))).toEqual({ outcome: 'recalled', attempts: 1 });
    expect(fake.calls).toHaveLength(1);
    const [call] = fake.calls;
    expect(call?.checkFailure).toBeNull();
    expect(call?.method).toBe('POST');
    expect(call?.path).toBe('/v4/openim/admin_msgwithdraw');
    expect(Object.keys(call?.query ?? {}).sort()).toEqual(
      ['contenttype', 'identifier', 'random', 'sdkappid', 'usersig'].sort(),
    );
    expect(call?.body).toEqual(msg('1_2_3'));
    expect(call?.answer).toEqual({ httpStatus: 200, errorCode: 0 });
  });

  it('is refused by the fake when the UserSig is signed with another key (the check is real)', async () => {
    const result = await client({ secretKey: 'not-the-key' }).recall(msg('1_2_3'));
    expect(result).toMatchObject({ outcome: 'failed', errorCode: USERSIG_MISMATCH, attempts: 1 });
    expect(fake.calls[0]?.checkFailure).toMatch(/TLS.sig does not verify/);
  });

  it('is refused by the fake when the identifier is not the admin, or the UserSig expired', async () => {
    const other = await client({ adminIdentifier: 'someone' }).recall(msg('1_2_3'));
    expect(other).toMatchObject({ outcome: 'failed', errorCode: BAD_REQUEST });
    const later = await startFakeTencent({ ...APP, now: () => Date.now() + 120_000 });
    try {
      const c = new RecallClient({ baseUrl: later.baseUrl, ...APP, userSigTtlSeconds: 60 });
      expect(await c.recall(msg('1_2_3'))).toMatchObject({
        outcome: 'failed',
        errorCode: USERSIG_EXPIRED,
      });
    } finally {
      await later.close();
    }
  });

  it('retries 91000 with backoff, then succeeds', async () => {
    fake.script('k-91000', [91000, 91000, 0]);
    expect(await client({ maxAttempts: 4 }).recall(msg('k-91000'))).toEqual({
      outcome: 'recalled',
      attempts: 3,
    });
    const calls = fake.callsFor('k-91000');
    expect(calls.map((c) => c.answer.errorCode)).toEqual([91000, 91000, 0]);
    expect(calls.every((c) => c.checkFailure === null)).toBe(true);
    // backoff: about 10 ms, then about 20 ms (equal jitter: at least half of each)
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(5);
    expect((calls[2]?.at ?? 0) - (calls[1]?.at ?? 0)).toBeGreaterThanOrEqual(10);
  });

  it('gives up on 91000 after maxAttempts', async () => {
    fake.script('k-stuck', [91000]);
    expect(await client({ maxAttempts: 3 }).recall(msg('k-stuck'))).toMatchObject({
      outcome: 'failed',
      errorCode: 91000,
      attempts: 3,
    });
    expect(fake.callsFor('k-stuck')).toHaveLength(3);
  });

  it('treats 20023 (already recalled) as a success', async () => {
    fake.script('k-20023', [20023]);
    expect(await client().recall(msg('k-20023'))).toMatchObject({
      outcome: 'already_recalled',
      errorCode: 20023,
      attempts: 1,
    });
    expect(fake.callsFor('k-20023')).toHaveLength(1);
  });

  it('fails at once, without retry, on another ErrorCode', async () => {
    fake.script('k-20022', [20022, 0]);
    expect(await client().recall(msg('k-20022'))).toMatchObject({
      outcome: 'failed',
      errorCode: 20022,
      errorInfo: 'scripted error 20022',
      attempts: 1,
    });
    expect(fake.callsFor('k-20022')).toHaveLength(1);
  });

  it('retries an HTTP 502 and a call that times out', async () => {
    fake.script('k-502', [{ httpStatus: 502 }, 0]);
    expect(await client().recall(msg('k-502'))).toEqual({ outcome: 'recalled', attempts: 2 });
    fake.script('k-slow', [{ delayMs: 2000, code: 0 }, 0]);
    expect(await client({ timeoutMs: 200 }).recall(msg('k-slow'))).toEqual({
      outcome: 'recalled',
      attempts: 2,
    });
    expect(fake.callsFor('k-slow')).toHaveLength(2);
  });

  it('holds the rate limit across 60 concurrent recalls', async () => {
    const rate = 20;
    const burst = 1;
    const c = client({ ratePerSecond: rate, burst });
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => c.recall(msg(`rate-${i}`))),
    );
    const elapsed = performance.now() - started;
    expect(results.every((r) => r.outcome === 'recalled' && r.attempts === 1)).toBe(true);
    const arrivals = fake.calls.map((call) => call.at).sort((a, b) => a - b);
    expect(arrivals).toHaveLength(60);
    // allowance: the burst, plus one call for timer and network jitter at a window's edges
    const allowance = burst + 1;
    let busiest = 0;
    for (let i = 0; i < arrivals.length; i++) {
      const start = arrivals[i] as number;
      const inWindow = arrivals.filter((t) => t >= start && t < start + 1000).length;
      busiest = Math.max(busiest, inWindow);
    }
    expect(busiest).toBeLessThanOrEqual(rate + allowance);
    // 60 calls at 20/s, the first free: at least 59 intervals of 50 ms
    expect(elapsed).toBeGreaterThanOrEqual(2900);
    expect((arrivals[59] as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(2800);
  });

  it.each<[string, (q: URLSearchParams) => void, string, string, number, RegExp]>([
    ['a GET', () => undefined, 'GET', '', BAD_REQUEST, /method GET/],
    ['another path', () => undefined, 'POST', '/v4/openim/sendmsg', BAD_REQUEST, /path/],
    ['no random', (q) => q.delete('random'), 'POST', '', BAD_REQUEST, /random appears 0/],
    [
      'a random above 2^32-1',
      (q) => q.set('random', '4294967296'),
      'POST',
      '',
      BAD_REQUEST,
      /random/,
    ],
    ['contenttype xml', (q) => q.set('contenttype', 'xml'), 'POST', '', BAD_REQUEST, /contenttype/],
    ['an extra parameter', (q) => q.set('debug', '1'), 'POST', '', BAD_REQUEST, /unexpected/],
    [
      'another sdkappid',
      (q) => q.set('sdkappid', '1400000002'),
      'POST',
      '',
      BAD_REQUEST,
      /sdkappid/,
    ],
    [
      'a mangled usersig',
      (q) => q.set('usersig', 'abc'),
      'POST',
      '',
      USERSIG_INVALID,
      /does not decode/,
    ],
    ['a body that is not JSON', () => undefined, 'POST', 'not json', BODY_NOT_JSON, /not JSON/],
    ['a body without MsgKey', () => undefined, 'POST', 'no key', BAD_BODY, /body fields/],
  ])('the fake refuses %s, Tencent-style', async (_name, mutate, method, variant, code, reason) => {
    const query = new URLSearchParams({
      sdkappid: String(APP.sdkAppId),
      identifier: APP.adminIdentifier,
      usersig: new Api(APP.sdkAppId, APP.secretKey).genUserSig(APP.adminIdentifier, 600),
      random: '12345',
      contenttype: 'json',
    });
    mutate(query);
    const path = variant.startsWith('/') ? variant : '/v4/openim/admin_msgwithdraw';
    const body =
      variant === 'not json'
        ? '{'
        : JSON.stringify(variant === 'no key' ? { From_Account: 'a', To_Account: 'b' } : msg('m'));
    const res = await fetch(`${fake.baseUrl}${path}?${query.toString()}`, {
      method,
      ...(method === 'GET' ? {} : { body }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: code });
    expect(fake.calls[0]?.checkFailure).toMatch(reason);
  });
});
