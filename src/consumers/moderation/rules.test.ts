import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compileRules,
  loadRulesFile,
  nestedQuantifierReason,
  normalizeText,
  parseRules,
  RulesError,
  type RuleSet,
} from './rules';

const EXAMPLE = join(__dirname, '..', '..', '..', 'config', 'moderation-rules.example.yaml');

function words(...list: string[]): RuleSet {
  return compileRules({ rules: [{ id: 'w', kind: 'word', words: list }] });
}
function matches(set: RuleSet, text: string): boolean {
  const scan = set.prepare(text);
  return set.rules.some((r) => r.matches(scan));
}
function compileError(input: unknown): string {
  try {
    compileRules(input, { origin: 'rules.yaml' });
  } catch (err) {
    expect(err).toBeInstanceOf(RulesError);
    return (err as Error).message;
  }
  throw new Error('expected a RulesError');
}

describe('normalizeText', () => {
  it.each([
    ['full width', 'ＦＲＥＥ　ＭＯＮＥＹ', 'free money'],
    ['case', 'FrEe MoNeY', 'free money'],
    ['diacritics', 'Crème Brûlée', 'creme brulee'],
    ['precomposed vs combining', 'cre\u0300me', 'creme'],
    ['sharp s folds to ss', 'STRAẞE Straße', 'strasse strasse'],
    ['final sigma', 'ΟΔΟΣ οδος', 'οδοσ οδοσ'],
    ['zero-width and soft hyphen removed', 'sp\u200bam sp\u00adam', 'spam spam'],
    ['whitespace collapsed', 'a \t\n  b', 'a b'],
    ['half-width katakana widened', 'ｶﾀｶﾅ', 'カタカナ'],
    ['circled digits', '①②③', '123'],
  ])('%s', (_name, input, expected) => {
    expect(normalizeText(input)).toBe(expected);
  });

  it('keeps kana voicing marks and Hangul syllables (they carry meaning)', () => {
    expect(normalizeText('ばか')).toBe('ばか');
    expect(normalizeText('ばか')).not.toBe(normalizeText('はか'));
    expect(normalizeText('한국어')).toBe('한국어');
  });
});

describe('word rules', () => {
  it('match case, width and diacritic variants of a word', () => {
    const set = words('crème brûlée', 'spam');
    for (const text of [
      'CREME BRULEE',
      'ｃｒèｍｅ　ｂｒｕｌéｅ',
      'creme\n brulee!',
      'Spam?',
      'ＳＰＡＭ',
    ]) {
      expect([text, matches(set, text)]).toEqual([text, true]);
    }
    expect(matches(set, 'creme caramel')).toBe(false);
  });

  it('match Latin-script words as whole words only', () => {
    const set = words('ass');
    expect(matches(set, 'my class is classy')).toBe(false);
    expect(matches(set, 'assess')).toBe(false);
    expect(matches(set, 'you ass.')).toBe(true);
    expect(matches(set, 'ASS')).toBe(true);
    expect(matches(set, '"ass"')).toBe(true);
    // a boundary with an unspaced script counts as a boundary
    expect(matches(set, '你好ass')).toBe(true);
    // digits and accented letters are word characters
    expect(matches(set, 'ass2')).toBe(false);
    expect(matches(set, 'éass')).toBe(false);
  });

  it('match Chinese, Japanese and Korean words as substrings', () => {
    const set = words('红包', 'ギフト券', '바보');
    expect(matches(set, '快来抢红包啦')).toBe(true);
    expect(matches(set, 'Amazonギフト券をどうぞ')).toBe(true);
    expect(matches(set, '바보야')).toBe(true);
    expect(matches(set, '红色的包')).toBe(false);
  });

  it('match multi-word phrases across any whitespace and treat regex characters literally', () => {
    const set = words('free money', 'a.b', 'c++');
    expect(matches(set, 'get FREE\t\tmoney now')).toBe(true);
    expect(matches(set, 'freemoney')).toBe(false);
    expect(matches(set, 'axb')).toBe(false);
    expect(matches(set, 'a.b')).toBe(true);
    expect(matches(set, 'I like c++ a lot')).toBe(true);
    const odd = words('a&&b', 'c--d', '[x]', 'q\\w', '(y)?', '$5^', 'f/g', '{z}');
    for (const w of ['a&&b', 'c--d', '[x]', 'q\\w', '(y)?', '$5^', 'f/g', '{z}']) {
      expect([w, matches(odd, `say ${w} now`)]).toEqual([w, true]);
    }
    expect(matches(odd, 'x q w y')).toBe(false);
  });

  it('cap the scanned part at maxScanChars', () => {
    const set = compileRules(
      { rules: [{ id: 'w', kind: 'word', words: ['needle'] }] },
      { maxScanChars: 100 },
    );
    expect(matches(set, `${' '.repeat(80)}needle`)).toBe(true);
    expect(matches(set, `${' '.repeat(100)}needle`)).toBe(false);
    // a surrogate pair is never split
    expect(set.prepare(`${'x'.repeat(99)}😀`).raw).toBe('x'.repeat(99));
  });
});

