import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * The benchmark's one load generator, for every system and both modes, so that every figure is
 * measured the same way:
 * - closed loop: `concurrency` clients, each sending its next callback once the last is answered
 *   (finds the maximum throughput);
 * - open loop: callbacks sent on a fixed schedule whatever the answers, each latency measured
 *   from its *intended* send time (as wrk2 does), so that a stalled server cannot hide the
 *   queueing behind it (coordinated omission).
 * Both stop issuing at the deadline and then wait for every request in flight, so the acked
 * count is exact and can be checked against the topic.
 */

/** One callback: resolves true when it was acknowledged (OK reply, or Kafka's ack). */
export type Send = (i: number) => Promise<boolean>;

export interface LoadResult {
  mode: 'closed' | 'open';
  /** closed loop: clients */
  concurrency?: number;
  /** open loop: intended callbacks per second */
  rate?: number;
  /** From the first send to the last answer. */
  seconds: number;
  sent: number;
  acked: number;
  /** Answered, but not OK (or the send threw). */
  failed: number;
  /** Open loop: not sent because `maxOutstanding` requests were already waiting. */
  dropped: number;
  ackedPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** Latencies of answered requests, and the counts. */
class Tally {
  private latencies = new Float64Array(1 << 16);
  private n = 0;
  sent = 0;
  acked = 0;
  failed = 0;
  dropped = 0;

  add(ms: number, ok: boolean): void {
    if (ok) this.acked++;
    else this.failed++;
    if (this.n === this.latencies.length) {
      const bigger = new Float64Array(this.n * 2);
      bigger.set(this.latencies);
      this.latencies = bigger;
    }
    this.latencies[this.n++] = ms;
  }

  result(mode: LoadResult['mode'], seconds: number): Omit<LoadResult, 'concurrency' | 'rate'> {
    const sorted = this.latencies.subarray(0, this.n).sort();
    return {
      mode,
      seconds,
      sent: this.sent,
      acked: this.acked,
      failed: this.failed,
      dropped: this.dropped,
      ackedPerSecond: seconds > 0 ? this.acked / seconds : 0,
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
      p999Ms: percentile(sorted, 0.999),
      maxMs: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : 0,
    };
  }
}

/** Nearest-rank percentile of sorted values (0 when there are none). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return round(sorted[rank - 1] as number);
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

/** Settles a send as acked or failed (a throw is a failure: the generator never stops on it). */
async function attempt(send: Send, i: number): Promise<boolean> {
  try {
    return await send(i);
  } catch {
    return false;
  }
}

export interface ClosedLoopOptions {
  send: Send;
  concurrency: number;
  seconds: number;
  /** First request number (each request's number makes its callback unique). */
  firstIndex?: number;
}

export async function closedLoop(opts: ClosedLoopOptions): Promise<LoadResult> {
  const tally = new Tally();
  let next = opts.firstIndex ?? 0;
  const started = performance.now();
  const deadline = started + opts.seconds * 1000;
  const client = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      tally.sent++;
      const ok = await attempt(opts.send, next++);
      tally.add(performance.now() - t0, ok);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, client));
  const seconds = (performance.now() - started) / 1000;
  return { ...tally.result('closed', seconds), concurrency: opts.concurrency };
}

export interface OpenLoopOptions {
  send: Send;
  /** Callbacks per second. */
  rate: number;
  seconds: number;
  /** More requests than this waiting: the next ones are dropped (counted, never sent). */
  maxOutstanding?: number;
  firstIndex?: number;
}

export async function openLoop(opts: OpenLoopOptions): Promise<LoadResult> {
  const tally = new Tally();
  const total = Math.round(opts.rate * opts.seconds);
  const gapMs = 1000 / opts.rate;
  const maxOutstanding = opts.maxOutstanding ?? 4096;
  const first = opts.firstIndex ?? 0;
  let issued = 0;
  let outstanding = 0;
  let lastAnswer = 0;
  const started = performance.now();
  let allAnswered: (() => void) | undefined;
  const done = new Promise<void>((resolve) => (allAnswered = resolve));

  const fire = (k: number): void => {
    const intended = started + k * gapMs;
    if (outstanding >= maxOutstanding) {
      tally.dropped++;
      return;
    }
    outstanding++;
    tally.sent++;
    void attempt(opts.send, first + k).then((ok) => {
      const now = performance.now();
      tally.add(now - intended, ok);
      lastAnswer = now;
      if (--outstanding === 0 && issued === total) allAnswered?.();
    });
  };

  // every millisecond, send whatever the schedule says is due (a late tick sends its backlog at
  // once, and their latencies still count from when they were due)
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - started) / gapMs) + 1);
      while (issued < due) fire(issued++);
      if (issued === total) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, 1);
    tick();
  });
  if (outstanding > 0) await done;
  const seconds = ((lastAnswer || performance.now()) - started) / 1000;
  return { ...tally.result('open', seconds), rate: opts.rate };
}

