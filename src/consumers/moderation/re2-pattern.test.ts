import fc from 'fast-check';
import { compileLinear, MAX_REPEAT, toRe2Syntax, UnsupportedPattern } from './re2-pattern';

function refusal(pattern: string, flags = ''): string {
  try {
    compileLinear(pattern, flags);
  } catch (err) {
    expect(err).toBeInstanceOf(UnsupportedPattern);
    return (err as Error).message;
  }
  throw new Error(`expected ${pattern} to be refused`);
}

describe('compileLinear: JavaScript syntax on RE2', () => {
  it('means what the same pattern means to JavaScript', () => {
    const cases: [string, string, string, boolean][] = [
      // pattern, flags, text, matches
      ['\\u00e9', '', 'café', true],
      ['\\u{1F600}', '', 'hi 😀', true],
      ['^\\ud83d\\ude00$', '', '😀', true],
      ['^.$', '', '😀', true],
      ['^[😀-😂]$', '', '😁', true],
      ['^[^😀]$', '', '😁', true],
      ['\\x41\\cJ', '', 'A\n', true],
      ['a\\0b', '', 'a\u0000b', true],
      ['[\\b]', '', 'a\bb', true],
      ['[\\b]', '', 'ab', false],
      ['a\\bb', '', 'a b', false],
      ['a[]', '', 'a', false],
      ['a[^]b', '', 'a\nb', true],
      ['(?<word>x)y', '', 'xy', true],
      ['\\p{Script=Greek}\\p{sc=Han}\\p{gc=Lu}\\p{Lu}', '', 'αλ中AB', true],
      ['[\\p{sc=Han}\\s]{3}', '', '中 中', true],
      ['[\\[\\]]', '', ']', true],
      ['[[]', '', '[', true],
      ['\\/\\.\\*', '', '/.*', true],
      ['(?i:ab)c', '', 'ABc', true],
      ['(?i:ab)c', '', 'ABC', false],
      ['straSSe', 'i', 'STRASSE', true],
      ['σ', 'i', 'Σς', true],
      ['^b$', 'm', 'a\nb\nc', true],
      ['^b$', '', 'a\nb\nc', false],
      ['a.b', '', 'a\nb', false],
      ['a.b', '', 'a\rb', false],
      ['a.b', '', 'a\u2028b', false],
      ['a.b', 's', 'a\nb', true],
      ['a.b', 's', 'a\u2028b', true],
      // \s is Unicode white space, as in JavaScript (RE2's own is ASCII only)
      ['a\\sb', '', 'a\u00a0b', true],
      ['a\\sb', '', 'a\u3000b', true],
      ['a\\Sb', '', 'a\u3000b', false],
      ['a[^\\S]b', '', 'a\u2003b', true],
      // \w, \d and \b are ASCII in both
      ['\\w', '', 'é', false],
      ['\\d', '', '١', false],
    ];
    for (const [pattern, flags, text, expected] of cases) {
      const js = new RegExp(pattern, `${flags}u`).test(text);
      const re2 = compileLinear(pattern, flags).test(text);
      expect({ pattern, flags, text, js, re2 }).toEqual({
        pattern,
        flags,
        text,
        js: expected,
        re2: expected,
      });
    }
  });

  it('translates \\s and \\S to exactly what JavaScript matches, for every BMP code point', () => {
    const forms = ['\\s', '\\S', '[\\s]', '[\\S]', '[^\\s]', '[^\\S]', '[x\\S]'];
    for (const form of forms) {
      const js = new RegExp(`^${form}$`, 'u');
      const re2 = compileLinear(`^${form}$`, '');
      const wrong: string[] = [];
      for (let cp = 0; cp <= 0xffff; cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        const ch = String.fromCharCode(cp);
        if (js.test(ch) !== re2.test(ch)) wrong.push(cp.toString(16));
      }
      for (const ch of ['😀', '\u{10ffff}']) {
        if (js.test(ch) !== re2.test(ch)) wrong.push(ch);
      }
      expect([form, wrong]).toEqual([form, []]);
    }
  });

  it('agrees with JavaScript on random patterns of the constructs both run', () => {
    const atoms = [
      'a',
      'b',
      'é',
      '😀',
      ' ',
      '-',
      '.',
      '\\.',
      '\\s',
      '\\S',
      '\\d',
      '\\w',
      '\\W',
      '\\b',
      '\\B',
      '^',
      '$',
      '\\u00e9',
      '\\u{1F600}',
      '\\x61',
      '[ab]',
      '[^a\\s]',
      '[\\S]',
      '[a-c]',
      '[\\b]',
      '[^]',
      '\\p{L}',
      '\\P{L}',
      '\\p{Lu}',
      '\\p{sc=Latin}',
      '\\p{Script=Greek}',
    ];
    const { node } = fc.letrec<{ node: string }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', maxDepth: 4 },
        fc.constantFrom(...atoms),
        fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((xs) => xs.join('')),
        fc.tuple(tie('node'), tie('node')).map(([a, b]) => `${a}|${b}`),
        fc
          .tuple(fc.constantFrom('(', '(?:', '(?i:', '(?-i:'), tie('node'))
          .map(([open, x]) => `${open}${x})`),
        fc
          .tuple(tie('node'), fc.constantFrom('*', '+', '?', '{2}', '{0,2}', '{1,}', '*?', '+?'))
          .map(([x, q]) => `(?:${x})${q}`),
      ),
    }));
    const chars = [
      'a',
      'b',
      'A',
      'B',
      'é',
      'É',
      '😀',
      '\n',
      '\r',
      '\u2028',
      ' ',
      '\u00a0',
      '1',
      '-',
    ];
    const text = fc.array(fc.constantFrom(...chars), { maxLength: 8 }).map((xs) => xs.join(''));
    const flags = fc.subarray(['i', 'm', 's']).map((xs) => xs.join(''));
    fc.assert(
      fc.property(node, flags, fc.array(text, { minLength: 1, maxLength: 5 }), (p, f, texts) => {
        const js = new RegExp(p, `${f}u`);
        const re2 = compileLinear(p, f);
        for (const raw of texts) {
          // the known differences: \r and U+2028 end a line for JavaScript's ^ and $ with m,
          // not for RE2's; V8 also tries \B between the two halves of an astral character
          // (both "non-word": \B matches there), RE2 only between characters (ſ and the Kelvin
          // sign, \w for JavaScript with i, are not here)
          if (p.includes('\\B') && /\p{Extended_Pictographic}/u.test(raw)) continue;
          const t = f.includes('m') ? raw.replace(/[\r\u2028]/g, '') : raw;
          expect({ p, f, t, re2: re2.test(t) }).toEqual({ p, f, t, re2: js.test(t) });
        }
      }),
      // A fixed seed: the same 1,000 cases every run, so CI cannot flake. Explore with
      // RE2_PROPERTY_SEED/RE2_PROPERTY_RUNS: at 30,000 runs it still finds rare disagreements,
      // e.g. "(?i:aa|\\u00e9|\\u{1F600})" on "É" (RE2 matches, as a plain node run of the same
      // RegExp does; under Jest it did not): not yet explained.
      {
        numRuns: Number(process.env.RE2_PROPERTY_RUNS ?? 1000),
        seed: Number(process.env.RE2_PROPERTY_SEED ?? 20261207),
      },
    );
  });
});

