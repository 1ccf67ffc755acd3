import type { SimRequest } from './simulate-plan';

/**
 * What `npm run simulate` counts and says: each answer classified (OK, blocked, refused by
 * reason), latencies in a bounded histogram, the progress line and the summary. No I/O.
 */

export type Outcome =
  /** HTTP 200 with ActionStatus OK and ErrorCode 0: durable (or, before-callbacks, allowed). */
  | { kind: 'ok' }
  /** A before-callback answered with another ErrorCode (a decision service said no): stored too. */
  | { kind: 'blocked' }
  /** Answered otherwise, or not answered at all (`answered: false`). */
  | { kind: 'refused'; reason: string; answered: boolean };

const REASON_LENGTH = 100;
/** Distinct refusal reasons kept; the rest are counted under OTHER_REASONS. */
const MAX_REASONS = 50;
const OTHER_REASONS = 'other reasons';

const cut = (s: string): string => (s.length > REASON_LENGTH ? `${s.slice(0, REASON_LENGTH)}…` : s);

/** An HTTP answer, read as Tencent would (the reply body of the webhook reference, §1). */
export function classifyReply(status: number, text: string, before: boolean): Outcome {
  let reply: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      reply = parsed as Record<string, unknown>;
    }
  } catch {
    reply = undefined;
  }
  if (reply === undefined || typeof reply.ActionStatus !== 'string') {
    return { kind: 'refused', reason: `${status} (not a Tencent reply)`, answered: true };
  }
  const code = reply.ErrorCode;
  if (status === 200 && reply.ActionStatus === 'OK') {
    if (code === 0) return { kind: 'ok' };
    if (before && Number.isSafeInteger(code)) return { kind: 'blocked' };
  }
  const info = typeof reply.ErrorInfo === 'string' && reply.ErrorInfo !== '' ? reply.ErrorInfo : '';
  const what = info !== '' ? info : `${reply.ActionStatus} ErrorCode ${String(code)}`;
  return { kind: 'refused', reason: cut(`${status} ${what}`), answered: true };
}

/** Raised by the sender when a request is not answered in time. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`no answer in ${timeoutMs} ms`);
  }
}

/** A request that got no HTTP answer: why, in a few words. */
export function classifyError(err: unknown): Outcome {
  const e = err as NodeJS.ErrnoException;
  let reason: string;
  if (err instanceof TimeoutError) reason = `timeout (${err.timeoutMs} ms)`;
  else if (e.code === 'ECONNREFUSED') reason = 'connection refused';
  else if (e.code === 'ECONNRESET') reason = 'connection reset';
  else if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') reason = 'host not found';
  else if (e.code === 'EPIPE') reason = 'connection closed';
  else if (e.code !== undefined) reason = `error ${e.code}`;
  else reason = `error: ${e.message ?? String(err)}`;
  return { kind: 'refused', reason: cut(reason), answered: false };
}

/** Latencies with 1 % precision in a fixed number of buckets, whatever the count. */
export class Histogram {
  private static readonly MIN = 0.001; // ms
  private static readonly GROWTH = Math.log(1.01);
  private static readonly BUCKETS = 2100; // up to 0.001 ms * 1.01^2100: over 20 minutes
  private counts = new Float64Array(Histogram.BUCKETS);
  count = 0;
  max = 0;

  add(ms: number): void {
    const v = Math.max(ms, Histogram.MIN);
    const i = Math.min(
      Histogram.BUCKETS - 1,
      Math.max(0, Math.ceil(Math.log(v / Histogram.MIN) / Histogram.GROWTH - 1e-9)),
    );
    this.counts[i] = (this.counts[i] as number) + 1;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** Nearest-rank percentile (0 when empty), at most the largest value seen, in ms. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.min(this.count, Math.max(1, Math.ceil(p * this.count)));
    let seen = 0;
    for (let i = 0; i < Histogram.BUCKETS; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) {
        return round(Math.min(this.max, Histogram.MIN * Math.exp(i * Histogram.GROWTH)));
      }
    }
    return round(this.max);
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.max = 0;
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

/** Which request indices were accepted at least once (the distinct callbacks that landed). */
class BitSet {
  private bits = new Uint8Array(1024);
  size = 0;

