import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CATALOGUE, catalogueEntry } from '../catalogue/catalogue';
import { schemasDir } from '../schemas';

/**
 * The callbacks of the benchmark and of `npm run simulate`, one generator for both, drawn from the
 * repository's fixtures:
 * - `C2C.CallbackAfterSendMsg`: a realistic mix of the real callback fixtures
 *   (`test/fixtures/callbacks`), to many distinct recipients, each request with its own MsgKey.
 *   Bodies are templates cut around the MsgKey value, so that making request `i`'s body is one
 *   string concatenation (the generator must stay cheap: it shares the machine's two cores with
 *   what it measures);
 * - every other command: its fixtures (`test/fixtures/commands/<command>/*.json`, with the query
 *   of their `*.query.json` sidecars), verbatim but for a top-level MsgKey, made unique the same
 *   way.
 */

/** The package root (from src or from dist alike). */
export const ROOT = dirname(schemasDir());

/** Share of each kind of callback (fixture file -> weight); sums to 100. */
export const MIX: Readonly<Record<string, number>> = {
  'text.json': 62, // short texts, ASCII
  'unicode-extra-fields.json': 12, // Unicode and emoji, fields the schema does not name
  'media.json': 9, // images, sound, video, files
  'custom.json': 8, // custom elements (app-defined payloads)
  'location-face.json': 5,
  'relay.json': 3, // merged (forwarded) messages, nested
  'failed-send.json': 1, // a send that failed (callbacks come for those too)
};

/** Short texts of a chat: most a few words, some Unicode. */
const TEXTS = [
  'ok',
  'on my way',
  'see you at 8?',
  'lol',
  'Can you send me the file from yesterday?',
  'haha yes 😂',
  '好的，明天见',
  'おはようございます',
  'Привет! Как дела?',
  'thanks!! 🙏🏽',
  'where are you',
  'ملاحظة: الاجتماع الساعة ٣',
  'happy birthday 🎂🎉',
  'call me when you land ✈️',
];

export interface CallbackTemplate {
  kind: string;
  toAccount: string;
  /** The body is `head + msgKey + tail` (with the fixture's MsgTime). */
  head: string;
  tail: string;
  /**
   * The same body cut around MsgKey and MsgTime too: `parts[0] + a + parts[1] + b + parts[2]`,
   * where `a` is the MsgKey and `b` the MsgTime when `keyFirst`, the other way round otherwise.
   */
  timed: { parts: readonly [string, string, string]; keyFirst: boolean };
}

/** Stands for the MsgKey value in a template (no fixture contains it). */
const KEY_MARK = '@@MSGKEY@@';
const TIME_MARK = '@@MSGTIME@@';

function fixturesDir(...parts: string[]): string {
  const dir = join(ROOT, 'test', 'fixtures', ...parts);
  if (!existsSync(dir)) {
    throw new Error(`${dir} not found: run this from a checkout of the repository`);
  }
  return dir;
}

/**
 * `count` templates in the MIX proportions (deterministic for a seed), spread over `recipients`
 * distinct To_Account values.
 */
export function callbackTemplates(count: number, recipients = 5000, seed = 7): CallbackTemplate[] {
  const dir = fixturesDir('callbacks');
  const fixtures = Object.keys(MIX).map((file) => ({
    file,
    weight: MIX[file] as number,
    json: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>,
  }));
  const random = mulberry32(seed);
  const pick = (): (typeof fixtures)[number] => {
    let r = random() * 100;
    for (const f of fixtures) if ((r -= f.weight) < 0) return f;
    return fixtures[0] as (typeof fixtures)[number];
  };
  return Array.from({ length: count }, (_, k) => {
    const f = pick();
    const toAccount = `user-${Math.floor(random() * recipients)}`;
    const body: Record<string, unknown> = {
      ...f.json,
      From_Account: `user-${Math.floor(random() * recipients)}`,
      To_Account: toAccount,
      MsgSeq: k + 1,
      MsgRandom: Math.floor(random() * 2 ** 31),
      MsgKey: KEY_MARK,
    };
    if (f.file === 'text.json') {
      body.MsgBody = [
        {
          MsgType: 'TIMTextElem',
          MsgContent: { Text: TEXTS[Math.floor(random() * TEXTS.length)] },
        },
      ];
    }
    const text = JSON.stringify(body);
    const at = text.indexOf(KEY_MARK);
    const timedText = JSON.stringify({ ...body, MsgTime: TIME_MARK });
    const [a, b, c] = timedText.split(new RegExp(`${KEY_MARK}|"${TIME_MARK}"`));
    return {
      kind: f.file.replace(/\.json$/, ''),
      toAccount,
      head: text.slice(0, at),
      tail: text.slice(at + KEY_MARK.length),
      timed: {
        parts: [a as string, b as string, c as string],
        keyFirst: timedText.indexOf(KEY_MARK) < timedText.indexOf(TIME_MARK),
      },
    };
  });
}