describe('compileLinear refuses what RE2 cannot run, saying what', () => {
  it.each([
    ['(a)\\1', /backreferences \(\\1\)/],
    ['(?<x>a)\\k<x>', /named backreferences/],
    ['a(?=b)', /lookahead \(\?=\.\.\.\) is not supported/],
    ['a(?!b)', /lookahead \(\?!\.\.\.\)/],
    ['(?<=a)b', /lookbehind \(\?<=\.\.\.\) is not supported/],
    ['(?<!a)b', /lookbehind \(\?<!\.\.\.\)/],
    ['\\p{scx=Han}', /Script_Extensions/],
    ['\\p{Letter}', /\\p\{Letter\}: Unicode property not known to RE2/],
    ['\\p{sc=Hani}', /\\p\{sc=Hani\}: Unicode property not known/],
    [`a{${MAX_REPEAT + 1}}`, /counted repetition a?\{101\} repeats 101 times/],
    ['(?:a{20}){6}', /repeats 120 times \(nested repetitions multiplied\)/],
    ['(?:(?:a{2,3}b){5}){7,}', /repeats 105 times/],
  ])('%s', (pattern, reason) => {
    expect(refusal(pattern)).toMatch(reason);
  });

  it('keeps counted repetitions up to the limit, nested ones multiplied', () => {
    expect(compileLinear(`a{${MAX_REPEAT}}`, '').test('a'.repeat(MAX_REPEAT))).toBe(true);
    expect(compileLinear('(?:a{10}b){10}', '').test('a'.repeat(10) + 'b')).toBe(false);
    expect(compileLinear('(?:a{2}){3}(?:b{50}){2}', '').test('aaaaaa' + 'b'.repeat(100))).toBe(
      true,
    );
  });

  it('leaves the syntax errors to JavaScript', () => {
    expect(() => compileLinear('(', '')).toThrow(SyntaxError);
    expect(() => compileLinear('\\p{Nope}', '')).toThrow(SyntaxError);
    expect(() => compileLinear('a{,3}', '')).toThrow(SyntaxError);
  });

  it('writes what it translates in RE2 syntax', () => {
    expect(toRe2Syntax('(?<n>\\u00e9)\\p{sc=Han}', false)).toBe('(?:\\x{e9})\\p{Han}');
    expect(toRe2Syntax('a.b', false)).toBe('a[^\\n\\r\\x{2028}\\x{2029}]b');
    expect(toRe2Syntax('a.b', true)).toBe('a.b');
  });
});
