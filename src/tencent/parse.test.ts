import { BridgeError } from '../errors';
import { MAX_JSON_DEPTH, parseJsonBody } from './parse';

const bytes = (s: string) => Buffer.from(s, 'utf8');
function refusal(body: Uint8Array): BridgeError {
  try {
    parseJsonBody(body);
  } catch (err) {
    return err as BridgeError;
  }
  throw new Error('expected a refusal');
}

describe('parsing the body', () => {
  test('parses JSON with NUL characters, emoji and escapes intact', () => {
    const value = parseJsonBody(bytes('{"Text":"a\\u0000b 👩‍👩‍👧 \\"q\\" \\\\ \\ud83d\\ude00"}'));
    expect(value).toEqual({ Text: 'a\u0000b 👩‍👩‍👧 "q" \\ 😀' });
  });

  test.each([
    ['an empty body', Buffer.alloc(0), 'body is empty: expected a JSON object', 'malformed_json'],
    [
      'bytes that are not UTF-8',
      Buffer.from([0x7b, 0xc3, 0x28, 0x7d]),
      'body is not valid UTF-8',
      'malformed_json',
    ],
    [
      'text that is not JSON',
      bytes('{"a":'),
      expect.stringMatching(/^body is not valid JSON/),
      'malformed_json',
    ],
    [
      'a lone surrogate escape',
      bytes('{"Text":"\\ud800"}'),
      expect.stringMatching(/lone UTF-16 surrogate/),
      'invalid',
    ],
    [
      'a __proto__ key',
      bytes('{"a":{"__proto__":{"x":1}}}'),
      'a field named "__proto__" is not accepted',
      'invalid',
    ],
    [
      'nesting past the limit',
      bytes('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1)),
      `body nests deeper than ${MAX_JSON_DEPTH} levels`,
      'invalid',
    ],
  ])('refuses %s with a 400 naming it', (_name, body, message, reason) => {
    const err = refusal(body);
    expect(err).toBeInstanceOf(BridgeError);
    expect(err.status).toBe(400);
    expect(err.message).toEqual(message);
    expect(err.reason).toBe(reason);
  });

  test('never quotes the body in its errors (it is private content)', () => {
    expect(refusal(bytes('{"Text":"secret words" oops}')).message).not.toContain('secret');
  });

  test('a string that merely says __proto__, or brackets inside strings, are fine', () => {
    expect(parseJsonBody(bytes('{"Text":"__proto__"}'))).toEqual({ Text: '__proto__' });
    const deepText = '['.repeat(500);
    expect(parseJsonBody(bytes(JSON.stringify({ Text: deepText })))).toEqual({ Text: deepText });
  });
});

describe('numbers a double cannot hold', () => {
  test('are kept as their source text, written back verbatim', () => {
    const text = '{"a":18446744073709551615,"b":1E400,"c":-0,"d":22.504356,"e":9007199254740993}';
    const value = parseJsonBody(bytes(text)) as Record<string, unknown>;
    expect(JSON.stringify(value)).toBe(
      '{"a":18446744073709551615,"b":1E400,"c":0,"d":22.504356,"e":9007199254740993}',
    );
    expect(value.d).toBe(22.504356);
    expect(typeof value.a).toBe('object'); // JSON.rawJSON: a typed field refuses it
  });

  test('a __proto__ key written with escapes is refused too', () => {
    const escaped = '{"\\u005f\\u005fproto\\u005f\\u005f":"x"}';
    expect(refusal(bytes(escaped)).message).toBe('a field named "__proto__" is not accepted');
  });
});
