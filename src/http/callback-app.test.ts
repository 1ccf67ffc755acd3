import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { BridgeError } from '../errors';
import type { CommandRoute, IncomingCallback, IngestResult } from '../ingest';
import { createLogger } from '../observability/logger';
import { createBridgeMetrics, createMetricsRegistry } from '../observability/metrics';
import { OK_REPLY } from '../tencent/reply';
import { createCallbackApp } from './callback-app';
import { close, listen } from './server';

/**
 * The callback server through real HTTP, with a stand-in for ingest (our own use case, not a
 * Kafka part): callbacks take a path beside Express (`fast`), every other request goes through
 * Express; both must answer alike. The bridge's own component tests cover the rest end to end.
 */

const LIMIT = 1000;
const QUERY = 'SdkAppid=1400000001&CallbackCommand=C2C.CallbackAfterSendMsg&contenttype=json';
const ROUTE = { label: 'C2C.CallbackAfterSendMsg' } as CommandRoute;

const registry = createMetricsRegistry();
const metrics = createBridgeMetrics(registry);
const ingested: IncomingCallback[] = [];
let answer: (incoming: IncomingCallback) => Promise<IngestResult>;
let server: Server;
let base: string;

beforeAll(async () => {
  const app = createCallbackApp({
    ingest: (incoming) => {
      ingested.push(incoming);
      return answer(incoming);
    },
    auth: { sdkAppIds: new Set(['1400000001']), signature: undefined },
    metrics,
    logger: createLogger({ level: 'silent' }),
    bodyLimitBytes: LIMIT,
    isStopping: () => false,
  });
  server = await listen(app, 0, '127.0.0.1', 2000);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => close(server));
beforeEach(() => {
  ingested.length = 0;
  answer = async () => ({ outcome: 'kafka', route: ROUTE, records: 1 });
});

async function refusedCount(reason: string): Promise<number> {
  const m = await registry.getSingleMetric('tim_bridge_callbacks_refused_total')?.get();
  return m?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

/** One request as raw HTTP/1.1 bytes (so that headers are exactly what is written). */
function rawRequest(head: string, body: Buffer | string = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const { port } = server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
    socket.write(`${head}\r\nConnection: close\r\n\r\n`);
    socket.end(body);
  });
}

const statusAndBody = (raw: string) => ({
  status: Number(raw.split(' ')[1]),
  body: raw.slice(raw.indexOf('\r\n\r\n') + 4),
});

describe('callbacks beside Express and requests through it answer alike', () => {
  const body = JSON.stringify({ CallbackCommand: 'C2C.CallbackAfterSendMsg', Text: 'é' });
  const big = 'x'.repeat(LIMIT + 1);
  const cases: [string, string, string][] = [
    ['a callback', `Content-Length: ${Buffer.byteLength(body)}`, body],
    ['no body at all', '', ''],
    ['a body over the limit, announced', `Content-Length: ${big.length}`, big],
    [
      'a chunked body over the limit',
      'Transfer-Encoding: chunked',
      `${(LIMIT + 1).toString(16)}\r\n${big}\r\n0\r\n\r\n`,
    ],
    ['a chunked callback', 'Transfer-Encoding: chunked', `3\r\n{}x\r\n0\r\n\r\n`],
  ];
  test.each(cases)('%s', async (_name, header, payload) => {
    const head = (extra: string) =>
      [`POST /callback?${QUERY} HTTP/1.1`, 'Host: x', header, extra].filter(Boolean).join('\r\n');
    // `Content-Encoding: identity` sends the same request through Express and body-parser
    const fast = statusAndBody(await rawRequest(head(''), payload));
    const fastIngested = ingested.splice(0);
    const viaExpress = statusAndBody(await rawRequest(head('Content-Encoding: identity'), payload));
    const expressIngested = ingested.splice(0);
    expect(fast).toEqual(viaExpress);
    expect(fastIngested.map((i) => [i.body.toString(), i.rawQuery, i.query])).toEqual(
      expressIngested.map((i) => [i.body.toString(), i.rawQuery, i.query]),
    );
    if (fast.status === 200) {
      expect(fast.body).toBe(OK_REPLY);
      expect(fastIngested).toHaveLength(1);
    } else {
      expect(fast.status).toBe(413);
      expect(JSON.parse(fast.body)).toEqual({
        ActionStatus: 'FAIL',
        ErrorInfo: `body is larger than the limit of ${LIMIT} bytes`,
        ErrorCode: 1,
      });
    }
  });

  test('another app is refused before the body is read, on both paths', async () => {
    const head = (extra: string) =>
      [
        'POST /callback?SdkAppid=1&CallbackCommand=x HTTP/1.1',
        'Host: x',
        extra,
        'Content-Length: 2',
      ]
        .filter(Boolean)
        .join('\r\n');
    const fast = statusAndBody(await rawRequest(head(''), '{}'));
    const viaExpress = statusAndBody(await rawRequest(head('Content-Encoding: identity'), '{}'));
    expect(fast).toEqual(viaExpress);
    expect(fast.status).toBe(403);
    expect(ingested).toHaveLength(0);
  });
});

