import { endOffsets } from '../../src/kafka/admin';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';

/** Invalid requests, through the real HTTP stack of the real bridge: clear FAILs, nothing stored. */
let bridge: TestBridge;
const valid = loadFixtures().find((f) => f.name === 'location-face.json')!;

beforeAll(async () => {
  bridge = await startTestBridge('refusals', { BODY_LIMIT_BYTES: '4096' });
});
afterAll(async () => {
  await bridge?.dispose();
});

const mutated = (mutate: (b: Record<string, unknown>) => void): string => {
  const b = JSON.parse(valid.text) as Record<string, unknown>;
  mutate(b);
  return JSON.stringify(b);
};

const cases: {
  name: string;
  body?: string | Uint8Array;
  query?: Record<string, string | undefined>;
  method?: string;
  path?: string;
  status: number;
  info: string | RegExp;
}[] = [
  {
    name: 'a field of the wrong type',
    body: mutated(
      (b) =>
        ((b.MsgBody as { MsgContent: Record<string, unknown> }[])[0]!.MsgContent.Latitude =
          'north'),
    ),
    status: 400,
    info: 'MsgBody[0].MsgContent.Latitude must be a number',
  },
  {
    name: 'malformed JSON',
    body: '{"CallbackCommand": ',
    status: 400,
    info: /^body is not valid JSON/,
  },
  { name: 'an empty body', body: '', status: 400, info: 'body is empty: expected a JSON object' },
  {
    name: 'bytes that are not UTF-8',
    body: Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]),
    status: 400,
    info: 'body is not valid UTF-8',
  },
  {
    name: 'a body over the limit',
    body: JSON.stringify({ pad: 'x'.repeat(5000) }),
    status: 413,
    info: 'body is larger than the limit of 4096 bytes',
  },
  {
    name: 'GET on /callback',
    method: 'GET',
    status: 405,
    info: 'method GET is not allowed on /callback: use POST',
  },
  {
    name: 'an unknown path',
    path: '/webhook',
    status: 404,
    info: 'no route for POST /webhook: callbacks go to POST /callback',
  },
  {
    name: 'a CallbackCommand that is no command word',
    query: { CallbackCommand: 'C2C CallbackAfterSendMsg' },
    status: 400,
    info: 'query parameter CallbackCommand "C2C CallbackAfterSendMsg" is not a command word like C2C.CallbackAfterSendMsg',
  },
  {
    name: 'no SdkAppid',
    query: { SdkAppid: undefined },
    status: 400,
    info: 'query parameter SdkAppid is required',
  },
  {
    name: "a body CallbackCommand other than the query's",
    body: mutated((b) => (b.CallbackCommand = 'C2C.CallbackBeforeSendMsg')),
    status: 400,
    info: 'CallbackCommand in the body ("C2C.CallbackBeforeSendMsg") does not match the query\'s ("C2C.CallbackAfterSendMsg")',
  },
];

const send = (c: (typeof cases)[number]) =>
  postCallback(
    c.path ? bridge.callbackUrl.replace('/callback', c.path) : bridge.callbackUrl,
    c.body ?? valid.text,
    { ...(c.query ? { query: c.query } : {}), ...(c.method ? { method: c.method } : {}) },
  );

test.each(cases)('$name gets $status and a Tencent-shaped FAIL naming the problem', async (c) => {
  const res = await send(c);
  expect(res.status).toBe(c.status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const reply = (await res.json()) as Record<string, unknown>;
  expect(Object.keys(reply).sort()).toEqual(['ActionStatus', 'ErrorCode', 'ErrorInfo']);
  expect(reply.ActionStatus).toBe('FAIL');
  expect(reply.ErrorCode).toBe(1);
  expect(reply.ErrorInfo).toEqual(
    c.info instanceof RegExp ? expect.stringMatching(c.info) : c.info,
  );
});

test('the admin server answers health, readiness and metrics', async () => {
  expect((await fetch(`${bridge.adminUrl}/healthz`)).status).toBe(200);
  const ready = await fetch(`${bridge.adminUrl}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({
    status: 'ready',
    checks: { shutdown: 'ok', listening: 'ok', schema: 'ok', kafka: 'ok', spool: 'ok' },
  });
  const metrics = await (await fetch(`${bridge.adminUrl}/metrics`)).text();
  expect(metrics).toMatch(/tim_bridge_callbacks_refused_total\{reason="invalid"\} [1-9]/);
  expect(metrics).toMatch(/tim_bridge_callbacks_refused_total\{reason="too_large"\} 1/);
  expect(metrics).toContain('nodejs_eventloop_lag_seconds');
  // another path or method is no callback: counted apart, so refused/received stays a ratio
  expect(metrics).toMatch(/tim_bridge_requests_unrouted_total\{reason="not_found"\} 1/);
  expect(metrics).toMatch(/tim_bridge_requests_unrouted_total\{reason="method_not_allowed"\} 1/);
  expect(metrics).not.toMatch(/tim_bridge_callbacks_refused_total\{reason="not_found"\}/);
});

// last: it sends every case once more (the counters above count each case once)
test('none of them published anything: after every case once more and one valid callback, the topic holds that one', async () => {
  for (const c of cases) expect((await send(c)).status).toBe(c.status);
  expect((await postCallback(bridge.callbackUrl, valid.text)).status).toBe(200);
  const ends = await endOffsets(bridge.kafka, bridge.topic);
  expect([...ends.values()].reduce((a, b) => a + b, 0n)).toBe(1n);
});
