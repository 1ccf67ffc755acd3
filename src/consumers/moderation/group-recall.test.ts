import { Registry } from 'prom-client';
import { manualClock, scriptedFetch, type Reply } from '../../../test/consumers/fakes';
import { loadCommandFixtures } from '../../../test/support/fixtures';
import { GROUP_AFTER_SEND_MSG, type GroupMessageCallback } from '../group';
import { createGroupModerationHandler } from './group-handler';
import { GROUP_MSG_RECALL_PATH, GroupRecallClient, type GroupRecallTarget } from './group-recall';
import { createGroupModerationMetrics, createModerationMetrics } from './metrics';
import { RateLimiter, RecallClient, type RecallClientOptions } from './recall';
import { compileRules } from './rules';

/** Tencent's answer: a top-level code, and per-MsgSeq RetCodes (`[MsgSeq, RetCode]`). */
const tencent = (code: number, list?: [number, number][], info = '') => ({
  json: {
    ActionStatus: code === 0 ? 'OK' : 'FAIL',
    ErrorCode: code,
    ErrorInfo: info,
    ...(list ? { RecallRetList: list.map(([MsgSeq, RetCode]) => ({ MsgSeq, RetCode })) } : {}),
  },
});

const options = (clock: ReturnType<typeof manualClock>, fetch: typeof globalThis.fetch) => ({
  baseUrl: 'https://adminapisgp.im.qcloud.com',
  sdkAppId: 1400000001,
  adminIdentifier: 'administrator',
  secretKey: 'secret',
  backoffBaseMs: 100,
  random: () => 0.5,
  clock,
  fetch,
  signUserSig: (id: string, ttl: number) => `sig-${id}-${ttl}`,
});

function client(replies: Reply[], extra: Partial<RecallClientOptions> = {}) {
  const clock = manualClock();
  const f = scriptedFetch(replies);
  const c = new GroupRecallClient({ ...options(clock, f.fetch), ...extra });
  return { c, clock, ...f };
}

const target: GroupRecallTarget = { GroupId: '@TGS#2J4SZEAEL', MsgSeq: 123 };

