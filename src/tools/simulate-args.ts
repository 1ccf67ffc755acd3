import { parseArgs } from 'node:util';
import { CATALOGUE, catalogueEntry } from '../catalogue/catalogue';

/**
 * The options of `npm run simulate` (src/tools/simulate.ts): parsed and checked here, without any
 * I/O, so that every rule is unit-tested (simulate-args.test.ts).
 */

export const DEFAULT_URL = 'http://127.0.0.1:8080/callback';
/** The SdkAppid of `npm run dev`'s sample curl (scripts/dev.sh). */
export const DEFAULT_SDKAPPID = '1400000001';
export const DEFAULT_COMMAND = 'C2C.CallbackAfterSendMsg';
export const DEFAULT_PLATFORMS = 'iOS=40,Android=40,Web=15,RESTAPI=5';
/** `--platforms` name for "no OptPlatform in the query" (Tencent omits it for some commands). */
export const NO_PLATFORM = 'none';

export interface PlatformWeight {
  /** The OptPlatform value as sent, or undefined for none. */
  platform: string | undefined;
  weight: number;
}

export interface SimulateOptions {
  url: string;
  /** Undefined: callbacks are not signed (as Tencent sends them when no token is set). */
  token: string | undefined;
  sdkAppId: string;
  commands: string[];
  /** Callbacks per second; 0: as fast as `concurrency` requests in flight allow. */
  rate: number;
  concurrency: number;
  /** Seconds; 0: until interrupted (or `count`). */
  durationSeconds: number;
  /** Stop after this many requests (undefined: no limit). */
  count: number | undefined;
  duplicates: number;
  platforms: PlatformWeight[];
  recipients: number;
  seed: number;
  timeoutMs: number;
  dryRun: boolean;
  json: boolean;
  quiet: boolean;
}

export type ParsedArgs = { help: true } | { help: false; options: SimulateOptions };

export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `usage: npm run simulate -- [options]

Sends Tencent-shaped, signed callbacks to a bridge (local or deployed), built from the
repository's fixtures, with a live progress line (stderr) and a summary at the end (stdout).

Where to, and as whom:
  --url <url>              the callback URL (default ${DEFAULT_URL})
  --token <token>          the callback token that signs each request (RequestTime, Sign);
                           default $TENCENT_CALLBACK_TOKEN; unset or '': unsigned callbacks
  --sdkappid <id>          SdkAppid of the callbacks; default the first of $TENCENT_SDKAPPIDS,
                           else ${DEFAULT_SDKAPPID}

What:
  --command <c[,c…]|all>   callback commands, sent in turn (default ${DEFAULT_COMMAND});
                           'all': every command of the catalogue. ${DEFAULT_COMMAND}
                           is the benchmark's realistic mix (every element type, Unicode, relay
                           messages, failed sends, MsgTime now); the others are their fixtures
                           (test/fixtures/commands, a sidecar's query included), a top-level
                           MsgKey made unique
  --duplicates <0..1>      share of requests that re-send an earlier callback's exact body
                           (same MsgKey), freshly signed (default 0)
  --platforms <p=w,…>      OptPlatform mix by weight (default ${DEFAULT_PLATFORMS});
                           '${NO_PLATFORM}' sends no OptPlatform; a fixture's sidecar query wins
  --recipients <n>         distinct To_Account/From_Account values of the mix (default 5000)
  --seed <n>               seed of every random choice: same seed, same requests (default 7)

How fast, how long:
  --rate <n>               callbacks per second (default 100); 0: as fast as --concurrency allows
  --concurrency <n>        requests in flight at most, and connections (default 16)
  --duration <s>           seconds to run (default 10; 0: until Ctrl-C)
  --count <n>              stop after n requests (with --duration: whichever comes first;
                           alone: no time limit)
  --timeout <ms>           a request unanswered after this long counts as 'timeout'
                           (default 2000: Tencent's own limit)
  At a fixed rate, a request's latency counts from when it was due, so that a slow bridge
  cannot hide the queue behind it; --rate 0 sends each request once the last is answered.

Output:
  --dry-run                print the first request as a curl command (signed URL and body) and
                           exit 0, sending nothing
  --json                   the summary as one JSON object instead of text
  --quiet                  no progress line
  --help                   this text

OK means HTTP 200 with {"ActionStatus":"OK",…,"ErrorCode":0}: the callback is durable (in Kafka
or the bridge's spool). Every other answer is refused, by reason ("401 unauthenticated: …",
"503 …", "timeout", "connection refused"). The bridge does not deduplicate: every accepted
request is stored, duplicates included, so the records expected in Kafka are the accepted
requests (Push.* one per event; none for commands routed off). A before-callback answered with
another ErrorCode (a decision service blocked it) counts as blocked, and is stored too.

Exit status: 0 when every request was answered OK (or blocked); 1 when any was refused or got
no answer, or none was sent; 2 on bad options. Ctrl-C stops sending and prints the summary.
`;

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  sdkappid: { type: 'string' },
  command: { type: 'string' },
  rate: { type: 'string' },
  concurrency: { type: 'string' },
  duration: { type: 'string' },
  count: { type: 'string' },
  duplicates: { type: 'string' },
  platforms: { type: 'string' },
  recipients: { type: 'string' },
  seed: { type: 'string' },
  timeout: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

