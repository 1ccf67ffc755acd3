import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import express, { type NextFunction, type Request, type Response } from 'express';
import { BridgeError, isBridgeError } from '../errors';
import type { Ingest, IngestResult } from '../ingest';
import { boundedLogValue, createLogLimiter } from '../observability/log-limit';
import type { Logger } from '../observability/logger';
import type { BridgeMetrics } from '../observability/metrics';
import { platformLabel } from '../observability/platform';
import { authenticate, type AuthPolicy } from '../tencent/authenticate';
import { OTHER_COMMAND, commandLabel } from '../catalogue/catalogue';
import { OK_REPLY, failReply } from '../tencent/reply';

export interface CallbackAppDeps {
  ingest: Ingest;
  auth: AuthPolicy;
  metrics: BridgeMetrics;
  logger: Logger;
  bodyLimitBytes: number;
  /** True once shutdown began: replies then close their connection. */
  isStopping: () => boolean;
  /** Tracks work that goes on after the reply (a before-callback's record), awaited at stop. */
  afterReply?: <T>(work: Promise<T>) => Promise<T>;
  now?: () => number;
}

const JSON_TYPE = 'application/json; charset=utf-8';
/** Refusal log lines per reason in 10 s; the rest are counted (refusal_logs_suppressed_total). */
const REFUSAL_LOGS_PER_WINDOW = 20;
/** The OK reply, encoded once: the hot path writes it without Express's res.send work. */
const OK_BODY = Buffer.from(OK_REPLY, 'utf8');
const OK_HEADERS = { 'Content-Type': JSON_TYPE, 'Content-Length': String(OK_BODY.length) };

type Query = Record<string, unknown>;
/** When a request began, on its response (a property: cheaper than a WeakMap per request). */
const STARTED = Symbol('started');
type Timed = ServerResponse & { [STARTED]: bigint };
/** Express 5's `req.query` parses the query string on every read: read once, kept here. */
const queryOf = (res: Response): Query => res.locals.query as Query;

/**
 * The callback server: `POST /callback` answers OK only after the record is durable; every other
 * outcome is a Tencent-shaped FAIL with a fitting status. Thin: the work is in `ingest`.
 */
