import { randomInt } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Api as TlsSigApi } from 'tls-sig-api-v2/TLSSigAPIv2.js';

/**
 * Recalls one-to-one messages through Tencent's REST API `v4/openim/admin_msgwithdraw`
 * (reference file §5), as the app admin, with a UserSig from Tencent's own `tls-sig-api-v2`.
 *
 * - Client-side rate limit (GCRA, i.e. a token bucket of `burst` tokens refilled at
 *   `ratePerSecond`): every HTTP call, retries included, takes a slot, and slots are reserved
 *   synchronously, so the limit holds across concurrent `recall()` calls. Tencent allows 200
 *   calls/s per app: the limit is per process, so with N replicas give each 200/N minus a margin.
 * - Retries, with exponential backoff and jitter, up to `maxAttempts` calls in all: ErrorCode
 *   91000 (Tencent: internal error, retry), HTTP 5xx, network errors, timeouts, unreadable replies.
 * - ErrorCode 0 is `recalled`; 20023 (already recalled) is `already_recalled`, a success; any
 *   other code, or an HTTP 4xx, is `failed` at once. Tencent-side failures never throw.
 * - Nothing here logs; the URL (which carries the UserSig) never appears in an error.
 *
 * The machinery (rate limit, retries, UserSig, HTTP) is `AdminRecallClient`'s; `RecallClient`
 * is its admin_msgwithdraw request and answer, `GroupRecallClient` (group-recall.ts) its
 * group_msg_recall ones. Give both the same `RateLimiter` to hold one limit across the two APIs.
 */

export const ADMIN_MSGWITHDRAW_PATH = '/v4/openim/admin_msgwithdraw';
/** Tencent's limit for admin_msgwithdraw, per app. */
export const TENCENT_RATE_LIMIT = 200;
export const ERROR_INTERNAL_RETRY = 91000;
export const ERROR_ALREADY_RECALLED = 20023;

export interface Clock {
  /** Milliseconds; only differences are used (a monotonic clock is best). */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => delay(ms),
};

export interface RecallTarget {
  From_Account: string;
  To_Account: string;
  MsgKey: string;
}

export type RecallOutcome = 'recalled' | 'already_recalled' | 'failed';

export interface RecallResult {
  outcome: RecallOutcome;
  /** Tencent's ErrorCode of the last call, when not 0 (absent for HTTP/network failures). */
  errorCode?: number;
  /** Tencent's ErrorInfo, or the HTTP/network failure, of the last call, when not a success. */
  errorInfo?: string;
  /** HTTP calls made (1 + retries). */
  attempts: number;
}

/** How one HTTP call ended, for metrics; a bounded set. */
export type CallResult =
  | 'ok'
  | 'already_recalled'
  | 'tencent_error'
  | 'tencent_retryable'
  | 'http_error'
  | 'http_5xx'
  | 'network_error'
  | 'bad_reply';

/** Instrumentation hooks (see `createModerationMetrics`). */
export interface RecallObserver {
  /** One HTTP call to admin_msgwithdraw finished. */
  call(seconds: number, result: CallResult): void;
  /** A call waited this long for the rate limiter (0 when it did not wait). */
  rateLimitWait(seconds: number): void;
}

export interface RecallClientOptions {
  /** Scheme and host of the region's REST domain, e.g. `https://adminapisgp.im.qcloud.com`. */
  baseUrl: string;
  sdkAppId: number;
  /** An app admin account (`identifier`). */
  adminIdentifier: string;
  /** The app's secret key from the Chat console; signs the admin UserSig. */
  secretKey: string;
  /** Validity of the generated UserSig; it is renewed when half of it has passed. Default 1 day. */
  userSigTtlSeconds?: number;
  /** Calls per second, above 0 and below 200 (Tencent's limit). Default 100. */
  ratePerSecond?: number;
  /** Calls that may go back to back after a quiet spell. Default 1 (evenly spaced calls). */
  burst?: number;
  /** Calls in all for one message, first included. Default 4. */
  maxAttempts?: number;
  /** First retry waits about this long (doubling after each, with jitter). Default 200 ms. */
  backoffBaseMs?: number;
  /** Longest wait between attempts. Default 5000 ms. */
  backoffMaxMs?: number;
  /** Timeout of one HTTP call. Default 3000 ms. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  clock?: Clock;
  /** In [0, 1): jitter source. Default Math.random. */
  random?: () => number;
  /** Makes a UserSig; default Tencent's `tls-sig-api-v2`. */
  signUserSig?: (identifier: string, ttlSeconds: number) => string;
  observer?: RecallObserver;
  /** A limiter shared with another client (then `ratePerSecond` and `burst` are its). */
  limiter?: RateLimiter;
}