  add(i: number): void {
    const byte = i >>> 3;
    if (byte >= this.bits.length) {
      const bigger = new Uint8Array(Math.max(this.bits.length * 2, byte + 1));
      bigger.set(this.bits);
      this.bits = bigger;
    }
    const mask = 1 << (i & 7);
    if (((this.bits[byte] as number) & mask) === 0) {
      this.bits[byte] = (this.bits[byte] as number) | mask;
      this.size++;
    }
  }
}

export interface SimulateSummary {
  url: string;
  runId: string;
  seed: number;
  commands: string[];
  /** From the first request to the last answer. */
  seconds: number;
  sent: number;
  sentPerSecond: number;
  /** Answered OK (durable). */
  accepted: number;
  /** Of `accepted`: re-sends of an earlier body (same MsgKey). */
  duplicates: number;
  /** Re-sends sent, whatever their answer. */
  duplicatesSent: number;
  /** Distinct callbacks (bodies) accepted at least once: `accepted` counts each re-send again. */
  distinct: number;
  /** Before-callbacks answered with a non-zero ErrorCode (stored all the same). */
  blocked: number;
  /**
   * Records the bridge stores for what it answered OK or blocked: one per request, duplicates
   * included (it does not deduplicate), one per event for Push.*; none for commands routed off.
   */
  records: number;
  /** Requests not accepted (answered otherwise, or not answered), by reason. */
  refused: Record<string, number>;
  refusedTotal: number;
  /** Of `refusedTotal`: requests that got no HTTP answer (timeout, connection refused, …). */
  unanswered: number;
  latencyMs: { p50: number; p99: number; p999: number; max: number };
  byCommand: Record<string, { sent: number; accepted: number; records: number }>;
  byPlatform: Record<string, { sent: number; accepted: number }>;
  /** Stopped by Ctrl-C before its duration or count. */
  interrupted: boolean;
}

/** The platform label of a request: its OptPlatform, or `none`. */
export const platformOf = (r: SimRequest): string => r.platform ?? 'none';

export class Tally {
  sent = 0;
  accepted = 0;
  duplicates = 0;
  duplicatesSent = 0;
  blocked = 0;
  records = 0;
  refusedTotal = 0;
  unanswered = 0;
  readonly refused = new Map<string, number>();
  readonly latency = new Histogram();
  /** Latencies since the last progress line. */
  readonly recent = new Histogram();
  private sentAtLastLine = 0;
  private readonly distinct = new BitSet();
  private readonly byCommand = new Map<
    string,
    { sent: number; accepted: number; records: number }
  >();
  private readonly byPlatform = new Map<string, { sent: number; accepted: number }>();

  onSent(r: SimRequest): void {
    this.sent++;
    if (r.duplicate) this.duplicatesSent++;
    this.commandStats(r.command).sent++;
    this.platformStats(platformOf(r)).sent++;
  }

  onAnswer(r: SimRequest, outcome: Outcome, ms: number): void {
    this.latency.add(ms);
    this.recent.add(ms);
    if (outcome.kind === 'refused') {
      this.refusedTotal++;
      if (!outcome.answered) this.unanswered++;
      const reason =
        this.refused.has(outcome.reason) || this.refused.size < MAX_REASONS
          ? outcome.reason
          : OTHER_REASONS;
      this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
      return;
    }
    const command = this.commandStats(r.command);
    command.records += r.records;
    this.records += r.records;
    if (outcome.kind === 'blocked') {
      this.blocked++;
      return;
    }
    this.accepted++;
    if (r.duplicate) this.duplicates++;
    this.distinct.add(r.original);
    command.accepted++;
    this.platformStats(platformOf(r)).accepted++;
  }

  private commandStats(command: string) {
    let s = this.byCommand.get(command);
    if (s === undefined) this.byCommand.set(command, (s = { sent: 0, accepted: 0, records: 0 }));
    return s;
  }

  private platformStats(platform: string) {
    let s = this.byPlatform.get(platform);
    if (s === undefined) this.byPlatform.set(platform, (s = { sent: 0, accepted: 0 }));
    return s;
  }