export function createCallbackApp(
  deps: CallbackAppDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { metrics, logger } = deps;
  const logLimit = createLogLimiter({ perWindow: REFUSAL_LOGS_PER_WINDOW, windowMs: 10_000 });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const refuse = (req: IncomingMessage, res: ServerResponse, err: BridgeError): void => {
    // a request that is no callback at all (another path or method) is not a refused callback
    if (err.reason === 'not_found' || err.reason === 'method_not_allowed') {
      metrics.unrouted.inc({ reason: err.reason });
    } else {
      metrics.refused.inc({ reason: err.reason });
    }
    // one line per refusal, but at most REFUSAL_LOGS_PER_WINDOW per reason and window: refusals
    // come from the internet; every one is counted in the metrics all the same
    const { log, suppressed } = logLimit.take(err.reason);
    if (log) {
      const sent = req.headers['x-request-id'];
      const requestId = typeof sent === 'string' ? boundedLogValue(sent) : randomUUID();
      const level = err.status >= 500 ? 'warn' : 'info';
      logger[level](
        {
          requestId,
          reason: err.reason,
          status: err.status,
          retriable: err.retriable,
          ...(suppressed > 0 ? { suppressedBefore: suppressed } : {}),
        },
        `callback refused: ${boundedLogValue(err.message, 300)}`,
      );
    } else {
      metrics.refusalLogsSuppressed.inc({ reason: err.reason });
    }
    if (deps.isStopping()) res.setHeader('Connection', 'close');
    const reply = Buffer.from(failReply(err.message), 'utf8');
    res
      .writeHead(err.status, { 'Content-Type': JSON_TYPE, 'Content-Length': String(reply.length) })
      .end(reply);
  };

  // timing and in-flight accounting for every request of this server (one listener function
  // for all requests, the start time on the response, the histogram's children looked up once)
  const durationByClass = new Map<number, { observe(seconds: number): void }>();
  function replied(this: ServerResponse): void {
    metrics.inFlight.dec();
    const seconds = Number(process.hrtime.bigint() - (this as Timed)[STARTED]) / 1e9;
    const statusClass = Math.floor(this.statusCode / 100);
    let child = durationByClass.get(statusClass);
    if (child === undefined) {
      child = metrics.replyDuration.labels({ status_class: `${statusClass}xx` });
      durationByClass.set(statusClass, child);
    }
    child.observe(seconds);
  }
  const begin = (res: ServerResponse): void => {
    (res as Timed)[STARTED] = process.hrtime.bigint();
    metrics.inFlight.inc();
    res.once('close', replied);
  };
  app.use((_req, res, next) => {
    begin(res);
    next();
  });

  const now = deps.now ?? Date.now;

  // every POST to /callback counts as received, whatever becomes of it
  const countReceived = (query: Query): void => {
    const { CallbackCommand: command, OptPlatform: platform } = query;
    metrics.received.inc({
      command: typeof command === 'string' ? commandLabel(command) : 'none',
      platform: platformLabel(typeof platform === 'string' ? platform : undefined),
    });
  };
  const received = (req: Request, res: Response, next: NextFunction): void => {
    const query = req.query as Query;
    res.locals.query = query;
    countReceived(query);
    next();
  };

  // who is asking is settled from the query alone, before the body is read
  const authenticated = (_req: Request, res: Response, next: NextFunction): void => {
    authenticate(queryOf(res), deps.auth, now());
    next();
  };

  app.post(
    '/callback',
    received,
    authenticated,
    express.raw({ type: () => true, limit: deps.bodyLimitBytes }),
    (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const at = req.originalUrl.indexOf('?');
      const rawQuery = at === -1 ? '' : req.originalUrl.slice(at + 1);
      return handle(res, queryOf(res), rawQuery, body);
    },
  );

  /** An authenticated callback with its body read: ingest it and answer. */
  async function handle(
    res: ServerResponse,
    query: Query,
    rawQuery: string,
    body: Buffer,
  ): Promise<void> {
    const receivedAt = now();
    const result = await deps.ingest({ query, rawQuery, body, receivedAt });
    switch (result.outcome) {
      case 'dlq':
        metrics.accepted.inc({ outcome: 'dlq' });
        countRecords(result.route?.label ?? OTHER_COMMAND, 'dlq');
        refuse(res.req, res, result.refusal);
        return;
      case 'decided':
        answerDecided(res, result);
        return;
      case 'off':
        countRecords(result.route.label, 'off');
        break;
      default:
        metrics.accepted.inc({ outcome: result.outcome });
        countRecords(result.route.label, result.outcome, result.records);
    }
    // checked at reply time: a request in flight when shutdown began closes its connection too
    if (deps.isStopping()) res.setHeader('Connection', 'close');
    res.writeHead(200, OK_HEADERS).end(OK_BODY);
  }

  /** The per-command counter's children, looked up once each (the hot path counts every call). */
  const recordCounters = new Map<string, { inc(n?: number): void }>();
  const countRecords = (command: string, outcome: string, n = 1): void => {
    const id = `${command} ${outcome}`;
    let child = recordCounters.get(id);
    if (child === undefined) {
      child = metrics.commandRecords.labels({ command, outcome });
      recordCounters.set(id, child);
    }
    child.inc(n);
  };

  /** A before-callback: the decision is the reply, now; the record is stored after it. */
  const answerDecided = (
    res: ServerResponse,
    result: Extract<IngestResult, { outcome: 'decided' }>,
  ) => {
    const { decision, route } = result;
    const command = route.label;
    metrics.beforeDecisions.inc({
      command,
      outcome: decision.Outcome,
      decided_by: decision.DecidedBy,
    });
    if (decision.UpstreamLatencyMs !== null) {
      metrics.upstreamDuration.observe({ command }, decision.UpstreamLatencyMs / 1000);
    }
    if (decision.Problem !== null) {
      const problem = decision.Problem.slice(0, decision.Problem.indexOf(':'));
      metrics.upstreamFailures.inc({ command, problem });
      const { log, suppressed } = logLimit.take(`upstream ${problem}`);
      if (log) {
        logger.warn(
          {
            command,
            problem: decision.Problem,
            answered: decision.DecidedBy,
            ...(suppressed > 0 ? { suppressedBefore: suppressed } : {}),
          },
          'the decision service failed: BEFORE_CALLBACK_ON_FAILURE answered',
        );
      }
    }
    if (deps.isStopping()) res.setHeader('Connection', 'close');
    const reply = Buffer.from(decision.Reply, 'utf8');
    res
      .writeHead(200, { 'Content-Type': JSON_TYPE, 'Content-Length': String(reply.length) })
      .end(reply);
    const publishing = result.publish();
    (deps.afterReply ? deps.afterReply(publishing) : publishing).then(
      (outcome) => countRecords(command, outcome),
      (err: unknown) => {
        countRecords(command, 'lost');
        const { log } = logLimit.take('before_callback_lost');
        if (log) {
          logger.warn(
            { command, err: boundedLogValue((err as Error).message, 300) },
            'a before-callback was answered but could not be stored (Kafka and the spool refused it)',
          );
        }
      },
    );
  };

  app.all('/callback', (req, res) => {
    res.set('Allow', 'POST');
    refuse(
      req,
      res,
      new BridgeError(`method ${req.method} is not allowed on /callback: use POST`, {
        status: 405,
        reason: 'method_not_allowed',
      }),
    );
  });

  app.use((req, res) => {
    refuse(
      req,
      res,
      new BridgeError(`no route for ${req.method} ${req.path}: callbacks go to POST /callback`, {
        status: 404,
        reason: 'not_found',
      }),
    );
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    refuse(req, res, toBridgeError(err, logger));
  });

  /**
   * The hot path, outside Express: a POST to exactly /callback without Content-Encoding (every
   * callback Tencent sends) is timed, counted, authenticated, read and handled here, with the
   * same steps and answers as the Express route above, which takes every other request (profiled:
   * Express's routing and body parser cost ~10 % of the bridge's CPU per callback).
   */
  const fast = (req: IncomingMessage, res: ServerResponse): void => {
    begin(res);
    const url = req.url as string;
    const at = url.indexOf('?');
    const rawQuery = at === -1 ? '' : url.slice(at + 1);
    // Express's default ("simple") query parser
    const query = parseQueryString(rawQuery) as Query;
    countReceived(query);
    const fail = (err: unknown) => refuse(req, res, toBridgeError(err, logger));
    try {
      authenticate(query, deps.auth, now());
    } catch (err) {
      fail(err);
      return;
    }
    readBody(req, deps.bodyLimitBytes).then(
      (body) => handle(res, query, rawQuery, body).catch(fail),
      fail,
    );
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    if (
      req.method === 'POST' &&
      isPlainCallbackUrl(req.url) &&
      !('content-encoding' in req.headers)
    )
      fast(req, res);
    else app(req, res);
  };
}