/** The body of request `i` of run `runId`: template `i mod n`, MsgKey `<runId>-<i>`. */
export function bodyOf(templates: CallbackTemplate[], runId: string, i: number): string {
  const t = templates[i % templates.length] as CallbackTemplate;
  return `${t.head}${msgKeyOf(runId, i)}${t.tail}`;
}

/** A template's body with the given MsgKey and MsgTime (Unix seconds, as Tencent sends it). */
export function timedBodyOf(t: CallbackTemplate, msgKey: string, msgTime: number): string {
  const [a, b, c] = t.timed.parts;
  return t.timed.keyFirst ? `${a}${msgKey}${b}${msgTime}${c}` : `${a}${msgTime}${b}${msgKey}${c}`;
}

export function msgKeyOf(runId: string, i: number): string {
  return `${runId}-${i}`;
}

/** One fixture of a command, ready to send: its body and the query Tencent sends with it. */
export interface CommandTemplate {
  command: string;
  /** The fixture's file name (`sample.json`). */
  name: string;
  /** The body is `head + msgKey + tail` when the fixture has a top-level MsgKey, else `head`. */
  head: string;
  tail: string | undefined;
  /** Query overrides of the fixture's sidecar: a value replaces the usual one, null removes it. */
  query: Readonly<Record<string, string | null>>;
  /** Records the bridge makes of it: one, or one per event of a batch (`Push.*`: `Events`). */
  records: number;
}

/** The fixtures of every command of the catalogue (or of `commands`), sorted. */
export function commandTemplates(
  commands: readonly string[] = CATALOGUE.map((e) => e.command),
): CommandTemplate[] {
  const root = fixturesDir('commands');
  const out: CommandTemplate[] = [];
  for (const command of commands) {
    const dir = join(root, command);
    if (!existsSync(dir)) throw new Error(`no fixtures for ${command} in ${root}`);
    const batch = catalogueEntry(command)?.batch;
    for (const name of readdirSync(dir).sort()) {
      if (!name.endsWith('.json') || name.endsWith('.query.json')) continue;
      const text = readFileSync(join(dir, name), 'utf8').trim();
      const json = JSON.parse(text) as Record<string, unknown>;
      const sidecar = join(dir, name.replace(/\.json$/, '.query.json'));
      const query = existsSync(sidecar)
        ? (JSON.parse(readFileSync(sidecar, 'utf8')) as Record<string, string | null>)
        : {};
      const records = batch === undefined ? 1 : (json[batch] as unknown[]).length;
      // a top-level MsgKey written once in the text is made unique per request; anything else
      // (no MsgKey, or one inside events too) is sent exactly as the fixture has it
      const marker = `"MsgKey":${JSON.stringify(json.MsgKey)}`;
      const at = text.indexOf(marker);
      const once =
        typeof json.MsgKey === 'string' && at >= 0 && text.indexOf('"MsgKey"', at + 1) < 0;
      const valueAt = at + '"MsgKey":"'.length;
      out.push({
        command,
        name,
        head: once ? text.slice(0, valueAt) : text,
        tail: once ? text.slice(valueAt + (json.MsgKey as string).length) : undefined,
        query,
        records,
      });
    }
  }
  return out;
}

/** A command template's body with the given MsgKey (when it has one to replace). */
export function commandBodyOf(t: CommandTemplate, msgKey: string): string {
  return t.tail === undefined ? t.head : `${t.head}${msgKey}${t.tail}`;
}

/** A small, seedable PRNG (the mix must be the same for every system and every run). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
