import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { compileLinear, UnsupportedPattern, type LinearPattern } from './re2-pattern';

/**
 * Moderation rules: a YAML or JSON file of word lists and regular expressions, validated and
 * compiled once at start-up.
 *
 * Matching semantics (documented in config/moderation-rules.example.yaml too):
 * - Text is normalised the same way for words and messages (`normalizeText`): NFKC (full-width
 *   and compatibility forms to their plain form); case folded (upper then lower case, then ß to
 *   ss and ς to σ: close to Unicode full case folding); Latin/Greek/Cyrillic diacritics stripped
 *   (only the combining diacritical marks blocks: kana voicing marks and Indic vowel signs carry
 *   meaning and are kept); invisible format characters removed (zero-width space, soft hyphen);
 *   whitespace runs collapsed to one space.
 * - A word whose first (last) character is a letter or digit of a script written with spaces
 *   (Latin, Cyrillic, Greek, Arabic, ...) must start (end) on a word boundary: "ass" does not
 *   match "class". Words in scripts written without spaces between words (Han, kana, Hangul,
 *   Thai, Lao, Khmer, Myanmar) match anywhere, as substrings: "红包" matches "发红包了".
 * - A regex rule is applied to the normalised text by default (`target: raw` applies it to the
 *   text as sent). Its pattern is written in JavaScript's syntax with the `u` flag always on (plus
 *   the rule's `i`/`m`/`s`), but it runs on re2js (RE2's automaton, see `re2-pattern.ts`): time
 *   linear in the text, whatever the pattern, so no message can stall the consumer. Whatever RE2
 *   cannot run is refused at load, the message naming the rule and the construct: lookahead,
 *   lookbehind, backreferences, some Unicode property names, counted repetitions above 100.
 *   The nested-quantifier check that used to refuse `(a+)+` is gone: it was a heuristic that let
 *   `(\w+\s?){12}!` or `\w*\w*\w*\w*!` through, and RE2 runs `(a+)+` in linear time anyway.
 * - Word rules stay on V8's RegExp (the `v` flag's set subtraction and V8's Unicode tables define
 *   "word character" above): our code builds them, an alternation of escaped literals with one
 *   single-character lookbehind and lookahead each, no quantifier, so nothing to backtrack into;
 *   each position costs at most the total length of the words (measured: 5,000 words sharing a
 *   19-character prefix, on 12 KB of that prefix repeated, 4 ms).
 * - At most `maxScanChars` UTF-16 units of each part are scanned (default 12 KB, Tencent's own
 *   limit for a message).
 */

export type RuleKind = 'word' | 'regex';
export type RuleAction = 'flag' | 'recall';

/** One part of a message, prepared once for every rule. */
export interface ScanText {
  /** The part as sent, capped at `maxScanChars`. */
  raw: string;
  /** `normalizeText(raw)`. */
  normalized: string;
}

export interface CompiledRule {
  id: string;
  kind: RuleKind;
  category: string | null;
  action: RuleAction;
  matches(text: ScanText): boolean;
}

export interface RuleSet {
  rules: readonly CompiledRule[];
  /** Longest prefix of a part that is scanned, in UTF-16 code units. */
  maxScanChars: number;
  /** Caps `text` and normalises it, ready for `CompiledRule.matches`. */
  prepare(text: string): ScanText;
}

/** A rules file (or its text) that cannot be used; the message names the rule and the field. */
export class RulesError extends Error {
  override name = 'RulesError';
}

export const DEFAULT_MAX_SCAN_CHARS = 12 * 1024;

/**
 * Combining diacritical marks (and their supplements, extended, for symbols, half marks), matched
 * one by one after NFD: the class is meant to hold lone combining marks.
 */
// eslint-disable-next-line no-misleading-character-class
const DIACRITICS = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/gu;
const INVISIBLE = /\p{Cf}/gu;
const WHITESPACE = /\s+/gu;
/** What upper-then-lower case leaves unfolded: ß (from ẞ) and the final sigma. */
const FOLD_EXTRA = /[ßς]/gu;

