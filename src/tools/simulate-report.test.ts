import { OK_REPLY, failReply } from '../tencent/reply';
import type { SimRequest } from './simulate-plan';
import {
  Histogram,
  Tally,
  TimeoutError,
  classifyError,
  classifyReply,
  exitCodeOf,
  summaryText,
} from './simulate-report';

describe('an answer, read as Tencent reads it', () => {
  test('OK: 200 with ActionStatus OK and ErrorCode 0', () => {
    expect(classifyReply(200, OK_REPLY, false)).toEqual({ kind: 'ok' });
    expect(classifyReply(200, OK_REPLY, true)).toEqual({ kind: 'ok' });
  });

  test('a before-callback answered with another ErrorCode is blocked; an after-callback refused', () => {
    const block = '{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":1}';
    expect(classifyReply(200, block, true)).toEqual({ kind: 'blocked' });
    expect(classifyReply(200, block, false)).toEqual({
      kind: 'refused',
      reason: '200 OK ErrorCode 1',
      answered: true,
    });
  });

  test('refusals by status and ErrorInfo; anything else by status', () => {
    expect(classifyReply(401, failReply('unauthenticated: Sign does not match'), false)).toEqual({
      kind: 'refused',
      reason: '401 unauthenticated: Sign does not match',
      answered: true,
    });
    expect(classifyReply(200, failReply('x'.repeat(300)), false)).toMatchObject({
      reason: `200 ${'x'.repeat(96)}…`,
    });
    expect(classifyReply(502, '<html>Bad Gateway</html>', false)).toEqual({
      kind: 'refused',
      reason: '502 (not a Tencent reply)',
      answered: true,
    });
    expect(classifyReply(200, '[]', false)).toMatchObject({ reason: '200 (not a Tencent reply)' });
  });

  test('no answer: timeout, refused or reset connections, unknown host', () => {
    const err = (code: string) => Object.assign(new Error(code), { code });
    expect(classifyError(new TimeoutError(2000))).toEqual({
      kind: 'refused',
      reason: 'timeout (2000 ms)',
      answered: false,
    });
    expect(classifyError(err('ECONNREFUSED'))).toMatchObject({ reason: 'connection refused' });
    expect(classifyError(err('ECONNRESET'))).toMatchObject({ reason: 'connection reset' });
    expect(classifyError(err('ENOTFOUND'))).toMatchObject({ reason: 'host not found' });
    expect(classifyError(err('EPROTO'))).toMatchObject({ reason: 'error EPROTO' });
  });
});

test('the histogram gives percentiles within 1 % of the exact ones', () => {
  const h = new Histogram();
  const values = Array.from({ length: 10000 }, (_, i) => 0.05 + ((i * 7919) % 10000) / 37);
  for (const v of values) h.add(v);
  const sorted = [...values].sort((a, b) => a - b);
  for (const p of [0.5, 0.99, 0.999]) {
    const exact = sorted[Math.ceil(p * sorted.length) - 1] as number;
    expect(Math.abs(h.percentile(p) - exact) / exact).toBeLessThan(0.011);
  }
  expect(h.percentile(1)).toBe(Math.round(Math.max(...values) * 100) / 100);
  h.reset();
  expect(h.percentile(0.5)).toBe(0);
});

describe('the tally and the summary', () => {
  const request = (index: number, over: Partial<SimRequest> = {}): SimRequest => ({
    index,
    command: 'C2C.CallbackAfterSendMsg',
    query: '',
    body: '{}',
    platform: 'iOS',
    duplicate: false,
    original: index,
    records: 1,
    before: false,
    ...over,
  });
  const run = { url: 'http://h/callback', runId: 'r', seed: 7, seconds: 2, interrupted: false };

  function tallyOf(events: [SimRequest, ReturnType<typeof classifyReply>][]) {
    const t = new Tally();
    for (const [r, outcome] of events) {
      t.onSent(r);
      t.onAnswer(r, outcome, 3);
    }
    return t;
  }

  test('accepted counts duplicates again (the bridge stores them); distinct does not', () => {
    const ok = { kind: 'ok' } as const;
    const t = tallyOf([
      [request(0), ok],
      [request(1), { kind: 'refused', reason: '503 spool full', answered: true }],
      [request(2, { duplicate: true, original: 0 }), ok],
      [request(3, { duplicate: true, original: 1 }), ok],
      [
        request(4, { platform: undefined }),
        { kind: 'refused', reason: 'timeout (2000 ms)', answered: false },
      ],
      [request(5, { command: 'Push.OfflinePush', records: 3, platform: undefined }), ok],
      [request(6, { command: 'Sns.CallbackPrevFriendAdd', before: true }), { kind: 'blocked' }],
    ]);
    const s = t.summary({ ...run, commands: ['C2C.CallbackAfterSendMsg', 'Push.OfflinePush'] });
    expect(s).toMatchObject({
      sent: 7,
      sentPerSecond: 3.5,
      accepted: 4,
      duplicates: 2,
      duplicatesSent: 2,
      distinct: 3, // 0, 1 (through its duplicate) and 5
      blocked: 1,
      records: 7, // one per accepted request (duplicates too), three for the push, one blocked
      refused: { '503 spool full': 1, 'timeout (2000 ms)': 1 },
      refusedTotal: 2,
      unanswered: 1,
      latencyMs: { p50: 3, p99: 3, p999: 3, max: 3 },
      byPlatform: { iOS: { sent: 5, accepted: 3 }, none: { sent: 2, accepted: 1 } },
    });
    expect(s.byCommand['Push.OfflinePush']).toEqual({ sent: 1, accepted: 1, records: 3 });
    expect(exitCodeOf(s)).toBe(1);
    const text = summaryText(s);
    expect(text).toContain('accepted  4 (of which 2 duplicates');
    expect(text).toContain('records   7 expected in Kafka');
    expect(text).toContain(
      'refused   2: 503 spool full: 1, timeout (2000 ms): 1 (1 without an answer)',
    );
  });

  test('exit 0 only when every request was answered OK (or blocked)', () => {
    const all = tallyOf([[request(0), { kind: 'ok' }]]).summary({ ...run, commands: ['c'] });
    expect(exitCodeOf(all)).toBe(0);
    expect(exitCodeOf(new Tally().summary({ ...run, commands: ['c'] }))).toBe(1);
  });

  test('the progress line: totals, reasons, the last interval’s latencies and rate', () => {
    const t = tallyOf([
      [request(0), { kind: 'ok' }],
      [request(1), { kind: 'refused', reason: 'connection refused', answered: false }],
    ]);
    expect(t.progressLine(1, 0.5)).toBe(
      '[   1 s] sent 2  OK 1  refused 1 (connection refused: 1)  p50 3 ms  p99 3 ms  4/s',
    );
    expect(t.progressLine(2, 1)).toBe(
      '[   2 s] sent 2  OK 1  refused 1 (connection refused: 1)  p50 0 ms  p99 0 ms  0/s',
    );
  });
});
