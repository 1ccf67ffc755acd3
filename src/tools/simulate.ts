import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import {
  parseSimulateArgs,
  USAGE,
  UsageError,
  DEFAULT_COMMAND,
  type SimulateOptions,
} from './simulate-args';
import {
  createSigner,
  curlCommand,
  RequestPlan,
  urlPrefix,
  type SimRequest,
} from './simulate-plan';
import {
  classifyError,
  classifyReply,
  exitCodeOf,
  summaryText,
  Tally,
  TimeoutError,
  type Outcome,
  type SimulateSummary,
} from './simulate-report';

/**
 * `npm run simulate`: sends Tencent-shaped, signed callbacks to a bridge, local or deployed, to
 * demo it, smoke-test a deployment or load its cluster (docs/simulate.md). The callbacks come from
 * the benchmark's generator and the fixtures (src/tools/callback-mix.ts); options in
 * simulate-args.ts, requests in simulate-plan.ts, counting and reporting in simulate-report.ts.
 * It needs nothing but the URL (and the token): no Kafka, no local stack.
 */

export interface RunIo {
  /** Progress lines (stderr). */
  progress: (line: string) => void;
  /** Whether progress overwrites one line (a terminal). */
  tty: boolean;
}

export interface Running {
  /** Resolves with the summary once every request in flight is answered. */
  done: Promise<SimulateSummary>;
  /** Stops sending (Ctrl-C); the requests in flight are still awaited. */
  stop(): void;
}

interface Reply {
  status: number;
  text: string;
}

/** POSTs over keep-alive connections (at most `sockets`), http or https. */
function createSender(url: string, sockets: number, timeoutMs: number) {
  const u = new URL(url);
  const https = u.protocol === 'https:';
  const agent = https
    ? new HttpsAgent({ keepAlive: true, maxSockets: sockets })
    : new HttpAgent({ keepAlive: true, maxSockets: sockets });
  const request = https ? httpsRequest : httpRequest;
  const hostname = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port === '' ? (https ? 443 : 80) : Number(u.port);
  const origin = `${u.protocol}//${u.host}`;
  return {
    post(fullUrl: string, body: string): Promise<Reply> {
      const payload = Buffer.from(body, 'utf8');
      return new Promise<Reply>((resolve, reject) => {
        const req = request(
          {
            hostname,
            port,
            path: fullUrl.slice(origin.length),
            method: 'POST',
            agent,
            headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              clearTimeout(timer);
              resolve({
                status: res.statusCode ?? 0,
                text: Buffer.concat(chunks).toString('utf8'),
              });
            });
            res.on('error', (err) => {
              clearTimeout(timer);
              reject(err);
            });
          },
        );
        const timer = setTimeout(() => req.destroy(new TimeoutError(timeoutMs)), timeoutMs);
        req.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        req.end(payload);
      });
    },
    close(): void {
      agent.destroy();
    },
  };
}

/** A MsgKey prefix no other run has (base-36 milliseconds). */
export function newRunId(): string {
  return `sim${Date.now().toString(36)}`;
}