/**
 * `/callback` or `/callback?<query>`, with none of the characters that make Express's URL parser
 * (parseurl) take the slow path or read the URL otherwise (a fragment, whitespace).
 */
const PLAIN_CALLBACK_URL = /^\/callback(?:\?[^\t\n\f\r #\u00a0\ufeff]*)?$/;
const isPlainCallbackUrl = (url: string | undefined): boolean =>
  url !== undefined && PLAIN_CALLBACK_URL.test(url);

/** An error shaped like body-parser's, for toBridgeError. */
const bodyError = (type: string, message: string, extra: object = {}) =>
  Object.assign(new Error(message), { type, ...extra });

/**
 * The request body, as express.raw reads it: none when the request declares none; refused
 * (entity.too.large) beyond `limit`, after the rest is read off so the connection stays usable;
 * request.aborted when the client goes away first.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared === undefined && req.headers['transfer-encoding'] === undefined) {
    return Promise.resolve(Buffer.alloc(0));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let tooLarge = declared !== undefined && Number(declared) > limit;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('aborted', onAborted);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      if (tooLarge) reject(bodyError('entity.too.large', 'request entity too large', { limit }));
      else resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received));
    };
    const onAborted = () => {
      cleanup();
      reject(bodyError('request.aborted', 'request aborted'));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(bodyError('request.aborted', err.message));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onAborted);
    req.on('error', onError);
  });
}

/** body-parser's errors and anything unexpected, as BridgeErrors. */
function toBridgeError(err: unknown, logger: Logger): BridgeError {
  if (isBridgeError(err)) return err;
  const e = err as { type?: string; status?: number; limit?: number; message?: string };
  switch (e.type) {
    case 'entity.too.large':
      return new BridgeError(`body is larger than the limit of ${e.limit} bytes`, {
        status: 413,
        reason: 'too_large',
      });
    case 'encoding.unsupported':
      return new BridgeError(`unsupported Content-Encoding: ${e.message}`, {
        status: 415,
        reason: 'unsupported_media',
      });
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new BridgeError(`the request body could not be read: ${e.message}`, {
        status: 400,
        reason: 'malformed_json',
      });
    default:
      if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
        return new BridgeError(e.message ?? 'bad request', { status: e.status, reason: 'invalid' });
      }
      logger.error({ err }, 'unexpected error while handling a callback');
      return new BridgeError('internal error', {
        status: 500,
        reason: 'internal',
        retriable: true,
      });
  }
}
