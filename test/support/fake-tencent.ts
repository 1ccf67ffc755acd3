import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateSync } from 'node:zlib';

/**
 * A local stand-in for Tencent's REST APIs `v4/openim/admin_msgwithdraw` (reference file §5) and
 * `v4/group_open_http_svc/group_msg_recall` ("Recalling Group Messages", 1047/34965). It checks
 * every request as strictly as the docs allow and verifies the UserSig on its own (not with
 * tls-sig-api-v2): Tencent's base64 variant undone, zlib inflated, JSON, then TLS.sig =
 * base64(HMAC-SHA256(secret, "TLS.identifier:..\nTLS.sdkappid:..\nTLS.time:..\nTLS.expire:..\n"))
 * and not expired. A request failing a check gets a Tencent-shaped FAIL (HTTP 200, a 60002 /
 * 7000x / 900xx / 10004 ErrorCode) and is recorded with the reason.
 *
 * Good requests get the next step of their script (the last step repeats):
 * - admin_msgwithdraw, scripted by MsgKey: an ErrorCode, an HTTP status, or a delayed answer;
 *   unscripted: ErrorCode 0.
 * - group_msg_recall, scripted by `groupScriptKey(GroupId, MsgSeq)` of the first MsgSeq: a number
 *   is that message's RetCode in `RecallRetList` under a top-level OK (as in Tencent's sample,
 *   where one MsgSeq fails beside a recalled one); `{ errorCode }` a top-level FAIL without
 *   `RecallRetList`; an HTTP status or a delayed answer as above; unscripted: every MsgSeq
 *   RetCode 0. The body must be `{GroupId, MsgSeqList: [{MsgSeq}] (1 to 10, unsigned 32-bit),
 *   TopicId?, Reason?}`; a TopicId must name a topic of that group (`<GroupId>@TOPIC#...`, the
 *   form of Tencent's topic ids).
 */

export type ScriptStep =
  number | { httpStatus: number } | { delayMs: number; code: number } | { errorCode: number };

/** What a group_msg_recall request asked for (when it passed the checks). */
export interface GroupRecallRequest {
  GroupId: string;
  MsgSeq: number[];
  TopicId: string | null;
}

export interface FakeTencentCall {
  /** performance.now() when the request arrived. */
  at: number;
  method: string;
  path: string;
  query: Record<string, string[]>;
  body: unknown;
  msgKey: string | null;
  /** For group_msg_recall: what it asked to recall. */
  group: GroupRecallRequest | null;
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
  /** Sets what the next group_msg_recall requests for this message get. */
  scriptGroup(groupId: string, msgSeq: number, steps: ScriptStep[]): void;
  /** The group_msg_recall requests that asked for this message. */
  groupCallsFor(groupId: string, msgSeq: number): FakeTencentCall[];
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
export const GROUP_PATH = '/v4/group_open_http_svc/group_msg_recall';
/** Group APIs: invalid parameter. */
export const GROUP_BAD_PARAMETER = 10004;
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

const U32_MAX = 4294967295;

function checkGroupBody(text: string): { body: unknown; group: GroupRecallRequest } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CheckFailed(BODY_NOT_JSON, 'body is not JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new CheckFailed(BODY_NOT_JSON, 'body is not a JSON object');
  }
  const record = body as Record<string, unknown>;
  const allowed = ['GroupId', 'MsgSeqList', 'TopicId', 'Reason'];
  const unexpected = Object.keys(record).filter((k) => !allowed.includes(k));
  if (unexpected.length > 0) {
    throw new CheckFailed(GROUP_BAD_PARAMETER, `unexpected body field(s) ${unexpected.join(', ')}`);
  }
  const groupId = record.GroupId;
  if (typeof groupId !== 'string' || groupId === '') {
    throw new CheckFailed(GROUP_BAD_PARAMETER, 'GroupId is not a non-empty string');
  }
  const list = record.MsgSeqList;
  if (!Array.isArray(list) || list.length < 1 || list.length > 10) {
    throw new CheckFailed(GROUP_BAD_PARAMETER, 'MsgSeqList is not an array of 1 to 10 entries');
  }
  const seqs = list.map((item: unknown) => {
    const keys = item !== null && typeof item === 'object' ? Object.keys(item) : [];
    const seq = (item as { MsgSeq?: unknown } | null)?.MsgSeq;
    if (
      keys.join(',') !== 'MsgSeq' ||
      !Number.isInteger(seq) ||
      (seq as number) < 0 ||
      (seq as number) > U32_MAX
    ) {
      throw new CheckFailed(
        GROUP_BAD_PARAMETER,
        'MsgSeqList entries must be {"MsgSeq": <unsigned 32-bit integer>}',
      );
    }
    return seq as number;
  });
  const topicId = record.TopicId;
  if (topicId !== undefined) {
    if (typeof topicId !== 'string' || !topicId.startsWith(`${groupId}@TOPIC#`)) {
      throw new CheckFailed(GROUP_BAD_PARAMETER, `TopicId is not a topic of ${groupId}`);
    }
  }
  const reason = record.Reason;
  if (reason !== undefined && (typeof reason !== 'string' || Buffer.byteLength(reason) > 100)) {
    throw new CheckFailed(GROUP_BAD_PARAMETER, 'Reason is not a string of at most 100 bytes');
  }
  return {
    body,
    group: {
      GroupId: groupId,
      MsgSeq: seqs,
      TopicId: typeof topicId === 'string' ? topicId : null,
    },
  };
}