/** Every option's name (`--url`, …), as USAGE documents them. */
export const OPTION_NAMES: readonly string[] = Object.keys(OPTIONS).map((o) => `--${o}`);

const NUMBER = /^\d+(\.\d+)?$/;

function number(name: string, value: string, opts: { integer?: boolean; min?: number } = {}) {
  if (!NUMBER.test(value)) throw new UsageError(`--${name} must be a number, not '${value}'`);
  const n = Number(value);
  if (opts.integer && !Number.isSafeInteger(n)) {
    throw new UsageError(`--${name} must be a whole number, not '${value}'`);
  }
  if (opts.min !== undefined && n < opts.min) {
    throw new UsageError(`--${name} must be at least ${opts.min}, not '${value}'`);
  }
  return n;
}

/** `iOS=50,Android=40,Web=10` (a name alone weighs 1) -> weights, in the order given. */
export function parsePlatforms(spec: string): PlatformWeight[] {
  const out: PlatformWeight[] = [];
  const seen = new Set<string>();
  for (const item of spec.split(',').map((s) => s.trim())) {
    if (item === '') throw new UsageError(`--platforms: empty entry in '${spec}'`);
    const eq = item.indexOf('=');
    const name = (eq < 0 ? item : item.slice(0, eq)).trim();
    const weightText = eq < 0 ? '1' : item.slice(eq + 1).trim();
    if (!/^[A-Za-z0-9_.-]{1,32}$/.test(name)) {
      throw new UsageError(`--platforms: '${name}' is not an OptPlatform name`);
    }
    if (!NUMBER.test(weightText)) {
      throw new UsageError(
        `--platforms: the weight of ${name} must be a number, not '${weightText}'`,
      );
    }
    if (seen.has(name)) throw new UsageError(`--platforms: ${name} is given twice`);
    seen.add(name);
    out.push({ platform: name === NO_PLATFORM ? undefined : name, weight: Number(weightText) });
  }
  if (!out.some((p) => p.weight > 0)) {
    throw new UsageError('--platforms: at least one weight must be above 0');
  }
  return out;
}

/** `all`, or commands of the catalogue, comma-separated. */
export function parseCommands(spec: string): string[] {
  if (spec.trim() === 'all') return CATALOGUE.map((e) => e.command);
  const commands = [...new Set(spec.split(',').map((s) => s.trim()))];
  for (const c of commands) {
    if (c === '') throw new UsageError(`--command: empty entry in '${spec}'`);
    if (catalogueEntry(c) === undefined) {
      throw new UsageError(
        `--command: ${c} is not in the catalogue (docs/catalogue.md lists the ${CATALOGUE.length} commands; 'all' sends every one)`,
      );
    }
  }
  return commands;
}

/** Parses argv (without node and the script), with defaults from `env`; throws UsageError. */
export function parseSimulateArgs(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
): ParsedArgs {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { help: true };

  const url = values.url ?? DEFAULT_URL;
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, not '${url}'`);
  }
  if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') {
    throw new UsageError(`--url must be an http(s) URL, not '${url}'`);
  }
  const token = values.token ?? env.TENCENT_CALLBACK_TOKEN;
  const sdkAppId =
    values.sdkappid ??
    env.TENCENT_SDKAPPIDS?.split(',')
      .map((s) => s.trim())
      .find((s) => s !== '') ??
    DEFAULT_SDKAPPID;
  if (!/^\d+$/.test(sdkAppId))
    throw new UsageError(`--sdkappid must be numeric, not '${sdkAppId}'`);

  const duplicates = number('duplicates', values.duplicates ?? '0');
  if (duplicates > 1)
    throw new UsageError(`--duplicates must be between 0 and 1, not '${values.duplicates}'`);
  const count =
    values.count === undefined
      ? undefined
      : number('count', values.count, { integer: true, min: 1 });
  const durationSeconds =
    values.duration !== undefined
      ? number('duration', values.duration)
      : count !== undefined
        ? 0
        : 10;

  return {
    help: false,
    options: {
      url,
      token: token === undefined || token === '' ? undefined : token,
      sdkAppId,
      commands: parseCommands(values.command ?? DEFAULT_COMMAND),
      rate: number('rate', values.rate ?? '100'),
      concurrency: number('concurrency', values.concurrency ?? '16', { integer: true, min: 1 }),
      durationSeconds,
      count,
      duplicates,
      platforms: parsePlatforms(values.platforms ?? DEFAULT_PLATFORMS),
      recipients: number('recipients', values.recipients ?? '5000', { integer: true, min: 1 }),
      seed: number('seed', values.seed ?? '7', { integer: true }),
      timeoutMs: number('timeout', values.timeout ?? '2000', { integer: true, min: 1 }),
      dryRun: values['dry-run'] ?? false,
      json: values.json ?? false,
      quiet: values.quiet ?? false,
    },
  };
}