/** The one normalisation applied to words and to message text alike. */
export function normalizeText(text: string): string {
  return text
    .normalize('NFKC')
    .toUpperCase()
    .toLowerCase()
    .replace(FOLD_EXTRA, (c) => (c === 'ß' ? 'ss' : 'σ'))
    .normalize('NFD')
    .replace(DIACRITICS, '')
    .replace(INVISIBLE, '')
    .replace(WHITESPACE, ' ')
    .normalize('NFC');
}

/** Scripts written without spaces between words: their words match as substrings. */
const UNSPACED_SCRIPTS =
  '\\p{sc=Han}\\p{sc=Hiragana}\\p{sc=Katakana}\\p{sc=Hangul}\\p{sc=Thai}\\p{sc=Lao}\\p{sc=Khmer}\\p{sc=Myanmar}';
/** A letter, digit or mark of a script written with spaces (set subtraction needs the v flag). */
const SPACED_WORD_CHAR = `[[\\p{L}\\p{N}\\p{M}]--[${UNSPACED_SCRIPTS}]]`;
const IS_SPACED_WORD_CHAR = new RegExp(`^${SPACED_WORD_CHAR}$`, 'v');

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/**
 * One regex for a word list: the words are grouped by the boundaries they need (whole word, at
 * the start only, at the end only, none), so each group checks its lookarounds once per position.
 * Longest first within a group, so that a phrase is preferred to its prefix.
 */
function compileWords(words: readonly string[]): RegExp {
  const groups = new Map<string, string[]>();
  for (const word of [...new Set(words)].sort((a, b) => b.length - a.length)) {
    const chars = [...word];
    const before = IS_SPACED_WORD_CHAR.test(chars[0] ?? '');
    const after = IS_SPACED_WORD_CHAR.test(chars[chars.length - 1] ?? '');
    const key = `${before ? 'B' : '-'}${after ? 'A' : '-'}`;
    const list = groups.get(key) ?? [];
    list.push(escapeRegExp(word));
    groups.set(key, list);
  }
  const sources = [...groups.entries()].map(([key, list]) => {
    const before = key.startsWith('B') ? `(?<!${SPACED_WORD_CHAR})` : '';
    const after = key.endsWith('A') ? `(?!${SPACED_WORD_CHAR})` : '';
    return `${before}(?:${list.join('|')})${after}`;
  });
  return new RegExp(sources.join('|'), 'v');
}

const ruleId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    'must be 1-64 characters: letters, digits, ".", "_", "-" (it becomes a metric label)',
  );
const common = {
  id: ruleId,
  category: z.string().min(1).max(64).optional(),
  action: z.enum(['flag', 'recall']).default('flag'),
};
const wordRule = z.strictObject({
  ...common,
  kind: z.literal('word'),
  words: z.array(z.string().min(1, 'must not be empty')).min(1, 'must list at least one word'),
});
const regexRule = z.strictObject({
  ...common,
  kind: z.literal('regex'),
  pattern: z.string().min(1, 'must not be empty'),
  flags: z
    .string()
    .regex(/^(?!.*(.).*\1)[ims]*$/, 'may only hold i, m, s, each once (u is always on)')
    .default(''),
  target: z.enum(['normalized', 'raw']).default('normalized'),
});
const rulesFile = z.strictObject({
  rules: z.array(z.discriminatedUnion('kind', [wordRule, regexRule])).min(1),
});
type RuleSpec = z.infer<typeof rulesFile>['rules'][number];

function ruleLabel(raw: unknown, index: number): string {
  const id =
    raw !== null && typeof raw === 'object' && 'id' in raw && typeof raw.id === 'string'
      ? `"${raw.id}" `
      : '';
  return `rule ${id}(rules[${index}])`;
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`))
    .join('');
}

function describeIssues(origin: string, input: unknown, error: z.ZodError): string {
  const rawRules =
    input !== null && typeof input === 'object' && 'rules' in input && Array.isArray(input.rules)
      ? (input.rules as unknown[])
      : [];
  const lines = error.issues.map((issue) => {
    const [top, index, ...rest] = issue.path;
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown field(s) ${issue.keys.join(', ')}`;
    if (top === 'rules' && typeof index === 'number') {
      const field = rest.length > 0 ? ` field "${fieldPath(rest)}"` : '';
      return `${origin}: ${ruleLabel(rawRules[index], index)}${field}: ${message}`;
    }
    const field = issue.path.length > 0 ? ` field "${fieldPath(issue.path)}"` : '';
    return `${origin}${field}: ${message}`;
  });
  return lines.join('\n');
}

