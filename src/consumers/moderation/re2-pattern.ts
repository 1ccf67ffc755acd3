import { RE2JS } from 're2js';

/**
 * Regex rules run on re2js, a pure-JavaScript port of RE2: an automaton, not a backtracking
 * engine, so a match costs time linear in the text whatever the pattern (V8's RegExp backtracks:
 * `\w*\w*\w*\w*!` took seconds on 200 characters and stalled the event loop).
 *
 * Rules keep JavaScript's syntax (a pattern must compile as a `u`-flag RegExp, which checks it
 * and is never run), translated here to RE2's where the two differ so that a pattern means the
 * same on both:
 * - `\s` and `\S` are JavaScript's (Unicode white space, RE2's is ASCII only); `.` without the
 *   `s` flag stops at \r, U+2028 and U+2029 too, not only at \n;
 * - `\uHHHH` (and surrogate pairs), `\u{H...}`, `\cX`, `\0` become `\x{...}`; `[\b]` is a
 *   backspace; `[]` never matches and `[^]` is any character;
 * - `\p{Script=Han}`, `\p{sc=Han}`, `\p{General_Category=L}`, `\p{gc=L}` become `\p{Han}`, `\p{L}`;
 * - named groups become plain groups (a rule only tests whether the text matches).
 * What RE2 cannot run is refused, with the reason: lookahead, lookbehind, backreferences
 * (numbered or named), Unicode properties RE2 does not know (`\p{Script_Extensions=...}`, long
 * category names like `\p{Letter}`, script codes like `\p{sc=Hani}`), and counted repetitions
 * above MAX_REPEAT (nested ones multiplied).
 * Still different: with the `m` flag only \n ends a line for `^` and `$` (JavaScript also takes
 * \r, U+2028, U+2029; the normalised text has no line breaks at all).
 */

/**
 * The largest counted repetition (`x{n}`, `x{n,m}`: the larger bound; nested ones multiplied),
 * against RE2's own 1000. A pattern like `\p{L}{1000}z` compiles to an automaton too big for
 * re2js's DFA cache; the fallback stays linear but took 0.35 s on 12 KB of letters, and
 * `(?:\p{L}+\s?){700}!` 0.7 s. At 100 the worst measured was 16 ms.
 */
export const MAX_REPEAT = 100;

/** A pattern the linear-time engine cannot run; the message says what and why. */
export class UnsupportedPattern extends Error {
  override name = 'UnsupportedPattern';
}

/** JavaScript's white space and line terminators (what `\s` matches with the `u` flag). */
const WS =
  '\\t\\n\\v\\f\\r \\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}';
/** Every other code point (`\S` inside a class, where RE2 cannot negate a part). */
const NOT_WS =
  '\\x{0}-\\x{8}\\x{e}-\\x{1f}\\x{21}-\\x{9f}\\x{a1}-\\x{167f}\\x{1681}-\\x{1fff}\\x{200b}-\\x{2027}' +
  '\\x{202a}-\\x{202e}\\x{2030}-\\x{205e}\\x{2060}-\\x{2fff}\\x{3001}-\\x{fefe}\\x{ff00}-\\x{10ffff}';
const ANY = '\\x{0}-\\x{10ffff}';
/** `.` without the `s` flag: anything but JavaScript's line terminators. */
const DOT = '[^\\n\\r\\x{2028}\\x{2029}]';

function hex(code: number): string {
  return `\\x{${code.toString(16)}}`;
}

/** `Name` or `Name=Value` of `\p{...}`, as RE2 names it (RE2 has no `Name=` form). */
function re2Property(body: string, escape: string): string {
  const eq = body.indexOf('=');
  if (eq < 0) return checkedProperty(body, escape);
  const name = body.slice(0, eq);
  const value = body.slice(eq + 1);
  if (name === 'Script_Extensions' || name === 'scx') {
    throw new UnsupportedPattern(`${escape}: Script_Extensions is not supported by RE2`);
  }
  // JavaScript only knows these two names with a value (and Script_Extensions)
  return checkedProperty(value, escape);
}