/** The script key of a group message. */
export function groupScriptKey(groupId: string, msgSeq: number): string {
  return `group ${JSON.stringify([groupId, msgSeq])}`;
}

function reply(
  res: ServerResponse,
  code: number,
  info: string,
  extra: Record<string, unknown> = {},
): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      ActionStatus: code === 0 ? 'OK' : 'FAIL',
      ErrorCode: code,
      ErrorInfo: info,
      ...extra,
    }),
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
      group: null,
      checkFailure: null,
      answer: { httpStatus: 200, errorCode: null },
    };
    calls.push(call);
    void (async () => {
      const text = await readBody(req);
      let scriptKey: string;
      try {
        if (req.method !== 'POST') throw new CheckFailed(BAD_REQUEST, `method ${req.method}`);
        if (url.pathname !== PATH && url.pathname !== GROUP_PATH) {
          throw new CheckFailed(BAD_REQUEST, `path ${url.pathname}`);
        }
        checkQuery(url.searchParams, options, now());
        if (url.pathname === PATH) {
          const checked = checkBody(text);
          call.body = checked.body;
          call.msgKey = scriptKey = checked.msgKey;
        } else {
          const checked = checkGroupBody(text);
          call.body = checked.body;
          call.group = checked.group;
          scriptKey = groupScriptKey(checked.group.GroupId, checked.group.MsgSeq[0] as number);
        }
      } catch (err) {
        if (!(err instanceof CheckFailed)) throw err;
        call.checkFailure = err.message;
        call.answer.errorCode = err.code;
        reply(res, err.code, err.message);
        return;
      }
      const step = nextStep(scriptKey);
      const group = call.group;
      // a group answer: per-message RetCodes under a top-level OK
      const answer = (code: number, info: string) => {
        if (group === null) {
          reply(res, code, info);
        } else if (code === 0 || typeof step === 'number') {
          reply(res, 0, '', {
            RecallRetList: group.MsgSeq.map((MsgSeq, i) => ({
              MsgSeq,
              RetCode: i === 0 ? code : 0,
            })),
          });
        } else {
          reply(res, code, info);
        }
      };
      if (typeof step === 'number') {
        call.answer.errorCode = step;
        answer(step, step === 0 ? '' : `scripted error ${step}`);
      } else if ('httpStatus' in step) {
        call.answer.httpStatus = step.httpStatus;
        res.writeHead(step.httpStatus, { 'content-type': 'text/plain' });
        res.end(`scripted HTTP ${step.httpStatus}`);
      } else if ('errorCode' in step) {
        call.answer.errorCode = step.errorCode;
        reply(res, step.errorCode, `scripted error ${step.errorCode}`);
      } else {
        call.answer.errorCode = step.code;
        setTimeout(() => {
          if (!res.destroyed) answer(step.code, step.code === 0 ? '' : 'scripted delay');
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
    scriptGroup(groupId, msgSeq, steps) {
      scripts.set(groupScriptKey(groupId, msgSeq), [...steps]);
    },
    groupCallsFor: (groupId, msgSeq) =>
      calls.filter((c) => c.group?.GroupId === groupId && c.group.MsgSeq.includes(msgSeq)),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
