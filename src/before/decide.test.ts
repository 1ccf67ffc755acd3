import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ALLOW_REPLY, createDecider, type DeciderOptions } from './decide';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
let handler: Handler;
let server: Server;
let url: URL;
const seen: { query: string; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      seen.push({ query: req.url?.split('?')[1] ?? '', body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/decide`);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => (seen.length = 0));

const reply =
  (status: number, text: string): Handler =>
  (_q, _b, res) => {
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(text);
  };
const decider = (o: Partial<DeciderOptions> = {}) =>
  createDecider({
    upstreamUrl: url,
    forwards: () => true,
    deadlineMs: 300,
    onFailure: 'allow',
    ...o,
  });
const body = Buffer.from('{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"a"}');
const QUERY = 'SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg&Sign=abc';

test('without an upstream (or not forwarded): allowed by the policy at once', async () => {
  const d = await createDecider({
    upstreamUrl: undefined,
    forwards: () => true,
    deadlineMs: 300,
    onFailure: 'block',
  }).decide('C2C.CallbackBeforeSendMsg', QUERY, body);
  expect(d).toEqual({
    Outcome: 'allow',
    DecidedBy: 'policy',
    ErrorCode: 0,
    Reply: ALLOW_REPLY,
    UpstreamLatencyMs: null,
    Problem: null,
  });
  const notForwarded = await decider({ forwards: () => false }).decide('X.Y', QUERY, body);
  expect(notForwarded.DecidedBy).toBe('policy');
  expect(seen).toHaveLength(0);
});

test('the upstream gets the same query and body; its block is relayed verbatim', async () => {
  const text = '{"ActionStatus":"OK","ErrorInfo":"no spam","ErrorCode":1}';
  handler = reply(200, text);
  const d = await decider().decide('C2C.CallbackBeforeSendMsg', QUERY, body);
  expect(seen).toEqual([{ query: QUERY, body: body.toString('utf8') }]);
  expect(d).toMatchObject({ Outcome: 'block', DecidedBy: 'upstream', ErrorCode: 1, Reply: text });
  expect(d.UpstreamLatencyMs).toBeGreaterThanOrEqual(0);
});

test('outcomes: 0 allow, 0 with replacement fields modify, 2 drop, custom codes block', async () => {
  const outcome = async (text: string) => {
    handler = reply(200, text);
    return (await decider().decide('C', QUERY, body)).Outcome;
  };
  expect(await outcome('{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}')).toBe('allow');
  expect(await outcome('{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"MsgBody":[]}')).toBe(
    'modify',
  );
  expect(await outcome('{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":2}')).toBe('drop');
  expect(await outcome('{"ActionStatus":"OK","ErrorInfo":"x","ErrorCode":120001}')).toBe('block');
});

test('an upstream slower than the deadline: fail-open allow after the deadline, or fail-closed block', async () => {
  handler = (_q, _b, res) => setTimeout(() => reply(200, ALLOW_REPLY)(_q, _b, res), 2000).unref();
  const started = Date.now();
  const open = await decider().decide('C', QUERY, body);
  const took = Date.now() - started;
  expect(took).toBeGreaterThanOrEqual(290);
  expect(took).toBeLessThan(1500);
  expect(open).toMatchObject({
    Outcome: 'allow',
    DecidedBy: 'fail-open',
    ErrorCode: 0,
    Reply: ALLOW_REPLY,
  });
  expect(open.Problem).toMatch(/^timeout: /);
  const closed = await decider({ onFailure: 'block' }).decide('C', QUERY, body);
  expect(closed).toMatchObject({ Outcome: 'block', DecidedBy: 'fail-closed', ErrorCode: 1 });
  expect(JSON.parse(closed.Reply)).toMatchObject({ ActionStatus: 'OK', ErrorCode: 1 });
});

test.each([
  ['an error status', reply(500, ALLOW_REPLY), /^status: HTTP 500/],
  ['a reply that is not JSON', reply(200, 'OK'), /^malformed: /],
  ['a FAIL reply', reply(200, '{"ActionStatus":"FAIL","ErrorCode":1}'), /^malformed: /],
  [
    'an ErrorCode that is no integer',
    reply(200, '{"ActionStatus":"OK","ErrorCode":"1"}'),
    /^malformed: /,
  ],
  ['a redirect', reply(302, ''), /^(network|status)/],
])('%s: the failure policy answers, and says why', async (_name, h, problem) => {
  handler = h;
  const d = await decider().decide('C', QUERY, body);
  expect(d.DecidedBy).toBe('fail-open');
  expect(d.Problem).toMatch(problem);
});

test('a reply larger than the limit is malformed, declared (not read) or not (read, then refused)', async () => {
  const big = JSON.stringify({ ActionStatus: 'OK', ErrorCode: 0, MsgBody: 'x'.repeat(2000) });
  handler = reply(200, big); // with a Content-Length
  const declared = await decider({ maxReplyBytes: 1000 }).decide('C', QUERY, body);
  expect(declared).toMatchObject({
    DecidedBy: 'fail-open',
    Problem: expect.stringMatching(/^malformed: reply larger than 1000 bytes/),
  });
  handler = (_q, _b, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' }); // chunked: no Content-Length
    res.write(big.slice(0, 1000));
    res.end(big.slice(1000));
  };
  const chunked = await decider({ maxReplyBytes: 1000 }).decide('C', QUERY, body);
  expect(chunked).toMatchObject({
    DecidedBy: 'fail-open',
    Problem: expect.stringMatching(/^malformed: reply larger than 1000 bytes/),
  });
  // within the limit, the same reply is relayed as a modification
  const relayed = await decider({ maxReplyBytes: 10000 }).decide('C', QUERY, body);
  expect(relayed).toMatchObject({ Outcome: 'modify', DecidedBy: 'upstream', Reply: big });
});

test('an upstream that refuses connections: network problem, answered by the policy', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const d = await decider({ upstreamUrl: new URL(`http://127.0.0.1:${port}/decide`) }).decide(
    'C',
    QUERY,
    body,
  );
  expect(d).toMatchObject({ DecidedBy: 'fail-open', ErrorCode: 0 });
  expect(d.Problem).toMatch(/^network: ECONNREFUSED/);
});

test("https: the decision service's certificate is verified (self-signed: a network failure, fail-open)", async () => {
  const tls = join(__dirname, '..', '..', 'test', 'fixtures', 'tls');
  let asked = 0;
  const https = createHttpsServer(
    {
      key: readFileSync(join(tls, 'self-signed.key')),
      cert: readFileSync(join(tls, 'self-signed.crt')),
    },
    (_req, res) => {
      asked++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"ActionStatus":"OK","ErrorInfo":"blocked by an impostor","ErrorCode":1}');
    },
  );
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  try {
    const port = (https.address() as AddressInfo).port;
    const d = await decider({
      upstreamUrl: new URL(`https://127.0.0.1:${port}/decide`),
      deadlineMs: 1500,
    }).decide('C2C.CallbackBeforeSendMsg', QUERY, body);
    expect(d).toMatchObject({ Outcome: 'allow', DecidedBy: 'fail-open', Reply: ALLOW_REPLY });
    expect(d.Problem).toMatch(/^network: /);
    expect(asked).toBe(0); // the TLS handshake failed: no request was ever sent
  } finally {
    https.closeAllConnections();
    await new Promise((r) => https.close(r));
  }
});
