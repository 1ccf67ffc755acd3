import { DEFAULT_COMMAND, type PlatformWeight } from './simulate-args';
import {
  callbackTemplates,
  commandBodyOf,
  commandTemplates,
  msgKeyOf,
  mulberry32,
  timedBodyOf,
  type CallbackTemplate,
  type CommandTemplate,
} from './callback-mix';
import { catalogueEntry } from '../catalogue/catalogue';
import { sign } from '../tencent/signature';

/**
 * What `npm run simulate` sends, request by request, without any I/O: the callback (from the
 * shared generator, src/tools/callback-mix.ts), its query as Tencent writes it, whether it is a
 * duplicate, and its signature. Deterministic for a seed (but for MsgKeys, unique per run, and
 * times): simulate-plan.test.ts checks the proportions.
 */

/** A duplicate re-sends one of the last this many requests. */
export const DUPLICATE_WINDOW = 1000;
/** Templates of the C2C.CallbackAfterSendMsg mix (request `i` uses template `i mod n`). */
export const MIX_TEMPLATES = 2000;

export interface SimRequest {
  /** 0, 1, 2, … in the order taken. */
  index: number;
  command: string;
  /** Tencent's query without RequestTime and Sign (`SdkAppid=…&CallbackCommand=…&…`). */
  query: string;
  body: string;
  /** OptPlatform sent, or undefined when the query has none. */
  platform: string | undefined;
  /** A re-send of request `original`'s exact body and query. */
  duplicate: boolean;
  /** The request that first sent this body (itself, unless a duplicate). */
  original: number;
  /** Records the bridge makes of it (Push.*: one per event). */
  records: number;
  /** Tencent waits for the answer to decide (allow, block, …). */
  before: boolean;
}

export interface PlanOptions {
  commands: readonly string[];
  sdkAppId: string;
  duplicates: number;
  platforms: readonly PlatformWeight[];
  recipients: number;
  seed: number;
  /** Prefix of every MsgKey (`<runId>-<index>`): unique per run. */
  runId: string;
}

/** The randomness of request `k`: its own stream, so that a request does not depend on others. */
function streamOf(seed: number, k: number): () => number {
  return mulberry32((seed ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0);
}

/** The usual query keys, in Tencent's order; a fixture's sidecar may change or remove them. */
const QUERY_KEYS = ['SdkAppid', 'CallbackCommand', 'contenttype', 'ClientIP', 'OptPlatform'];

export class RequestPlan {
  private next = 0;
  private readonly recent: SimRequest[] = [];
  private readonly mix: CallbackTemplate[] | undefined;
  private readonly fixtures: Map<string, CommandTemplate[]>;
  private readonly totalWeight: number;

  constructor(private readonly opts: PlanOptions) {
    if (opts.commands.length === 0) throw new Error('no command to simulate');
    this.mix = opts.commands.includes(DEFAULT_COMMAND)
      ? callbackTemplates(MIX_TEMPLATES, opts.recipients, opts.seed)
      : undefined;
    const others = opts.commands.filter((c) => c !== DEFAULT_COMMAND);
    this.fixtures = new Map(others.map((c) => [c, []]));
    for (const t of commandTemplates(others)) this.fixtures.get(t.command)?.push(t);
    this.totalWeight = opts.platforms.reduce((s, p) => s + p.weight, 0);
  }

  /** How many requests were taken. */
  get taken(): number {
    return this.next;
  }

  /** The next request; `nowMs` (when it is sent) gives the mix's MsgTime. */
  take(nowMs: number): SimRequest {
    const k = this.next++;
    const random = streamOf(this.opts.seed, k);
    const [dup, back, fixture, platform, ip] = [
      random(),
      random(),
      random(),
      random(),
      random(),
    ] as [number, number, number, number, number];
    let request: SimRequest;
    if (k > 0 && dup < this.opts.duplicates) {
      const window = Math.min(k, DUPLICATE_WINDOW);
      const earlier = this.recent[(k - 1 - Math.floor(back * window)) % DUPLICATE_WINDOW];
      request = { ...(earlier as SimRequest), index: k, duplicate: true };
    } else {
      request = this.fresh(k, nowMs, fixture, platform, ip);
    }
    this.recent[k % DUPLICATE_WINDOW] = request;
    return request;
  }

  private fresh(
    k: number,
    nowMs: number,
    fixture: number,
    platformDraw: number,
    ipDraw: number,
  ): SimRequest {
    const { commands } = this.opts;
    // commands in turn (n requests of n commands send each once), a fixture of each by chance
    const command = commands[k % commands.length] as string;
    const msgKey = msgKeyOf(this.opts.runId, k);
    let body: string;
    let overrides: Readonly<Record<string, string | null>> = {};
    let records = 1;
    if (command === DEFAULT_COMMAND && this.mix) {
      const t = this.mix[k % this.mix.length] as CallbackTemplate;
      body = timedBodyOf(t, msgKey, Math.floor(nowMs / 1000));
    } else {
      const cases = this.fixtures.get(command) as CommandTemplate[];
      const t = cases[Math.floor(fixture * cases.length)] as CommandTemplate;
      body = commandBodyOf(t, msgKey);
      overrides = t.query;
      records = t.records;
    }
    const values: Record<string, string | undefined> = {
      SdkAppid: this.opts.sdkAppId,
      CallbackCommand: command,
      contenttype: 'json',
      ClientIP: `203.0.113.${1 + Math.floor(ipDraw * 254)}`,
      OptPlatform: this.pickPlatform(platformDraw),
    };
    for (const [key, value] of Object.entries(overrides)) values[key] = value ?? undefined;
    const keys = [...QUERY_KEYS, ...Object.keys(overrides).filter((q) => !QUERY_KEYS.includes(q))];
    const query = keys
      .filter((key) => values[key] !== undefined)
      .map((key) => `${key}=${encodeURIComponent(values[key] as string)}`)
      .join('&');
    return {
      index: k,
      command,
      query,
      body,
      platform: values.OptPlatform,
      duplicate: false,
      original: k,
      records,
      before: catalogueEntry(command)?.kind === 'before',
    };
  }

  private pickPlatform(draw: number): string | undefined {
    let r = draw * this.totalWeight;
    for (const p of this.opts.platforms) {
      if (p.weight > 0 && (r -= p.weight) < 0) return p.platform;
    }
    return this.opts.platforms.findLast((p) => p.weight > 0)?.platform;
  }
}

/**
 * `&RequestTime=<s>&Sign=<hex>` for a time, as Tencent signs (SHA-256 of token + RequestTime),
 * computed once per second; empty without a token (Tencent then signs nothing).
 */
export function createSigner(token: string | undefined): (nowMs: number) => string {
  let second = -1;
  let suffix = '';
  return (nowMs) => {
    if (token === undefined) return '';
    const t = Math.floor(nowMs / 1000);
    if (t !== second) {
      second = t;
      suffix = `&RequestTime=${t}&Sign=${sign(token, t)}`;
    }
    return suffix;
  };
}

/** The URL up to where a request's query goes (`…/callback?`, or `…?x=1&` when it has one). */
export function urlPrefix(url: string): string {
  const u = new URL(url);
  u.hash = '';
  const text = u.toString();
  return u.search === '' ? `${text}?` : `${text}&`;
}

/** A string as one word for sh/bash: single-quoted, each `'` written as `'\''`. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The request as a curl command to paste into a shell. */
export function curlCommand(url: string, body: string): string {
  return [
    `curl -sS -X POST ${shellQuote(url)}`,
    `  -H 'Content-Type: application/json'`,
    `  --data-binary ${shellQuote(body)}`,
  ].join(' \\\n');
}
