import { Registry } from 'prom-client';
import { manualClock, scriptedFetch, type Reply } from '../../../test/consumers/fakes';
import { loadFixtures } from '../../../test/support/fixtures';
import type { AfterSendMsgCallback } from '../../tencent/callback';
import { createModerationHandler } from './handler';
import { createModerationMetrics } from './metrics';
import { RateLimiter, RecallClient, type Clock, type RecallClientOptions } from './recall';
import { compileRules } from './rules';

const tencent = (code: number, info = '') => ({
  json: { ActionStatus: code === 0 ? 'OK' : 'FAIL', ErrorCode: code, ErrorInfo: info },
});

function client(replies: Reply[], extra: Partial<RecallClientOptions> = {}) {
  const clock = manualClock();
  const f = scriptedFetch(replies);
  let signed = 0;
  const c = new RecallClient({
    baseUrl: 'https://adminapisgp.im.qcloud.com/',
    sdkAppId: 1400000001,
    adminIdentifier: 'administrator',
    secretKey: 'secret',
    backoffBaseMs: 100,
    random: () => 0.5,
    clock,
    fetch: f.fetch,
    signUserSig: (id, ttl) => `sig-${id}-${ttl}-${++signed}`,
    ...extra,
  });
  return { c, clock, ...f };
}

const target = { From_Account: 'a', To_Account: 'b', MsgKey: '1_2_3' };

describe('RateLimiter', () => {
  it('spaces back-to-back calls at 1/rate, reserving slots in call order', async () => {
    const clock = { ...manualClock(), sleep: () => Promise.resolve() } satisfies Clock;
    const limiter = new RateLimiter(20, 1, clock);
    const waits = await Promise.all([1, 2, 3, 4, 5].map(() => limiter.acquire()));
    expect(waits).toEqual([0, 50, 100, 150, 200]);
  });

  it('lets a burst through after a quiet spell, then spaces again', async () => {
    const clock = manualClock();
    const noSleep = { now: clock.now, sleep: () => Promise.resolve() };
    const limiter = new RateLimiter(10, 3, noSleep);
    expect(await Promise.all([0, 1, 2, 3, 4].map(() => limiter.acquire()))).toEqual([
      0, 0, 0, 100, 200,
    ]);
    clock.t = 10_000;
    expect(await Promise.all([0, 1, 2, 3].map(() => limiter.acquire()))).toEqual([0, 0, 0, 100]);
  });

  it('refuses a nonsensical rate or burst', () => {
    expect(() => new RateLimiter(0, 1, manualClock())).toThrow(/ratePerSecond/);
    expect(() => new RateLimiter(10, 0, manualClock())).toThrow(/burst/);
  });
});