function compileRule(spec: RuleSpec, label: string): CompiledRule {
  const base = {
    id: spec.id,
    category: spec.category ?? null,
    action: spec.action,
  };
  if (spec.kind === 'word') {
    const normalized = spec.words.map((w, i) => {
      const n = normalizeText(w).trim();
      if (n === '') throw new RulesError(`${label} field "words[${i}]": is empty once normalised`);
      return n;
    });
    const re = compileWords(normalized);
    return { ...base, kind: 'word', matches: (t) => re.test(t.normalized) };
  }
  let re: LinearPattern;
  try {
    re = compileLinear(spec.pattern, spec.flags);
  } catch (err) {
    const why =
      err instanceof UnsupportedPattern
        ? `refused (the linear-time engine cannot run it): ${err.message}`
        : `does not compile: ${(err as Error).message}`;
    throw new RulesError(`${label} field "pattern": ${why}`);
  }
  const raw = spec.target === 'raw';
  return { ...base, kind: 'regex', matches: (t) => re.test(raw ? t.raw : t.normalized) };
}

/** Caps a text at `max` UTF-16 units without splitting a surrogate pair. */
function cap(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

export interface ParseRulesOptions {
  /** Named in error messages, e.g. the file path. */
  origin?: string;
  maxScanChars?: number;
}

/** Validates and compiles rules already parsed from YAML/JSON. */
export function compileRules(input: unknown, options: ParseRulesOptions = {}): RuleSet {
  const origin = options.origin ?? 'rules';
  const maxScanChars = options.maxScanChars ?? DEFAULT_MAX_SCAN_CHARS;
  if (!Number.isInteger(maxScanChars) || maxScanChars < 1) {
    throw new RulesError(`maxScanChars must be a positive integer, got ${maxScanChars}`);
  }
  const parsed = rulesFile.safeParse(input);
  if (!parsed.success) throw new RulesError(describeIssues(origin, input, parsed.error));
  const seen = new Map<string, number>();
  const rules = parsed.data.rules.map((spec, i) => {
    const label = `${origin}: ${ruleLabel(spec, i)}`;
    const previous = seen.get(spec.id);
    if (previous !== undefined) {
      throw new RulesError(`${label} field "id": duplicates rules[${previous}]`);
    }
    seen.set(spec.id, i);
    return compileRule(spec, label);
  });
  return {
    rules,
    maxScanChars,
    prepare(text) {
      const raw = cap(text, maxScanChars);
      return { raw, normalized: normalizeText(raw) };
    },
  };
}

/** Parses rules from the text of a file: `yaml` (YAML 1.2, JSON included) or `json`. */
export function parseRules(
  text: string,
  format: 'yaml' | 'json',
  options: ParseRulesOptions = {},
): RuleSet {
  const origin = options.origin ?? 'rules';
  let input: unknown;
  try {
    input = format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new RulesError(`${origin}: not valid ${format.toUpperCase()}: ${(err as Error).message}`);
  }
  return compileRules(input, { ...options, origin });
}

/** Reads a rules file; `.yaml`/`.yml` are YAML, `.json` is JSON. */
export function loadRulesFile(
  path: string,
  options: Omit<ParseRulesOptions, 'origin'> = {},
): RuleSet {
  const ext = extname(path).toLowerCase();
  const format = ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : null;
  if (format === null) {
    throw new RulesError(`rules file ${path}: extension must be .yaml, .yml or .json`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RulesError(`rules file ${path}: cannot be read: ${(err as Error).message}`);
  }
  return parseRules(text, format, { ...options, origin: `rules file ${path}` });
}