describe('regex rules', () => {
  it('apply to the normalised text by default, with the u flag', () => {
    const set = compileRules({
      rules: [{ id: 'r', kind: 'regex', pattern: '\\bcafe\\b|\\p{sc=Han}{3}' }],
    });
    expect(matches(set, 'CAFÉ')).toBe(true);
    expect(matches(set, '你好吗')).toBe(true);
    expect(matches(set, 'cafes')).toBe(false);
  });

  it('apply to the raw text with target: raw, and honour flags', () => {
    const raw = compileRules({
      rules: [{ id: 'r', kind: 'regex', pattern: '^Café$', target: 'raw', flags: 'm' }],
    });
    expect(matches(raw, 'x\nCafé')).toBe(true);
    expect(matches(raw, 'café')).toBe(false);
    const insensitive = compileRules({
      rules: [{ id: 'r', kind: 'regex', pattern: 'Café', target: 'raw', flags: 'i' }],
    });
    expect(matches(insensitive, 'CAFÉ')).toBe(true);
  });

  it('refuse nested unbounded quantifiers and keep safe patterns', () => {
    expect(nestedQuantifierReason('(a+)+$')).toMatch(/nested unbounded/);
    expect(nestedQuantifierReason('(\\w+\\s*)*x')).toMatch(/nested unbounded/);
    expect(nestedQuantifierReason('(?:x(a*))+')).toMatch(/nested unbounded/);
    expect(nestedQuantifierReason('((ab)*c){2,}')).toMatch(/nested unbounded/);
    expect(nestedQuantifierReason('(ab)+c*\\d+')).toBeNull();
    expect(nestedQuantifierReason('[(a+)]+')).toBeNull();
    expect(nestedQuantifierReason('(a+)?b')).toBeNull();
    expect(nestedQuantifierReason('\\(a+\\)+')).toBeNull();
  });
});

describe('rules file errors name the rule and the field', () => {
  it.each([
    [{ rules: [{ id: 'a', kind: 'word', words: [] }] }, 'rule "a" (rules[0]) field "words"'],
    [
      { rules: [{ id: 'a', kind: 'word', words: ['x', ''] }] },
      'rule "a" (rules[0]) field "words[1]"',
    ],
    [{ rules: [{ id: 'a', kind: 'wurd', words: ['x'] }] }, 'rule "a" (rules[0]) field "kind"'],
    [
      { rules: [{ id: 'a', kind: 'regex', pattern: '(' }] },
      'rule "a" (rules[0]) field "pattern": does not compile',
    ],
    [
      { rules: [{ id: 'a', kind: 'regex', pattern: '(a+)+' }] },
      'rule "a" (rules[0]) field "pattern": refused',
    ],
    [
      { rules: [{ id: 'a', kind: 'regex', pattern: 'x', flags: 'g' }] },
      'rule "a" (rules[0]) field "flags"',
    ],
    [
      { rules: [{ id: 'a', kind: 'word', words: ['x'], colour: 1 }] },
      'rule "a" (rules[0]): unknown field(s) colour',
    ],
    [
      { rules: [{ id: 'a', kind: 'word', words: ['x'], action: 'ban' }] },
      'rule "a" (rules[0]) field "action"',
    ],
    [{ rules: [{ id: 'a b', kind: 'word', words: ['x'] }] }, 'rule "a b" (rules[0]) field "id"'],
    [
      { rules: [{ id: 'a', kind: 'word', words: ['\u200b'] }] },
      'rule "a" (rules[0]) field "words[0]": is empty once normalised',
    ],
    [
      {
        rules: [
          { id: 'a', kind: 'word', words: ['x'] },
          { id: 'a', kind: 'word', words: ['y'] },
        ],
      },
      'rule "a" (rules[1]) field "id": duplicates rules[0]',
    ],
    [{ rulez: [] }, 'rules.yaml: unknown field(s) rulez'],
  ])('%j', (input, expected) => {
    const message = compileError(input);
    expect(message).toContain(expected);
    expect(message.startsWith('rules.yaml')).toBe(true);
  });

  it('reports unparseable YAML and JSON with the file name', () => {
    expect(() => parseRules('rules: [', 'yaml', { origin: 'x.yaml' })).toThrow(
      /x\.yaml: not valid YAML/,
    );
    expect(() => parseRules('{', 'json', { origin: 'x.json' })).toThrow(/x\.json: not valid JSON/);
  });
});

describe('loadRulesFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'moderation-rules-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads JSON by extension, defaults action to flag', () => {
    const path = join(dir, 'rules.json');
    writeFileSync(path, JSON.stringify({ rules: [{ id: 'j', kind: 'word', words: ['hello'] }] }));
    const set = loadRulesFile(path);
    expect(set.rules.map((r) => [r.id, r.kind, r.action, r.category])).toEqual([
      ['j', 'word', 'flag', null],
    ]);
    expect(matches(set, 'HELLO there')).toBe(true);
  });

  it('refuses other extensions and missing files, naming the path', () => {
    expect(() => loadRulesFile(join(dir, 'rules.txt'))).toThrow(/rules\.txt: extension must be/);
    expect(() => loadRulesFile(join(dir, 'missing.yaml'))).toThrow(/missing\.yaml: cannot be read/);
  });

  it('loads the example file, whose demo words match their variants', () => {
    const set = loadRulesFile(EXAMPLE);
    expect(set.rules.map((r) => r.id)).toEqual([
      'demo-spam',
      'demo-gift-scam',
      'demo-phone-number',
      'demo-shortlink',
    ]);
    const hit = (text: string) =>
      set.rules.filter((r) => r.matches(set.prepare(text))).map((r) => r.id);
    expect(hit('ｆｒｅｅ　ｍｏｎｅｙ!')).toEqual(['demo-spam']);
    expect(hit('CRÈME BRULEE')).toEqual(['demo-spam']);
    expect(hit('便宜刷粉')).toEqual(['demo-spam']);
    expect(hit('这是红包诈骗')).toEqual(['demo-gift-scam']);
    expect(hit('call １３８ ００１３ ８０００')).toEqual(['demo-phone-number']);
    expect(hit('see https://bit.ly/abc')).toEqual(['demo-shortlink']);
    expect(hit('a perfectly fine message')).toEqual([]);
  });
});
