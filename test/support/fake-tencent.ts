import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateSync } from 'node:zlib';

/**
 * A local stand-in for Tencent's REST API `v4/openim/admin_msgwithdraw` (reference file §5). It
 * checks every request as strictly as the doc allows and verifies the UserSig on its own (not
 * with tls-sig-api-v2): Tencent's base64 variant undone, zlib inflated, JSON, then TLS.sig =
 * base64(HMAC-SHA256(secret, "TLS.identifier:..\nTLS.sdkappid:..\nTLS.time:..\nTLS.expire:..\n"))
 * and not expired. A request failing a check gets a Tencent-shaped FAIL (HTTP 200, a 60002 /
 * 7000x / 900xx ErrorCode) and is recorded with the reason. Good requests get the next step of
 * the MsgKey's script (an ErrorCode, an HTTP status, or a delayed answer); the last step repeats;
 * an unscripted MsgKey gets ErrorCode 0.
 */

export type ScriptStep = number | { httpStatus: number } | { delayMs: number; code: number };

export interface FakeTencentCall {
  /** performance.now() when the request arrived. */
  at: number;
  method: string;
  path: string;
  query: Record<string, string[]>;
  body: unknown;
  msgKey: string | null;
  /** Why the request was refused, or null when it passed every check. */
  checkFailure: string | null;
  /** What was answered: an HTTP status other than 200, or Tencent's ErrorCode. */
  answer: { httpStatus: number; errorCode: number | null };
}

export interface FakeTencent {
  /** e.g. `http://127.0.0.1:41234`, to give to RecallClient as `baseUrl`. */
  baseUrl: string;
  calls: FakeTencentCall[];
  /** Sets what the next requests for `msgKey` get, in order (the last step repeats). */
  script(msgKey: string, steps: ScriptStep[]): void;
  callsFor(msgKey: string): FakeTencentCall[];
  close(): Promise<void>;
}

export interface FakeTencentOptions {
  sdkAppId: number;
  adminIdentifier: string;
  secretKey: string;
  /** Wall clock (Unix ms) for the UserSig's expiry. Default Date.now. */
  now?: () => number;
}

export const PATH = '/v4/openim/admin_msgwithdraw';
export const BAD_REQUEST = 60002;
export const USERSIG_EXPIRED = 70001;
export const USERSIG_INVALID = 70003;
export const USERSIG_MISMATCH = 70009;
export const BODY_NOT_JSON = 90001;
export const BAD_BODY = 90054;

const QUERY_KEYS = ['sdkappid', 'identifier', 'usersig', 'random', 'contenttype'];

class CheckFailed extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Decodes and verifies a UserSig independently of tls-sig-api-v2; throws CheckFailed. */
export function verifyUserSig(
  userSig: string,
  expected: { sdkAppId: number; identifier: string; secretKey: string; nowMs: number },
): Record<string, unknown> {
  let doc: Record<string, unknown>;
  try {
    const b64 = userSig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
    doc = JSON.parse(inflateSync(Buffer.from(b64, 'base64')).toString('utf8')) as Record<
      string,
      unknown
    >;
  } catch (err) {
    throw new CheckFailed(USERSIG_INVALID, `usersig does not decode: ${(err as Error).message}`);
  }
  const id = doc['TLS.identifier'];
  const appId = doc['TLS.sdkappid'];
  const time = doc['TLS.time'];
  const expire = doc['TLS.expire'];
  const sig = doc['TLS.sig'];
  if (doc['TLS.ver'] !== '2.0') throw new CheckFailed(USERSIG_INVALID, 'TLS.ver is not "2.0"');
  if (id !== expected.identifier) {
    throw new CheckFailed(USERSIG_MISMATCH, `TLS.identifier ${String(id)} is not the identifier`);
  }
  if (appId !== expected.sdkAppId) {
    throw new CheckFailed(USERSIG_MISMATCH, `TLS.sdkappid ${String(appId)} is not the sdkappid`);
  }
  if (typeof time !== 'number' || typeof expire !== 'number' || typeof sig !== 'string') {
    throw new CheckFailed(USERSIG_INVALID, 'TLS.time, TLS.expire or TLS.sig missing');
  }
  const content =
    `TLS.identifier:${id}\nTLS.sdkappid:${appId}\nTLS.time:${time}\nTLS.expire:${expire}\n` +
    (typeof doc['TLS.userbuf'] === 'string' ? `TLS.userbuf:${doc['TLS.userbuf']}\n` : '');
  const want = createHmac('sha256', expected.secretKey).update(content).digest();
  const got = Buffer.from(sig, 'base64');
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    throw new CheckFailed(USERSIG_MISMATCH, 'TLS.sig does not verify with the secret key');
  }
  const nowSeconds = expected.nowMs / 1000;
  if (time + expire < nowSeconds) throw new CheckFailed(USERSIG_EXPIRED, 'usersig expired');
  if (time > nowSeconds + 300) throw new CheckFailed(USERSIG_INVALID, 'TLS.time in the future');
  return doc;
}

