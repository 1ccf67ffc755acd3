import type { Decision } from '../catalogue/records';

/**
 * Before-callbacks: Tencent waits (2 s at most, not adjustable) for the reply to let an action
 * through, block it or modify it, and never retries. Per command the policy is `allow` (reply OK,
 * ErrorCode 0 at once) or `forward`: the same query and body go to the app's decision service,
 * whose reply is relayed when it is a well-formed Tencent reply within the deadline; otherwise the
 * failure policy answers (fail-open `allow` by default, fail-closed `block`).
 */
export interface DeciderOptions {
  /** The decision service (configuration only; https is verified by Node's TLS). */
  upstreamUrl: URL | undefined;
  /** Whether a command is forwarded (only before-callbacks are asked). */
  forwards: (command: string) => boolean;
  deadlineMs: number;
  onFailure: 'allow' | 'block';
  /** Replies larger than this are refused as malformed (a modified MsgBody is at most ~12 KB). */
  maxReplyBytes?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export const ALLOW_REPLY = '{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}';
const BLOCK_REPLY = JSON.stringify({
  ActionStatus: 'OK',
  ErrorInfo: 'the decision service did not answer in time',
  ErrorCode: 1,
});
/** Fields of a reply that only say the verdict; any other field (MsgBody, RspData, …) modifies. */
const VERDICT_FIELDS = new Set(['ActionStatus', 'ErrorCode', 'ErrorInfo']);

/** Why a decision service's answer was not used (the metric's `problem` label). */
export const UPSTREAM_PROBLEMS = ['timeout', 'status', 'malformed', 'network'] as const;
export type UpstreamProblem = (typeof UPSTREAM_PROBLEMS)[number];

export interface Decider {
  decide(command: string, rawQuery: string, body: Uint8Array): Promise<Decision>;
}

export function createDecider(opts: DeciderOptions): Decider {
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? (() => performance.now());
  const maxReplyBytes = opts.maxReplyBytes ?? 1_000_000;

  const failed = (problem: UpstreamProblem, detail: string, latency: number): Decision => {
    const block = opts.onFailure === 'block';
    return {
      Outcome: block ? 'block' : 'allow',
      DecidedBy: block ? 'fail-closed' : 'fail-open',
      ErrorCode: block ? 1 : 0,
      Reply: block ? BLOCK_REPLY : ALLOW_REPLY,
      UpstreamLatencyMs: Math.round(latency),
      Problem: `${problem}: ${detail}`,
    };
  };

  return {
    async decide(command, rawQuery, body) {
      const upstream = opts.upstreamUrl;
      if (upstream === undefined || !opts.forwards(command)) {
        return {
          Outcome: 'allow',
          DecidedBy: 'policy',
          ErrorCode: 0,
          Reply: ALLOW_REPLY,
          UpstreamLatencyMs: null,
          Problem: null,
        };
      }
      const url = new URL(upstream);
      url.search = rawQuery;
      const started = now();
      let status: number;
      let text: string;
      try {
        const res = await doFetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json; charset=utf-8' },
          body: Buffer.from(body.buffer, body.byteOffset, body.byteLength),
          signal: AbortSignal.timeout(opts.deadlineMs),
          redirect: 'error',
        });
        status = res.status;
        // a declared oversize reply is refused unread; an undeclared one is read within the deadline
        if (Number(res.headers.get('content-length') ?? 0) > maxReplyBytes) {
          await res.body?.cancel();
          return failed('malformed', `reply larger than ${maxReplyBytes} bytes`, now() - started);
        }
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (bytes.byteLength > maxReplyBytes) {
          return failed('malformed', `reply larger than ${maxReplyBytes} bytes`, now() - started);
        }
        text = Buffer.from(bytes).toString('utf8');
      } catch (err) {
        const e = err as Error;
        const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
        return timedOut
          ? failed('timeout', `no reply within ${opts.deadlineMs} ms`, now() - started)
          : failed('network', describe(e), now() - started);
      }
      const latency = now() - started;
      if (status !== 200) return failed('status', `HTTP ${status}`, latency);
      const reply = wellFormed(text);
      if (reply === undefined) {
        return failed('malformed', 'not a Tencent reply (ActionStatus, ErrorCode)', latency);
      }
      const code = reply.ErrorCode as number;
      const modifies = Object.keys(reply).some((k) => !VERDICT_FIELDS.has(k));
      return {
        Outcome: code === 0 ? (modifies ? 'modify' : 'allow') : code === 2 ? 'drop' : 'block',
        DecidedBy: 'upstream',
        ErrorCode: code,
        Reply: text,
        UpstreamLatencyMs: Math.round(latency),
        Problem: null,
      };
    },
  };
}

/** A Tencent reply: a JSON object with ActionStatus OK and an integer ErrorCode. */
function wellFormed(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const r = v as Record<string, unknown>;
  if (r.ActionStatus !== 'OK' || !Number.isSafeInteger(r.ErrorCode)) return undefined;
  return r;
}

function describe(e: Error): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? e.message;
}
