import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './support';

/**
 * The benchmark's callbacks: a realistic mix drawn from the real callback fixtures, to many
 * distinct recipients, each request with its own MsgKey. Bodies are templates cut around the
 * MsgKey value, so that making request `i`'s body is one string concatenation (the generator
 * must stay cheap: it shares the machine's two cores with what it measures).
 */

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
  /** The body is `head + msgKey + tail`. */
  head: string;
  tail: string;
}

/** Stands for the MsgKey value in a template (no fixture contains it). */
const KEY_MARK = '@@MSGKEY@@';

/**
 * `count` templates in the MIX proportions (deterministic for a seed), spread over `recipients`
 * distinct To_Account values.
 */
export function callbackTemplates(count: number, recipients = 5000, seed = 7): CallbackTemplate[] {
  const dir = join(ROOT, 'test', 'fixtures', 'callbacks');
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
    return {
      kind: f.file.replace(/\.json$/, ''),
      toAccount,
      head: text.slice(0, at),
      tail: text.slice(at + KEY_MARK.length),
    };
  });
}

/** The body of request `i` of run `runId`: template `i mod n`, MsgKey `<runId>-<i>`. */
export function bodyOf(templates: CallbackTemplate[], runId: string, i: number): string {
  const t = templates[i % templates.length] as CallbackTemplate;
  return `${t.head}${msgKeyOf(runId, i)}${t.tail}`;
}

export function msgKeyOf(runId: string, i: number): string {
  return `${runId}-${i}`;
}

/** A small, seedable PRNG (the mix must be the same for every system and every run). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