describe('RecallClient (fake fetch)', () => {
  it('posts the three fields to the region domain with the five query parameters', async () => {
    const { c, urls, bodies } = client([tencent(0)]);
    expect(await c.recall({ ...target, Extra: 'x' } as typeof target)).toEqual({
      outcome: 'recalled',
      attempts: 1,
    });
    const url = urls[0] as URL;
    expect(url.origin + url.pathname).toBe(
      'https://adminapisgp.im.qcloud.com/v4/openim/admin_msgwithdraw',
    );
    expect([...url.searchParams.keys()]).toEqual([
      'sdkappid',
      'identifier',
      'usersig',
      'random',
      'contenttype',
    ]);
    expect(url.searchParams.get('sdkappid')).toBe('1400000001');
    expect(url.searchParams.get('identifier')).toBe('administrator');
    expect(url.searchParams.get('usersig')).toBe('sig-administrator-86400-1');
    expect(url.searchParams.get('contenttype')).toBe('json');
    expect(bodies).toEqual([target]);
  });

  it('reuses the UserSig until half its validity has passed, then renews it', async () => {
    const { c, clock, urls } = client([tencent(0)], { userSigTtlSeconds: 100 });
    await c.recall(target);
    clock.t += 49_000;
    await c.recall(target);
    clock.t += 2_000;
    await c.recall(target);
    expect(urls.map((u) => u.searchParams.get('usersig'))).toEqual([
      'sig-administrator-100-1',
      'sig-administrator-100-1',
      'sig-administrator-100-2',
    ]);
  });

  it('uses a fresh 32-bit random per call', async () => {
    const { c, urls } = client([tencent(0)]);
    await Promise.all([1, 2, 3, 4].map(() => c.recall(target)));
    const randoms = urls.map((u) => Number(u.searchParams.get('random')));
    for (const r of randoms) expect(Number.isInteger(r) && r >= 0 && r <= 4294967295).toBe(true);
    expect(new Set(randoms).size).toBe(4);
  });

  it('retries 91000, HTTP 5xx, network errors and unreadable replies with growing backoff', async () => {
    const { c, clock } = client(
      [
        tencent(91000),
        { status: 502, text: 'bad gateway' },
        new TypeError('fetch failed'),
        { text: 'x' },
        tencent(0),
      ],
      { maxAttempts: 5 },
    );
    expect(await c.recall(target)).toEqual({ outcome: 'recalled', attempts: 5 });
    // equal jitter with random 0.5: 3/4 of 100, 200, 400, 800 (rate-limit waits are 10 ms each)
    expect(clock.sleeps.filter((ms) => ms !== 10)).toEqual([75, 150, 300, 600]);
  });

  it('caps the backoff at backoffMaxMs', async () => {
    const { c, clock } = client([tencent(91000)], { maxAttempts: 4, backoffMaxMs: 150 });
    await c.recall(target);
    expect(clock.sleeps.filter((ms) => ms !== 10)).toEqual([75, 112.5, 112.5]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const { c, urls } = client([tencent(91000, 'internal')], { maxAttempts: 3 });
    expect(await c.recall(target)).toEqual({
      outcome: 'failed',
      errorCode: 91000,
      errorInfo: 'gave up after 3 attempts: internal',
      attempts: 3,
    });
    expect(urls).toHaveLength(3);
  });

  it('treats 20023 as already recalled and other codes and HTTP 4xx as failures, without retry', async () => {
    expect(await client([tencent(20023, 'recalled before')]).c.recall(target)).toEqual({
      outcome: 'already_recalled',
      errorCode: 20023,
      errorInfo: 'recalled before',
      attempts: 1,
    });
    const failed = client([tencent(20022, 'no such message'), tencent(0)]);
    expect(await failed.c.recall(target)).toEqual({
      outcome: 'failed',
      errorCode: 20022,
      errorInfo: 'no such message',
      attempts: 1,
    });
    expect(failed.urls).toHaveLength(1);
    const forbidden = client([{ status: 403, text: 'no' }, tencent(0)]);
    expect(await forbidden.c.recall(target)).toEqual({
      outcome: 'failed',
      errorInfo: 'HTTP 403',
      attempts: 1,
    });
  });

  it('never puts the UserSig or the secret in an error', async () => {
    const { c } = client([new TypeError('fetch failed')], { maxAttempts: 1 });
    const result = await c.recall(target);
    expect(result.outcome).toBe('failed');
    expect(result.errorInfo).toMatch(/network error: fetch failed/);
    expect(JSON.stringify(result)).not.toMatch(/sig-|secret/);
  });

  it.each<[Partial<RecallClientOptions>, RegExp]>([
    [{ ratePerSecond: 200 }, /below Tencent's 200\/s/],
    [{ ratePerSecond: 0 }, /ratePerSecond/],
    [{ baseUrl: 'adminapisgp.im.qcloud.com' }, /baseUrl must be an absolute URL/],
    [{ baseUrl: 'ftp://x' }, /baseUrl must be https/],
    [{ maxAttempts: 0 }, /maxAttempts must be a positive integer/],
    [{ sdkAppId: 1.5 }, /sdkAppId/],
    [{ secretKey: '' }, /secretKey/],
  ])('refuses bad options %j', (options, message) => {
    expect(() => client([tencent(0)], options)).toThrow(message);
  });

  it('reports calls, rate-limit waits, matches and the recall decided to the metrics', async () => {
    const registry = new Registry();
    const metrics = createModerationMetrics(registry, { ruleIds: ['r1', 'r2'] });
    const { c } = client([tencent(91000), tencent(0)], { observer: metrics.observer });
    // the handler decides the recall and calls the client; the metrics hear it from them
    const handle = createModerationHandler({
      rules: compileRules({
        rules: [
          { id: 'r1', kind: 'word', words: ['never said'], action: 'recall' },
          { id: 'r2', kind: 'word', words: ['red packet'], action: 'recall' },
        ],
      }),
      recall: c,
      recallEnabled: true,
      clock: { now: () => 1_764_115_999_000 },
      observer: metrics.observer,
    });
    const text0 = loadFixtures().find((f) => f.name === 'text.json')!.json;
    await handle({ callback: text0 as AfterSendMsgCallback, envelope: { SdkAppid: '1400000001' } });
    const text = await registry.metrics();
    expect(text).toMatch(
      /tim_moderation_recall_api_call_duration_seconds_count\{result="tencent_retryable"\} 1/,
    );
    expect(text).toMatch(/tim_moderation_recall_api_call_duration_seconds_count\{result="ok"\} 1/);
    expect(text).toMatch(/tim_moderation_recall_rate_limit_wait_seconds_count 2/);
    expect(text).toMatch(/tim_moderation_recalls_total\{outcome="recalled"\} 1/);
    expect(text).toMatch(/tim_moderation_rule_matches_total\{rule="r1"\} 0/);
    expect(text).toMatch(/tim_moderation_rule_matches_total\{rule="r2"\} 1/);
  });
});