describe('GroupRecallClient (fake fetch)', () => {
  it('posts GroupId and a one-entry MsgSeqList to group_msg_recall with the five query parameters', async () => {
    const { c, urls, bodies } = client([tencent(0, [[123, 0]])]);
    expect(await c.recall(target)).toEqual({ outcome: 'recalled', attempts: 1 });
    const url = urls[0] as URL;
    expect(url.origin + url.pathname).toBe(
      'https://adminapisgp.im.qcloud.com/v4/group_open_http_svc/group_msg_recall',
    );
    expect(GROUP_MSG_RECALL_PATH).toBe('/v4/group_open_http_svc/group_msg_recall');
    expect([...url.searchParams.keys()]).toEqual([
      'sdkappid',
      'identifier',
      'usersig',
      'random',
      'contenttype',
    ]);
    expect(url.searchParams.get('usersig')).toBe('sig-administrator-86400');
    // exactly these fields: no TopicId outside a topic, no Reason
    expect(bodies).toEqual([{ GroupId: '@TGS#2J4SZEAEL', MsgSeqList: [{ MsgSeq: 123 }] }]);
  });

  it('adds the TopicId of a community topic message, and only a non-empty one', async () => {
    const topic = '@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_TestTopic';
    const { c, bodies } = client([tencent(0, [[57, 0]])]);
    await c.recall({ GroupId: '@TGS#_@TGS#cQVLVHIM62CJ', MsgSeq: 57, TopicId: topic });
    await c.recall({ GroupId: '@TGS#_@TGS#cQVLVHIM62CJ', MsgSeq: 57, TopicId: '' });
    expect(bodies).toEqual([
      { GroupId: '@TGS#_@TGS#cQVLVHIM62CJ', MsgSeqList: [{ MsgSeq: 57 }], TopicId: topic },
      { GroupId: '@TGS#_@TGS#cQVLVHIM62CJ', MsgSeqList: [{ MsgSeq: 57 }] },
    ]);
  });

  it("reads this message's RetCode under a top-level OK: a failure there is the recall's failure", async () => {
    const { c, urls } = client([
      tencent(0, [
        [122, 0],
        [123, 10030],
      ]),
      tencent(0, [[123, 0]]),
    ]);
    expect(await c.recall(target)).toEqual({
      outcome: 'failed',
      errorCode: 10030,
      errorInfo: 'RetCode 10030 for MsgSeq 123',
      attempts: 1,
    });
    expect(urls).toHaveLength(1);
  });

  it('takes an OK without an entry for the message as recalled', async () => {
    expect(await client([tencent(0)]).c.recall(target)).toEqual({
      outcome: 'recalled',
      attempts: 1,
    });
    expect(await client([tencent(0, [[999, 10030]])]).c.recall(target)).toEqual({
      outcome: 'recalled',
      attempts: 1,
    });
  });

  it('retries 10002, 10006 and 91000 (top level or per message), 5xx and bad entries, with backoff', async () => {
    const { c, clock, urls } = client(
      [
        tencent(10002, undefined, 'internal'),
        tencent(0, [[123, 10002]]),
        tencent(10006, undefined, 'too fast'),
        tencent(91000),
        { status: 503, text: 'busy' },
        { json: { ActionStatus: 'OK', ErrorCode: 0, RecallRetList: [{ MsgSeq: 123 }] } },
        tencent(0, [[123, 0]]),
      ],
      { maxAttempts: 7 },
    );
    expect(await c.recall(target)).toEqual({ outcome: 'recalled', attempts: 7 });
    expect(urls).toHaveLength(7);
    // equal jitter with random 0.5, capped at 5000 ms (rate-limit waits are 10 ms each)
    expect(clock.sleeps.filter((ms) => ms !== 10)).toEqual([75, 150, 300, 600, 1200, 2400]);
  });

  it('gives up after maxAttempts with the last code', async () => {
    const { c } = client([tencent(10002, undefined, 'internal')], { maxAttempts: 3 });
    expect(await c.recall(target)).toEqual({
      outcome: 'failed',
      errorCode: 10002,
      errorInfo: 'gave up after 3 attempts: internal',
      attempts: 3,
    });
  });

  it.each([10004, 10007, 10010, 10015, 10031, 10032, 10033, 10041, 20023])(
    'fails at once on %i (no group code means already recalled)',
    async (code) => {
      const { c, urls } = client([tencent(code, undefined, `error ${code}`), tencent(0)]);
      expect(await c.recall(target)).toEqual({
        outcome: 'failed',
        errorCode: code,
        errorInfo: `error ${code}`,
        attempts: 1,
      });
      expect(urls).toHaveLength(1);
    },
  );

  it('shares one rate limiter with the C2C client: both APIs together hold the rate', async () => {
    // time stands still: each reservation's wait shows where it falls
    const clock = { ...manualClock(), sleep: () => Promise.resolve() };
    const f = scriptedFetch([tencent(0)]);
    const waits: number[] = [];
    const observer = { call: () => undefined, rateLimitWait: (s: number) => waits.push(s) };
    const limiter = new RateLimiter(10, 1, clock);
    const opts = { ...options(manualClock(), f.fetch), clock, limiter, observer };
    const group = new GroupRecallClient(opts);
    const c2c = new RecallClient(opts);
    await Promise.all([
      group.recall(target),
      c2c.recall({ From_Account: 'a', To_Account: 'b', MsgKey: 'k' }),
      group.recall({ ...target, MsgSeq: 124 }),
    ]);
    // 10/s for both APIs: one slot every 100 ms, in call order
    expect(waits).toEqual([0, 0.1, 0.2]);
  });

  it('reports calls to the group metrics and rate-limit waits to the shared histogram', async () => {
    const registry = new Registry();
    const c2c = createModerationMetrics(registry, { ruleIds: ['r1'] });
    const metrics = createGroupModerationMetrics(registry, c2c, { ruleIds: ['r1'] });
    const { c } = client([tencent(10002), tencent(0, [[123, 0]])], {
      observer: metrics.observer,
    });
    await c.recall(target);
    // a recall rule matches a message without MsgSeq: the handler decides it cannot recall it
    const handle = createGroupModerationHandler({
      rules: compileRules({
        rules: [{ id: 'r1', kind: 'regex', pattern: 'red\\s+packet', action: 'recall' }],
      }),
      recall: c,
      recallEnabled: true,
      clock: { now: () => 1_764_115_999_000 },
      observer: metrics.observer,
    });
    const sample = loadCommandFixtures().find(
      (f) => f.command === GROUP_AFTER_SEND_MSG && f.name === 'sample.json',
    )!.json;
    const withoutSeq: Record<string, unknown> = { ...sample };
    delete withoutSeq.MsgSeq;
    await handle({
      callback: withoutSeq as unknown as GroupMessageCallback,
      envelope: { SdkAppid: '1400000001' },
    });
    const text = await registry.metrics();
    const p = 'tim_moderation_group_';
    expect(text).toMatch(
      new RegExp(`${p}recall_api_call_duration_seconds_count\\{result="tencent_retryable"\\} 1`),
    );
    expect(text).toMatch(
      new RegExp(`${p}recall_api_call_duration_seconds_count\\{result="ok"\\} 1`),
    );
    expect(text).toMatch(/tim_moderation_recall_rate_limit_wait_seconds_count 2/);
    // the C2C API's histogram saw none of these calls
    expect(text).not.toMatch(
      /tim_moderation_recall_api_call_duration_seconds_count\{[^}]*\} [1-9]/,
    );
    expect(text).toMatch(new RegExp(`${p}recalls_total\\{outcome="not_recalled_no_msgseq"\\} 1`));
    expect(text).toMatch(new RegExp(`${p}rule_matches_total\\{rule="r1"\\} 1`));
  });
});
