import { Api } from 'tls-sig-api-v2/TLSSigAPIv2.js';
import { GroupRecallClient } from '../../src/consumers/moderation/group-recall';
import {
  RateLimiter,
  RecallClient,
  systemClock,
  type RecallClientOptions,
} from '../../src/consumers/moderation/recall';
import {
  BAD_BODY,
  BAD_REQUEST,
  BODY_NOT_JSON,
  GROUP_BAD_PARAMETER,
  startFakeTencent,
  USERSIG_EXPIRED,
  USERSIG_INVALID,
  USERSIG_MISMATCH,
  type FakeTencent,
} from '../support/fake-tencent';

/**
 * RecallClient and GroupRecallClient against a local stand-in for Tencent's admin_msgwithdraw
 * and group_msg_recall, with real HTTP and a real UserSig from tls-sig-api-v2, verified by the
 * stand-in on its own.
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

/** The query of a REST call as the app admin (what the clients send), for requests made by hand. */
function adminQuery(random: string): URLSearchParams {
  return new URLSearchParams({
    sdkappid: String(APP.sdkAppId),
    identifier: APP.adminIdentifier,
    usersig: new Api(APP.sdkAppId, APP.secretKey).genUserSig(APP.adminIdentifier, 600),
    random,
    contenttype: 'json',
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
    // allowance: the burst, plus three calls for timer and event-loop jitter at a window's edges
    // (a busy machine stalls this process, client and fake alike, and calls due meanwhile land
    // together); the rate itself is proven below by the span, which load can only lengthen
    const allowance = burst + 3;
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
    const query = adminQuery('12345');
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

describe('GroupRecallClient against the fake Tencent REST API', () => {
  const GROUP = '@TGS#2J4SZEAEL';
  const COMMUNITY = '@TGS#_@TGS#cQVLVHIM62CJ';
  const TOPIC = `${COMMUNITY}@TOPIC#_@TOPIC#cRTE3HIM62C5`;

  function groupClient(extra: Partial<RecallClientOptions> = {}): GroupRecallClient {
    return new GroupRecallClient({
      baseUrl: fake.baseUrl,
      ...APP,
      backoffBaseMs: 10,
      timeoutMs: 1000,
      ...extra,
    });
  }

  it('sends a request that passes every check: path, query, body and a verifying UserSig', async () => {
    expect(await groupClient().recall({ GroupId: GROUP, MsgSeq: 123 })).toEqual({
      outcome: 'recalled',
      attempts: 1,
    });
    const [call] = fake.calls;
    expect(call?.checkFailure).toBeNull();
    expect(call?.path).toBe('/v4/group_open_http_svc/group_msg_recall');
    expect(Object.keys(call?.query ?? {}).sort()).toEqual(
      ['contenttype', 'identifier', 'random', 'sdkappid', 'usersig'].sort(),
    );
    expect(call?.body).toEqual({ GroupId: GROUP, MsgSeqList: [{ MsgSeq: 123 }] });
    expect(call?.group).toEqual({ GroupId: GROUP, MsgSeq: [123], TopicId: null });
    expect(call?.answer).toEqual({ httpStatus: 200, errorCode: 0 });
  });

  it('recalls in a community topic, and the fake checks the topic belongs to the group', async () => {
    const c = groupClient();
    expect(await c.recall({ GroupId: COMMUNITY, MsgSeq: 57, TopicId: TOPIC })).toEqual({
      outcome: 'recalled',
      attempts: 1,
    });
    expect(fake.groupCallsFor(COMMUNITY, 57)[0]?.group?.TopicId).toBe(TOPIC);
    // the topic of another group: refused, not retried
    expect(await c.recall({ GroupId: GROUP, MsgSeq: 58, TopicId: TOPIC })).toMatchObject({
      outcome: 'failed',
      errorCode: GROUP_BAD_PARAMETER,
      attempts: 1,
    });
    expect(fake.calls[1]?.checkFailure).toMatch(/TopicId is not a topic of/);
  });

  it('is refused by the fake when the UserSig is signed with another key, or has expired', async () => {
    const wrong = await groupClient({ secretKey: 'not-the-key' }).recall({
      GroupId: GROUP,
      MsgSeq: 1,
    });
    expect(wrong).toMatchObject({ outcome: 'failed', errorCode: USERSIG_MISMATCH, attempts: 1 });
    expect(fake.calls[0]?.checkFailure).toMatch(/TLS.sig does not verify/);
    const later = await startFakeTencent({ ...APP, now: () => Date.now() + 120_000 });
    try {
      const c = new GroupRecallClient({ baseUrl: later.baseUrl, ...APP, userSigTtlSeconds: 60 });
      expect(await c.recall({ GroupId: GROUP, MsgSeq: 1 })).toMatchObject({
        outcome: 'failed',
        errorCode: USERSIG_EXPIRED,
      });
    } finally {
      await later.close();
    }
  });

  it('retries 10002 (top level, then per message) and 91000 with backoff, then succeeds', async () => {
    fake.scriptGroup(GROUP, 200, [{ errorCode: 10002 }, 10002, { errorCode: 91000 }, 0]);
    expect(await groupClient({ maxAttempts: 5 }).recall({ GroupId: GROUP, MsgSeq: 200 })).toEqual({
      outcome: 'recalled',
      attempts: 4,
    });
    const calls = fake.groupCallsFor(GROUP, 200);
    expect(calls.map((c) => c.answer.errorCode)).toEqual([10002, 10002, 91000, 0]);
    expect(calls.every((c) => c.checkFailure === null)).toBe(true);
    expect((calls[1]?.at ?? 0) - (calls[0]?.at ?? 0)).toBeGreaterThanOrEqual(5);
    expect((calls[2]?.at ?? 0) - (calls[1]?.at ?? 0)).toBeGreaterThanOrEqual(10);
  });

  it("fails at once on the message's RetCode (10030: no such message) under a top-level OK", async () => {
    fake.scriptGroup(GROUP, 300, [10030, 0]);
    expect(await groupClient().recall({ GroupId: GROUP, MsgSeq: 300 })).toMatchObject({
      outcome: 'failed',
      errorCode: 10030,
      attempts: 1,
    });
    expect(fake.groupCallsFor(GROUP, 300)).toHaveLength(1);
  });

  it('retries an HTTP 502 and a call that times out', async () => {
    fake.scriptGroup(GROUP, 400, [{ httpStatus: 502 }, 0]);
    expect(await groupClient().recall({ GroupId: GROUP, MsgSeq: 400 })).toEqual({
      outcome: 'recalled',
      attempts: 2,
    });
    fake.scriptGroup(GROUP, 401, [{ delayMs: 2000, code: 0 }, 0]);
    expect(await groupClient({ timeoutMs: 200 }).recall({ GroupId: GROUP, MsgSeq: 401 })).toEqual({
      outcome: 'recalled',
      attempts: 2,
    });
    expect(fake.groupCallsFor(GROUP, 401)).toHaveLength(2);
  });

  it('holds one rate limit across C2C and group recalls sharing a limiter', async () => {
    const rate = 20;
    const limiter = new RateLimiter(rate, 1, systemClock);
    const group = groupClient({ limiter });
    const c2c = client({ limiter });
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        i % 2 === 0
          ? group.recall({ GroupId: GROUP, MsgSeq: 1000 + i })
          : c2c.recall(msg(`mixed-${i}`)),
      ),
    );
    expect(results.every((r) => r.outcome === 'recalled')).toBe(true);
    expect(fake.calls.filter((c) => c.group !== null)).toHaveLength(15);
    expect(fake.calls.filter((c) => c.msgKey !== null)).toHaveLength(15);
    // 30 calls at 20/s in all, the first free: at least 29 intervals of 50 ms
    expect(performance.now() - started).toBeGreaterThanOrEqual(1400);
    const arrivals = fake.calls.map((c) => c.at).sort((a, b) => a - b);
    expect((arrivals[29] as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(1350);
  });

  it.each<[string, unknown, number, RegExp]>([
    ['a body that is not JSON', '{', BODY_NOT_JSON, /not JSON/],
    ['no GroupId', { MsgSeqList: [{ MsgSeq: 1 }] }, GROUP_BAD_PARAMETER, /GroupId/],
    ['an empty MsgSeqList', { GroupId: GROUP, MsgSeqList: [] }, GROUP_BAD_PARAMETER, /1 to 10/],
    [
      'eleven MsgSeq',
      { GroupId: GROUP, MsgSeqList: Array.from({ length: 11 }, (_, i) => ({ MsgSeq: i })) },
      GROUP_BAD_PARAMETER,
      /1 to 10/,
    ],
    [
      'a MsgSeq above 2^32-1',
      { GroupId: GROUP, MsgSeqList: [{ MsgSeq: 4294967296 }] },
      GROUP_BAD_PARAMETER,
      /unsigned 32-bit/,
    ],
    [
      'a bare number in MsgSeqList',
      { GroupId: GROUP, MsgSeqList: [5] },
      GROUP_BAD_PARAMETER,
      /unsigned 32-bit/,
    ],
    [
      'an unknown field',
      { GroupId: GROUP, MsgSeqList: [{ MsgSeq: 1 }], MsgKey: 'x' },
      GROUP_BAD_PARAMETER,
      /unexpected body field/,
    ],
    [
      'a Reason over 100 bytes',
      { GroupId: GROUP, MsgSeqList: [{ MsgSeq: 1 }], Reason: '撤'.repeat(34) },
      GROUP_BAD_PARAMETER,
      /Reason/,
    ],
  ])('the fake refuses %s, Tencent-style', async (_name, body, code, reason) => {
    const res = await fetch(
      `${fake.baseUrl}/v4/group_open_http_svc/group_msg_recall?${adminQuery('12345').toString()}`,
      {
        method: 'POST',
        body: typeof body === 'string' ? body : JSON.stringify(body),
      },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: code });
    expect(fake.calls[0]?.checkFailure).toMatch(reason);
  });

  it('answers a good request with a RecallRetList entry per MsgSeq', async () => {
    fake.scriptGroup(GROUP, 7, [10030]);
    const res = await fetch(
      `${fake.baseUrl}/v4/group_open_http_svc/group_msg_recall?${adminQuery('1').toString()}`,
      {
        method: 'POST',
        body: JSON.stringify({ GroupId: GROUP, MsgSeqList: [{ MsgSeq: 7 }, { MsgSeq: 8 }] }),
      },
    );
    expect(await res.json()).toEqual({
      ActionStatus: 'OK',
      ErrorCode: 0,
      ErrorInfo: '',
      RecallRetList: [
        { MsgSeq: 7, RetCode: 10030 },
        { MsgSeq: 8, RetCode: 0 },
      ],
    });
  });
});
