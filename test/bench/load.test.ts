import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closedLoop, httpSender, openLoop, percentile, type Send } from '../../bench/load';

/** A server that handles one request at a time: the first one stalls, the others are instant. */
function serialServerWithStall(stallMs: number): Send {
  let tail: Promise<void> = Promise.resolve();
  let first = true;
  return () => {
    const wait = first ? stallMs : 0;
    first = false;
    const done = tail.then(() => new Promise<void>((r) => setTimeout(r, wait)));
    tail = done;
    return done.then(() => true);
  };
}

test('percentile is nearest-rank over sorted values', () => {
  const sorted = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
  expect(percentile(sorted, 0.5)).toBe(500);
  expect(percentile(sorted, 0.99)).toBe(990);
  expect(percentile(sorted, 0.999)).toBe(999);
  expect(percentile(new Float64Array(0), 0.99)).toBe(0);
});

test('the open loop counts a stall against every request scheduled behind it; a closed loop hides it', async () => {
  // 200/s for 1 s: the 300 ms stall delays the ~60 requests due during it
  const open = await openLoop({ send: serialServerWithStall(300), rate: 200, seconds: 1 });
  expect(open.sent).toBe(200);
  expect(open.acked).toBe(200);
  expect(open.p99Ms).toBeGreaterThanOrEqual(250);
  expect(open.p50Ms).toBeLessThan(open.p99Ms);
  // one client: the stall is one slow sample among many fast ones (coordinated omission)
  const closed = await closedLoop({ send: serialServerWithStall(300), concurrency: 1, seconds: 1 });
  expect(closed.maxMs).toBeGreaterThanOrEqual(290);
  expect(closed.p99Ms).toBeLessThan(open.p99Ms);
  // both wait for what is in flight: every request sent is answered and counted
  expect(closed.acked + closed.failed).toBe(closed.sent);
});

describe('httpSender', () => {
  let server: Server;
  let origin: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const { kind } = JSON.parse(body) as { kind: string };
        if (kind === 'ok') res.writeHead(200, { 'content-length': 2 }).end('OK');
        else if (kind === 'other-body') res.writeHead(200, { 'content-length': 2 }).end('NO');
        else if (kind === 'error') res.writeHead(503, { 'content-length': 2 }).end('OK');
        else if (kind === 'close')
          res.writeHead(200, { 'content-length': 2, connection: 'close' }).end('OK');
        else res.writeHead(200).end('OK'); // chunked: not framed by Content-Length
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  test('acks exactly the 200 replies with the OK body, over reused and closed connections', async () => {
    const kinds = ['ok', 'other-body', 'error', 'close', 'ok', 'chunked', 'ok', 'é-ok'];
    const sender = httpSender({
      origin,
      path: () => '/callback?x=1',
      body: (i) => JSON.stringify({ kind: (kinds[i] as string).replace('é-', ''), text: 'é😀' }),
      okBody: 'OK',
      maxSockets: 2,
    });
    try {
      const results = await Promise.all(kinds.map((_, i) => sender.send(i)));
      expect(results).toEqual([true, false, false, true, true, false, true, true]);
    } finally {
      sender.close();
    }
  });
});