/** Starts sending as the options say; the summary comes when it is done or stopped. */
export function simulate(options: SimulateOptions, io: RunIo, runId = newRunId()): Running {
  const plan = new RequestPlan({ ...options, runId });
  const prefix = urlPrefix(options.url);
  const signed = createSigner(options.token);
  const sender = createSender(options.url, options.concurrency, options.timeoutMs);
  const tally = new Tally();
  const { rate, count } = options;
  const gapMs = rate > 0 ? 1000 / rate : 0;
  const started = performance.now();
  const startedWall = Date.now();
  const deadline =
    options.durationSeconds > 0 ? started + options.durationSeconds * 1000 : Infinity;
  let stopping = false;
  let interrupted = false;
  const sleepers = new Set<() => void>();

  const sleepUntil = (at: number): Promise<void> => {
    const ms = at - performance.now();
    if (ms < 1) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });
  };

  const send = async (r: SimRequest, from: number): Promise<void> => {
    tally.onSent(r);
    let outcome: Outcome;
    try {
      const reply = await sender.post(`${prefix}${r.query}${signed(Date.now())}`, r.body);
      outcome = classifyReply(reply.status, reply.text, r.before);
    } catch (err) {
      outcome = classifyError(err);
    }
    tally.onAnswer(r, outcome, performance.now() - from);
  };

  // `concurrency` workers take the requests in order; at a fixed rate each waits for its
  // request's time, and its latency counts from then (a slow answer delays what follows)
  const worker = async (): Promise<void> => {
    for (;;) {
      if (stopping || (count !== undefined && plan.taken >= count)) return;
      const due = gapMs > 0 ? started + plan.taken * gapMs : performance.now();
      if (due >= deadline) return;
      const r = plan.take(startedWall + (due - started));
      if (gapMs > 0) await sleepUntil(due);
      if (stopping) return;
      await send(r, due);
    }
  };

  let lastLine = started;
  const ticker = setInterval(() => {
    const now = performance.now();
    io.progress(tally.progressLine((now - started) / 1000, (now - lastLine) / 1000));
    lastLine = now;
  }, 1000);

  const done = Promise.all(Array.from({ length: options.concurrency }, worker)).then(() => {
    clearInterval(ticker);
    const seconds = (performance.now() - started) / 1000;
    io.progress(tally.progressLine(seconds, (performance.now() - lastLine) / 1000));
    sender.close();
    return tally.summary({
      url: options.url,
      runId,
      seed: options.seed,
      commands: options.commands,
      seconds,
      interrupted,
    });
  });

  return {
    done,
    stop() {
      interrupted = true;
      stopping = true;
      for (const wake of [...sleepers]) wake();
    },
  };
}

/** The first request the options make, as a curl command (signed for now). */
export function dryRun(options: SimulateOptions, runId = newRunId()): string {
  const plan = new RequestPlan({ ...options, runId });
  const r = plan.take(Date.now());
  return curlCommand(
    `${urlPrefix(options.url)}${r.query}${createSigner(options.token)(Date.now())}`,
    r.body,
  );
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseSimulateArgs(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(
      `simulate: ${err.message}\n(npm run simulate -- --help lists the options)\n`,
    );
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { options } = parsed;
  if (options.dryRun) {
    process.stdout.write(`${dryRun(options)}\n`);
    return 0;
  }
  const tty = process.stderr.isTTY === true;
  const io: RunIo = {
    tty,
    progress: options.quiet
      ? () => undefined
      : (line) => process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`),
  };
  if (!options.quiet) {
    const what =
      options.commands.length === 1 ? options.commands[0] : `${options.commands.length} commands`;
    process.stderr.write(
      `simulate: ${what === DEFAULT_COMMAND ? 'the C2C.CallbackAfterSendMsg mix' : what} to ${options.url}, ` +
        `${options.rate > 0 ? `${options.rate}/s` : 'as fast as allowed'}, ${options.concurrency} in flight at most, ` +
        `${options.count !== undefined ? `${options.count} requests` : ''}${options.count !== undefined && options.durationSeconds > 0 ? ' or ' : ''}` +
        `${options.durationSeconds > 0 ? `${options.durationSeconds} s` : options.count === undefined ? 'until Ctrl-C' : ''}` +
        `${options.token === undefined ? ' (unsigned: no --token)' : ''}\n`,
    );
  }
  const running = simulate(options, io);
  let signals = 0;
  process.on('SIGINT', () => {
    if (++signals > 1) process.exit(130);
    running.stop();
  });
  const summary = await running.done;
  if (tty && !options.quiet) process.stderr.write('\n');
  process.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : summaryText(summary));
  return exitCodeOf(summary);
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`simulate: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