const knownProperties = new Map<string, boolean>();

function checkedProperty(name: string, escape: string): string {
  let known = knownProperties.get(name);
  if (known === undefined) {
    try {
      RE2JS.compile(`\\p{${name}}`);
      known = true;
    } catch {
      known = false;
    }
    knownProperties.set(name, known);
  }
  if (!known) {
    throw new UnsupportedPattern(
      `${escape}: Unicode property not known to RE2 (it knows general categories by their ` +
        'short name, \\p{L}, \\p{Lu}, scripts by their full name, \\p{Han}, \\p{Latin}, and a few ' +
        'binary properties)',
    );
  }
  return name;
}

/**
 * Reads the escape at `pattern[i]` (a backslash) in a pattern JavaScript accepted with the `u`
 * flag; returns its RE2 form and the index after it. `inClass`: inside `[...]`, where `\b` is a
 * backspace and `\s`/`\S` must be ranges.
 */
function translateEscape(pattern: string, i: number, inClass: boolean): [string, number] {
  const c = pattern[i + 1] ?? '';
  switch (c) {
    case 's':
      return [inClass ? WS : `[${WS}]`, i + 2];
    case 'S':
      return [inClass ? NOT_WS : `[^${WS}]`, i + 2];
    case 'b':
      return [inClass ? hex(8) : '\\b', i + 2];
    case '0':
      return [hex(0), i + 2];
    case 'c':
      return [hex((pattern.codePointAt(i + 2) ?? 0) % 32), i + 3];
    case 'k':
      throw new UnsupportedPattern(
        'named backreferences (\\k<name>) are not supported: they need backtracking',
      );
    case 'x':
      return [`\\x{${pattern.slice(i + 2, i + 4)}}`, i + 4];
    case 'u': {
      if (pattern[i + 2] === '{') {
        const end = pattern.indexOf('}', i + 3);
        return [`\\x{${pattern.slice(i + 3, end)}}`, end + 1];
      }
      const code = parseInt(pattern.slice(i + 2, i + 6), 16);
      // a surrogate pair written as two escapes is one code point with the u flag
      const next = pattern.slice(i + 6, i + 12);
      if (code >= 0xd800 && code <= 0xdbff && /^\\u[dD][c-fC-F][0-9a-fA-F]{2}$/.test(next)) {
        const low = parseInt(next.slice(2), 16);
        return [hex((code - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000), i + 12];
      }
      return [hex(code), i + 6];
    }
    case 'p':
    case 'P': {
      const end = pattern.indexOf('}', i + 3);
      const body = pattern.slice(i + 3, end);
      return [`\\${c}{${re2Property(body, pattern.slice(i, end + 1))}}`, end + 1];
    }
    default:
      if (c >= '1' && c <= '9') {
        throw new UnsupportedPattern(
          `backreferences (\\${c}) are not supported: they need backtracking`,
        );
      }
      // \d \D \w \W \B \f \n \r \t \v and escaped syntax characters mean the same in RE2
      return [`\\${c}`, i + 2];
  }
}

/**
 * The RE2 form of a pattern that compiled as a JavaScript RegExp with the `u` flag (and
 * `dotAll` when the rule has the `s` flag). Throws UnsupportedPattern for what RE2 cannot run.
 */
export function toRe2Syntax(pattern: string, dotAll: boolean): string {
  let out = '';
  let inClass = false;
  // counted repetition: the largest product inside each open group, and of the last atom
  const groups: number[] = [1];
  let last = 1;
  const atom = (weight: number): void => {
    last = weight;
    groups[groups.length - 1] = Math.max(groups[groups.length - 1] ?? 1, weight);
  };
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (c === '\\') {
      const [re2, next] = translateEscape(pattern, i, inClass);
      out += re2;
      i = next;
      if (!inClass) atom(1);
      continue;
    }
    if (inClass) {
      if (c === ']') {
        inClass = false;
        atom(1);
      }
      out += c === '[' ? '\\[' : c;
      i++;
      continue;
    }
    switch (c) {
      case '[':
        if (pattern.startsWith('[]', i)) {
          out += `[^${ANY}]`;
          i += 2;
          atom(1);
        } else if (pattern.startsWith('[^]', i)) {
          out += `[${ANY}]`;
          i += 3;
          atom(1);
        } else {
          const negated = pattern[i + 1] === '^';
          out += negated ? '[^' : '[';
          i += negated ? 2 : 1;
          inClass = true;
        }
        continue;
      case '(': {
        const rest = pattern.slice(i, i + 4);
        if (rest.startsWith('(?=') || rest.startsWith('(?!')) {
          throw new UnsupportedPattern(
            `lookahead ${rest.slice(0, 3)}...) is not supported by the linear-time engine`,
          );
        }
        if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
          throw new UnsupportedPattern(
            `lookbehind ${rest}...) is not supported by the linear-time engine`,
          );
        }
        if (rest.startsWith('(?<')) {
          // a named group: only whether the text matches counts, so a plain group
          out += '(?:';
          i = pattern.indexOf('>', i) + 1;
        } else if (rest.startsWith('(?')) {
          // (?: or modifiers (?i:, (?-s: ... RE2 has the same
          const end = pattern.indexOf(':', i) + 1;
          out += pattern.slice(i, end);
          i = end;
        } else {
          out += '(';
          i++;
        }
        groups.push(1);
        continue;
      }
      case ')':
        out += ')';
        i++;
        atom(groups.length > 1 ? (groups.pop() as number) : 1);
        continue;
      case '{': {
        const end = pattern.indexOf('}', i);
        const bounds = pattern
          .slice(i + 1, end)
          .split(',')
          .filter((b) => b !== '')
          .map(Number);
        const count = last * Math.max(...bounds);
        if (count > MAX_REPEAT) {
          throw new UnsupportedPattern(
            `counted repetition ${pattern.slice(i, end + 1)} repeats ${count} times (nested ` +
              `repetitions multiplied), more than ${MAX_REPEAT}: the automaton would be too ` +
              'big to run fast',
          );
        }
        atom(count);
        out += pattern.slice(i, end + 1);
        i = end + 1;
        continue;
      }
      case '.':
        out += dotAll ? '.' : DOT;
        i++;
        atom(1);
        continue;
      case '*':
      case '+':
      case '?':
      case '|':
      case '^':
      case '$':
        out += c;
        i++;
        continue;
      default: {
        const cp = pattern.codePointAt(i) as number;
        const ch = String.fromCodePoint(cp);
        out += ch;
        i += ch.length;
        atom(1);
      }
    }
  }
  return out;
}

/** The rule flags (i, m, s) as re2js's. */
export function re2Flags(flags: string): number {
  let f = 0;
  if (flags.includes('i')) f |= RE2JS.CASE_INSENSITIVE;
  if (flags.includes('m')) f |= RE2JS.MULTILINE;
  if (flags.includes('s')) f |= RE2JS.DOTALL;
  return f;
}

/** A compiled pattern: only whether it matches somewhere in a text. */
export interface LinearPattern {
  test(text: string): boolean;
}

/**
 * Compiles a rule's pattern (JavaScript syntax, `u` flag always on, plus the rule's i/m/s) for
 * re2js. Throws SyntaxError when JavaScript rejects the pattern, UnsupportedPattern when RE2
 * cannot run it.
 */
export function compileLinear(pattern: string, flags: string): LinearPattern {
  // checks the syntax the rules are documented in; never executed
  new RegExp(pattern, `${flags}u`);
  const source = toRe2Syntax(pattern, flags.includes('s'));
  try {
    return RE2JS.compile(source, re2Flags(flags));
  } catch (err) {
    throw new UnsupportedPattern(`RE2 cannot compile it: ${(err as Error).message}`);
  }
}