export interface HttpTarget {
  /** e.g. http://127.0.0.1:8080 */
  origin: string;
  /** Path and query of request `i` (the bridge's are signed, and the signature moves each second). */
  path: (i: number) => string;
  /** Body of request `i`. */
  body: (i: number) => string;
  /** The reply body that means acknowledged (with status 200). */
  okBody: string;
  /** Keep-alive connections at most. */
  maxSockets: number;
  timeoutMs?: number;
}

interface Exchange {
  request: Buffer;
  resolve: (ok: boolean) => void;
}

/**
 * POSTs over a pool of keep-alive HTTP/1.1 connections, one request at a time on each (no
 * pipelining). A lean client on raw sockets, as autocannon's: node:http's client costs more CPU
 * per request than the bridge itself, and the generator shares the machine's two cores with what
 * it measures. It reads what the systems under test send: a status line, headers with a
 * Content-Length, a body; anything else (chunked, a closed connection) counts as a failure.
 */
export function httpSender(target: HttpTarget): { send: Send; close(): void } {
  const url = new URL(target.origin);
  const port = Number(url.port);
  const host = url.hostname;
  const okBody = Buffer.from(target.okBody, 'utf8');
  const timeoutMs = target.timeoutMs ?? 10000;
  const idle: Connection[] = [];
  const waiting: Exchange[] = [];
  let open = 0;
  let closed = false;

  class Connection {
    private readonly socket: Socket;
    private current: Exchange | undefined;
    private chunks: Buffer[] = [];
    private received = 0;
    private timer: NodeJS.Timeout | undefined;

    constructor() {
      open++;
      this.socket = connect({ host, port, noDelay: true });
      this.socket.on('data', (d: Buffer) => this.onData(d));
      this.socket.on('error', () => undefined);
      this.socket.on('close', () => {
        open--;
        const i = idle.indexOf(this);
        if (i >= 0) idle.splice(i, 1);
        this.finish(false, false);
        pump();
      });
    }

    run(x: Exchange): void {
      this.current = x;
      this.chunks = [];
      this.received = 0;
      this.timer = setTimeout(() => this.socket.destroy(), timeoutMs);
      this.socket.write(x.request);
    }

    private onData(d: Buffer): void {
      if (this.current === undefined) return;
      this.chunks.push(d);
      this.received += d.length;
      const all = this.chunks.length === 1 ? d : Buffer.concat(this.chunks, this.received);
      this.chunks = [all];
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = all.toString('latin1', 0, end);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (length === null) {
        this.socket.destroy(); // not a response we can frame: a failure (see above)
        return;
      }
      const bodyStart = end + 4;
      const bodyEnd = bodyStart + Number(length[1]);
      if (all.length < bodyEnd) return;
      const ok = head.startsWith('HTTP/1.1 200') && all.subarray(bodyStart, bodyEnd).equals(okBody);
      const keep = !/\r\nconnection: *close/i.test(head);
      this.finish(ok, keep);
      if (!keep) this.socket.destroy();
    }

    private finish(ok: boolean, reusable: boolean): void {
      clearTimeout(this.timer);
      const x = this.current;
      this.current = undefined;
      if (reusable && !closed) {
        const next = waiting.shift();
        if (next) this.run(next);
        else idle.push(this);
      }
      x?.resolve(ok);
    }

    destroy(): void {
      this.socket.destroy();
    }
  }

  const all: Connection[] = [];
  const pump = (): void => {
    while (!closed && waiting.length > 0) {
      const c = idle.pop();
      if (c) c.run(waiting.shift() as Exchange);
      else if (open < target.maxSockets) {
        const fresh = new Connection();
        all.push(fresh);
        fresh.run(waiting.shift() as Exchange);
      } else return;
    }
  };

  const prefix = `POST `;
  const suffix = ` HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: `;
  const send: Send = (i) =>
    new Promise<boolean>((resolve) => {
      if (closed) {
        resolve(false);
        return;
      }
      const body = target.body(i);
      const request = Buffer.from(
        `${prefix}${target.path(i)}${suffix}${Buffer.byteLength(body)}\r\n\r\n${body}`,
        'utf8',
      );
      waiting.push({ request, resolve });
      pump();
    });
  return {
    send,
    close() {
      closed = true;
      for (const x of waiting.splice(0)) x.resolve(false);
      for (const c of all) c.destroy();
    },
  };
}