  /** The progress line: totals, refusals by reason, and the latencies of the last interval. */
  progressLine(elapsedSeconds: number, intervalSeconds: number): string {
    const perSecond = (this.sent - this.sentAtLastLine) / Math.max(intervalSeconds, 0.001);
    this.sentAtLastLine = this.sent;
    const line =
      `[${elapsedSeconds.toFixed(0).padStart(4)} s] sent ${this.sent}  OK ${this.accepted}` +
      (this.blocked > 0 ? `  blocked ${this.blocked}` : '') +
      `  refused ${this.refusedTotal}${this.refusedTotal > 0 ? ` (${topReasons(this.refused, 3)})` : ''}` +
      `  p50 ${this.recent.percentile(0.5)} ms  p99 ${this.recent.percentile(0.99)} ms` +
      `  ${Math.round(perSecond)}/s`;
    this.recent.reset();
    return line;
  }

  summary(run: {
    url: string;
    runId: string;
    seed: number;
    commands: string[];
    seconds: number;
    interrupted: boolean;
  }): SimulateSummary {
    const sorted = <T>(m: Map<string, T>): Record<string, T> =>
      Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return {
      ...run,
      seconds: Math.round(run.seconds * 1000) / 1000,
      sent: this.sent,
      sentPerSecond: run.seconds > 0 ? Math.round((this.sent / run.seconds) * 10) / 10 : 0,
      accepted: this.accepted,
      duplicates: this.duplicates,
      duplicatesSent: this.duplicatesSent,
      distinct: this.distinct.size,
      blocked: this.blocked,
      records: this.records,
      refused: Object.fromEntries([...this.refused].sort(([, a], [, b]) => b - a)),
      refusedTotal: this.refusedTotal,
      unanswered: this.unanswered,
      latencyMs: {
        p50: this.latency.percentile(0.5),
        p99: this.latency.percentile(0.99),
        p999: this.latency.percentile(0.999),
        max: round(this.latency.max),
      },
      byCommand: sorted(this.byCommand),
      byPlatform: sorted(this.byPlatform),
    };
  }
}

function topReasons(refused: Map<string, number>, n: number): string {
  const all = [...refused].sort(([, a], [, b]) => b - a);
  const shown = all.slice(0, n).map(([reason, count]) => `${reason}: ${count}`);
  if (all.length > n) shown.push(`${all.length - n} more`);
  return shown.join(', ');
}

/** 0: every request answered OK (or blocked); 1: any refused or unanswered, or none sent. */
export function exitCodeOf(s: SimulateSummary): 0 | 1 {
  return s.sent > 0 && s.refusedTotal === 0 ? 0 : 1;
}

/** The summary for people. */
export function summaryText(s: SimulateSummary): string {
  const lines = [
    `sent      ${s.sent} callbacks in ${s.seconds.toFixed(1)} s (${s.sentPerSecond}/s) to ${s.url}${s.interrupted ? ' (interrupted)' : ''}`,
    `          run ${s.runId} (MsgKeys ${s.runId}-<n>), seed ${s.seed}, ${s.commands.length === 1 ? (s.commands[0] as string) : `${s.commands.length} commands`}`,
    `accepted  ${s.accepted} (of which ${s.duplicates} duplicates: the same body and MsgKey again); ${s.distinct} distinct callbacks`,
  ];
  if (s.blocked > 0) lines.push(`blocked   ${s.blocked} before-callbacks (a decision said no)`);
  lines.push(
    `records   ${s.records} expected in Kafka: every request answered OK${s.blocked > 0 ? ' or blocked' : ''} is stored, duplicates included (the bridge does not deduplicate; consumers dedupe by MsgKey)${s.records !== s.accepted + s.blocked ? ', Push.* one per event' : ''}; none for commands routed off`,
  );
  lines.push(
    `refused   ${s.refusedTotal}${s.refusedTotal > 0 ? `: ${topReasons(new Map(Object.entries(s.refused)), 10)}` : ''}${s.unanswered > 0 ? ` (${s.unanswered} without an answer)` : ''}`,
  );
  lines.push(
    `latency   p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, p99.9 ${s.latencyMs.p999} ms, max ${s.latencyMs.max} ms`,
  );
  lines.push(
    `platforms ${Object.entries(s.byPlatform)
      .map(([p, v]) => `${p} ${v.accepted}/${v.sent}`)
      .join(', ')} (OK/sent)`,
  );
  if (s.commands.length > 1) {
    lines.push('commands  OK/sent, records:');
    for (const [c, v] of Object.entries(s.byCommand)) {
      lines.push(`          ${c} ${v.accepted}/${v.sent}, ${v.records}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