test('a body cut off by its client is counted as unreadable, and the server carries on', async () => {
  const before = await refusedCount('malformed_json');
  const { port } = server.address() as AddressInfo;
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`POST /callback?${QUERY} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"To_A`);
  // the server has the headers and part of the body; then the client goes away
  const deadline = Date.now() + 5000;
  while (
    (await registry.getSingleMetric('tim_bridge_requests_in_flight')?.get())?.values[0]?.value !== 1
  ) {
    if (Date.now() > deadline) throw new Error('the request never arrived');
    await new Promise((r) => setTimeout(r, 10));
  }
  socket.destroy();
  while ((await refusedCount('malformed_json')) !== before + 1) {
    if (Date.now() > deadline) throw new Error('the aborted request was not counted');
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(ingested).toHaveLength(0);
  const after = await fetch(`${base}/callback?${QUERY}`, { method: 'POST', body: '{}' });
  expect(after.status).toBe(200);
});

test('an unexpected error is a 500 "internal error", a BridgeError its own status, both Tencent-shaped', async () => {
  answer = () => Promise.reject(new Error('a bug, with details no client should see'));
  const bug = await fetch(`${base}/callback?${QUERY}`, { method: 'POST', body: '{}' });
  expect(bug.status).toBe(500);
  expect(await bug.json()).toEqual({
    ActionStatus: 'FAIL',
    ErrorInfo: 'internal error',
    ErrorCode: 1,
  });
  answer = () =>
    Promise.reject(
      new BridgeError('Kafka is unavailable', {
        status: 503,
        reason: 'kafka_unavailable',
        retriable: true,
      }),
    );
  const down = await fetch(`${base}/callback?${QUERY}`, { method: 'POST', body: '{}' });
  expect(down.status).toBe(503);
  expect(down.headers.get('content-type')).toBe('application/json; charset=utf-8');
  expect(await down.json()).toEqual({
    ActionStatus: 'FAIL',
    ErrorInfo: 'Kafka is unavailable',
    ErrorCode: 1,
  });
  expect(await refusedCount('internal')).toBe(1);
});

test('other paths and methods still go through Express', async () => {
  const get = await fetch(`${base}/callback?${QUERY}`);
  expect(get.status).toBe(405);
  expect(get.headers.get('allow')).toBe('POST');
  const other = await fetch(`${base}/callback/x?${QUERY}`, { method: 'POST', body: '{}' });
  expect(other.status).toBe(404);
  // Express's router matches /CALLBACK and a trailing slash too: the same handler answers
  const upper = await fetch(`${base}/CALLBACK/?${QUERY}`, { method: 'POST', body: '{}' });
  expect(upper.status).toBe(200);
  expect(ingested).toHaveLength(1);
});