/**
 * Generic cell rate algorithm: a call may go at `tat - (burst - 1) * interval`, where `tat` is the
 * theoretical arrival time of the next call. Reservations are made synchronously, in call order.
 */
export class RateLimiter {
  private readonly intervalMs: number;
  private tat = Number.NEGATIVE_INFINITY;

  constructor(
    ratePerSecond: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${ratePerSecond}`);
    }
    if (!Number.isInteger(burst) || burst < 1) {
      throw new RangeError(`burst must be a positive integer, got ${burst}`);
    }
    this.intervalMs = 1000 / ratePerSecond;
  }

  /** Waits for a slot; resolves with the milliseconds waited. */
  async acquire(): Promise<number> {
    const now = this.clock.now();
    const tat = Math.max(this.tat, now);
    const wait = Math.max(0, tat - (this.burst - 1) * this.intervalMs - now);
    this.tat = tat + this.intervalMs;
    if (wait > 0) await this.clock.sleep(wait);
    return wait;
  }
}

/** How one call ended: done (with the outcome), or worth another attempt. */
export type Attempt =
  | { kind: 'done'; result: Omit<RecallResult, 'attempts'>; call: CallResult }
  | { kind: 'retry'; errorCode?: number; errorInfo: string; call: CallResult };

/** A reply of Tencent's REST API, as parsed (nothing is trusted). */
export interface TencentReply {
  ActionStatus?: unknown;
  ErrorCode?: unknown;
  ErrorInfo?: unknown;
  [field: string]: unknown;
}

/**
 * A Tencent error `code` (a top-level ErrorCode, or a per-message one): worth another attempt
 * when it is one of `retryable`, else a failed recall at once.
 */
export function tencentFailure(
  code: number,
  info: string,
  retryable: ReadonlySet<number>,
): Attempt {
  if (retryable.has(code)) {
    return { kind: 'retry', errorCode: code, errorInfo: info, call: 'tencent_retryable' };
  }
  return {
    kind: 'done',
    result: { outcome: 'failed', errorCode: code, errorInfo: info },
    call: 'tencent_error',
  };
}

/** admin_msgwithdraw codes worth another attempt. */
const C2C_RETRYABLE: ReadonlySet<number> = new Set([ERROR_INTERNAL_RETRY]);

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * One of Tencent's recall APIs, called as the app admin: rate limit, retries with backoff and
 * jitter, the UserSig, the HTTP call and its transport failures. Subclasses say what to send
 * (`body`) and what a reply with a numeric ErrorCode means (`interpret`).
 */
export abstract class AdminRecallClient<T> {
  private readonly endpoint: string;
  private readonly ttlSeconds: number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly sign: (identifier: string, ttlSeconds: number) => string;
  private readonly limiter: RateLimiter;
  private userSig: { value: string; renewAt: number } | null = null;

  constructor(
    path: string,
    private readonly options: RecallClientOptions,
  ) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new TypeError(
        `baseUrl must be an absolute URL, got ${JSON.stringify(options.baseUrl)}`,
      );
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:') {
      throw new TypeError(
        `baseUrl must be https (or http for a local stand-in), got ${base.protocol}`,
      );
    }
    this.endpoint = `${options.baseUrl.replace(/\/+$/, '')}${path}`;
    positiveInt('sdkAppId', options.sdkAppId);
    if (options.adminIdentifier === '') throw new TypeError('adminIdentifier must not be empty');
    if (options.secretKey === '') throw new TypeError('secretKey must not be empty');
    this.ttlSeconds = positiveInt('userSigTtlSeconds', options.userSigTtlSeconds ?? 86400);
    const rate = options.ratePerSecond ?? 100;
    if (!(rate > 0 && rate < TENCENT_RATE_LIMIT)) {
      throw new RangeError(
        `ratePerSecond must be above 0 and below Tencent's ${TENCENT_RATE_LIMIT}/s, got ${rate}`,
      );
    }
    this.maxAttempts = positiveInt('maxAttempts', options.maxAttempts ?? 4);
    this.backoffBaseMs = positiveInt('backoffBaseMs', options.backoffBaseMs ?? 200);
    this.backoffMaxMs = positiveInt('backoffMaxMs', options.backoffMaxMs ?? 5000);
    this.timeoutMs = positiveInt('timeoutMs', options.timeoutMs ?? 3000);
    this.fetch = options.fetch ?? globalThis.fetch;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    if (options.signUserSig !== undefined) {
      this.sign = options.signUserSig;
    } else {
      const api = new TlsSigApi(options.sdkAppId, options.secretKey);
      this.sign = (identifier, ttl) => api.genUserSig(identifier, ttl);
    }
    this.limiter = options.limiter ?? new RateLimiter(rate, options.burst ?? 1, this.clock);
  }

  /** The request body (JSON) that recalls `target`. */
  protected abstract body(target: T): string;

  /** What a reply with a numeric ErrorCode means for `target`. */
  protected abstract interpret(code: number, info: string, reply: TencentReply, target: T): Attempt;

  /** Recalls one message; resolves (never rejects) with what Tencent said. */
  async recall(target: T): Promise<RecallResult> {
    const body = this.body(target);
    let last: Extract<Attempt, { kind: 'retry' }> | null = null;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      if (attempt > 1) await this.clock.sleep(this.backoffMs(attempt - 1));
      const waited = await this.limiter.acquire();
      this.options.observer?.rateLimitWait(waited / 1000);
      const started = this.clock.now();
      const result = await this.callOnce(body, target);
      this.options.observer?.call((this.clock.now() - started) / 1000, result.call);
      if (result.kind === 'done') return { ...result.result, attempts: attempt };
      last = result;
    }
    return {
      outcome: 'failed',
      ...(last?.errorCode !== undefined ? { errorCode: last.errorCode } : {}),
      errorInfo: `gave up after ${this.maxAttempts} attempts: ${last?.errorInfo ?? 'unknown'}`,
      attempts: this.maxAttempts,
    };
  }

  /** Equal jitter: half of the exponential step, plus a random part of the other half. */
  private backoffMs(retry: number): number {
    const step = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (retry - 1));
    return step / 2 + this.random() * (step / 2);
  }

  private currentUserSig(): string {
    const now = this.clock.now();
    if (this.userSig === null || now >= this.userSig.renewAt) {
      const value = this.sign(this.options.adminIdentifier, this.ttlSeconds);
      this.userSig = { value, renewAt: now + (this.ttlSeconds * 1000) / 2 };
    }
    return this.userSig.value;
  }

  private url(): string {
    const query = new URLSearchParams({
      sdkappid: String(this.options.sdkAppId),
      identifier: this.options.adminIdentifier,
      usersig: this.currentUserSig(),
      random: String(randomInt(0, 2 ** 32)),
      contenttype: 'json',
    });
    return `${this.endpoint}?${query.toString()}`;
  }

  private async callOnce(body: string, target: T): Promise<Attempt> {
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(this.url(), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      const e = err as Error;
      const info =
        e.name === 'TimeoutError'
          ? `no reply within ${this.timeoutMs} ms`
          : `network error: ${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}`;
      return { kind: 'retry', errorInfo: info, call: 'network_error' };
    }
    if (response.status >= 500) {
      return { kind: 'retry', errorInfo: `HTTP ${response.status}`, call: 'http_5xx' };
    }
    if (response.status !== 200) {
      return {
        kind: 'done',
        result: { outcome: 'failed', errorInfo: `HTTP ${response.status}` },
        call: 'http_error',
      };
    }
    let reply: TencentReply;
    try {
      reply = JSON.parse(text) as TencentReply;
    } catch {
      return { kind: 'retry', errorInfo: 'reply is not JSON', call: 'bad_reply' };
    }
    const code = reply?.ErrorCode;
    if (typeof code !== 'number') {
      return { kind: 'retry', errorInfo: 'reply has no numeric ErrorCode', call: 'bad_reply' };
    }
    const info = typeof reply.ErrorInfo === 'string' ? reply.ErrorInfo : '';
    return this.interpret(code, info, reply, target);
  }
}

/** Recalls one-to-one messages through `admin_msgwithdraw`. */
export class RecallClient extends AdminRecallClient<RecallTarget> {
  constructor(options: RecallClientOptions) {
    super(ADMIN_MSGWITHDRAW_PATH, options);
  }

  protected body(target: RecallTarget): string {
    return JSON.stringify({
      From_Account: target.From_Account,
      To_Account: target.To_Account,
      MsgKey: target.MsgKey,
    });
  }

  protected interpret(code: number, info: string): Attempt {
    if (code === 0) return { kind: 'done', result: { outcome: 'recalled' }, call: 'ok' };
    if (code === ERROR_ALREADY_RECALLED) {
      return {
        kind: 'done',
        result: { outcome: 'already_recalled', errorCode: code, errorInfo: info },
        call: 'already_recalled',
      };
    }
    return tencentFailure(code, info, C2C_RETRYABLE);
  }
}