function checkQuery(query: URLSearchParams, options: FakeTencentOptions, nowMs: number): void {
  const keys = [...query.keys()];
  const unexpected = keys.filter((k) => !QUERY_KEYS.includes(k));
  if (unexpected.length > 0) {
    throw new CheckFailed(BAD_REQUEST, `unexpected query parameter(s) ${unexpected.join(', ')}`);
  }
  for (const k of QUERY_KEYS) {
    const n = query.getAll(k).length;
    if (n !== 1) throw new CheckFailed(BAD_REQUEST, `query parameter ${k} appears ${n} times`);
  }
  if (query.get('sdkappid') !== String(options.sdkAppId)) {
    throw new CheckFailed(BAD_REQUEST, `sdkappid is ${query.get('sdkappid')}`);
  }
  if (query.get('identifier') !== options.adminIdentifier) {
    throw new CheckFailed(BAD_REQUEST, `identifier is ${query.get('identifier')}, not the admin`);
  }
  const random = query.get('random') ?? '';
  if (!/^\d{1,10}$/.test(random) || Number(random) > 4294967295) {
    throw new CheckFailed(BAD_REQUEST, `random ${random} is not a 32-bit unsigned integer`);
  }
  if (query.get('contenttype') !== 'json') {
    throw new CheckFailed(BAD_REQUEST, `contenttype is ${query.get('contenttype')}, not json`);
  }
  verifyUserSig(query.get('usersig') ?? '', {
    sdkAppId: options.sdkAppId,
    identifier: options.adminIdentifier,
    secretKey: options.secretKey,
    nowMs,
  });
}

function checkBody(text: string): { body: unknown; msgKey: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CheckFailed(BODY_NOT_JSON, 'body is not JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new CheckFailed(BODY_NOT_JSON, 'body is not a JSON object');
  }
  const fields = ['From_Account', 'To_Account', 'MsgKey'];
  const keys = Object.keys(body).sort();
  if (keys.join(',') !== [...fields].sort().join(',')) {
    throw new CheckFailed(BAD_BODY, `body fields are ${keys.join(', ')}, not ${fields.join(', ')}`);
  }
  const record = body as Record<string, unknown>;
  for (const f of fields) {
    if (typeof record[f] !== 'string' || record[f] === '') {
      throw new CheckFailed(BAD_BODY, `body field ${f} is not a non-empty string`);
    }
  }
  return { body, msgKey: record.MsgKey as string };
}

function reply(res: ServerResponse, code: number, info: string): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({ ActionStatus: code === 0 ? 'OK' : 'FAIL', ErrorCode: code, ErrorInfo: info }),
  );
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeTencent(options: FakeTencentOptions): Promise<FakeTencent> {
  const now = options.now ?? Date.now;
  const calls: FakeTencentCall[] = [];
  const scripts = new Map<string, ScriptStep[]>();

  const nextStep = (msgKey: string): ScriptStep => {
    const steps = scripts.get(msgKey);
    if (steps === undefined || steps.length === 0) return 0;
    return steps.length > 1 ? (steps.shift() as ScriptStep) : (steps[0] as ScriptStep);
  };

  const server = createServer((req, res) => {
    const at = performance.now();
    const url = new URL(req.url ?? '/', 'http://fake');
    const call: FakeTencentCall = {
      at,
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(
        [...new Set(url.searchParams.keys())].map((k) => [k, url.searchParams.getAll(k)]),
      ),
      body: null,
      msgKey: null,
      checkFailure: null,
      answer: { httpStatus: 200, errorCode: null },
    };
    calls.push(call);
    void (async () => {
      const text = await readBody(req);
      let msgKey: string;
      try {
        if (req.method !== 'POST') throw new CheckFailed(BAD_REQUEST, `method ${req.method}`);
        if (url.pathname !== PATH) throw new CheckFailed(BAD_REQUEST, `path ${url.pathname}`);
        checkQuery(url.searchParams, options, now());
        const checked = checkBody(text);
        call.body = checked.body;
        call.msgKey = msgKey = checked.msgKey;
      } catch (err) {
        if (!(err instanceof CheckFailed)) throw err;
        call.checkFailure = err.message;
        call.answer.errorCode = err.code;
        reply(res, err.code, err.message);
        return;
      }
      const step = nextStep(msgKey);
      if (typeof step === 'number') {
        call.answer.errorCode = step;
        reply(res, step, step === 0 ? '' : `scripted error ${step}`);
      } else if ('httpStatus' in step) {
        call.answer.httpStatus = step.httpStatus;
        res.writeHead(step.httpStatus, { 'content-type': 'text/plain' });
        res.end(`scripted HTTP ${step.httpStatus}`);
      } else {
        call.answer.errorCode = step.code;
        setTimeout(() => {
          if (!res.destroyed) reply(res, step.code, step.code === 0 ? '' : 'scripted delay');
        }, step.delayMs).unref();
      }
    })().catch((err: unknown) => {
      res.destroy(err instanceof Error ? err : new Error(String(err)));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    calls,
    script(msgKey, steps) {
      scripts.set(msgKey, [...steps]);
    },
    callsFor: (msgKey) => calls.filter((c) => c.msgKey === msgKey),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
