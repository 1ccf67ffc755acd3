import { isUtf8 } from 'node:buffer';
import { BridgeError, invalid } from '../errors';

/** Deepest JSON nesting accepted (a relay message nests 4 levels per forwarded level). */
export const MAX_JSON_DEPTH = 100;

/** A run of 16+ digits or an exponent: a number that may not survive as a double. */
const BIG_NUMBER = /\d(?:\d{15}|[eE][+-]?\d)/;

/**
 * JSON.parse reviver: a number whose value a double cannot hold exactly (an integer beyond
 * 2^53, or beyond the double range) becomes JSON.rawJSON of its source text, which
 * JSON.stringify writes back verbatim. Typed fields refuse it (they take safe integers only);
 * fields the schema does not name keep it, digit for digit.
 */
function keepBigNumbers(
  this: unknown,
  _key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value;
  const source = context.source;
  const lossy = !Number.isFinite(value) || (/^-?\d+$/.test(source) && !Number.isSafeInteger(value));
  return lossy ? (JSON as RawJsonApi).rawJSON(source) : value;
}

type RawJsonApi = typeof JSON & {
  rawJSON(text: string): unknown;
  isRawJSON(value: unknown): boolean;
};

/** Whether a value is a big number kept as its source text (an object to `typeof`, never one in JSON). */
export const isRawJson = (value: unknown): boolean => (JSON as RawJsonApi).isRawJSON(value);

/** JSON text -> value, numbers kept exact as parseJsonBody keeps them (for text the bridge wrote). */
export function parseJsonExact(text: string): unknown {
  return BIG_NUMBER.test(text) ? JSON.parse(text, keepBigNumbers) : JSON.parse(text);
}

const malformed = (message: string): BridgeError =>
  new BridgeError(message, { status: 400, reason: 'malformed_json' });

/**
 * Body bytes -> JSON value, refusing what could not be stored faithfully: bytes that are not
 * UTF-8, text that is not JSON, nesting deeper than MAX_JSON_DEPTH, strings with lone UTF-16
 * surrogates (UTF-8 cannot carry them) and `__proto__` keys (JavaScript consumers would lose them).
 * Error messages never quote the body: it is users' private content.
 */
export function parseJsonBody(body: Uint8Array): unknown {
  if (body.length === 0) throw malformed('body is empty: expected a JSON object');
  if (!isUtf8(body)) throw malformed('body is not valid UTF-8');
  let text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a BOM, as TextDecoder drops it
  let value: unknown;
  try {
    // integers beyond 2^53 and numbers beyond a double parse lossily: kept as their source text
    value = parseJsonExact(text);
  } catch (err) {
    const at = /position (\d+)/.exec((err as Error).message);
    throw malformed(`body is not valid JSON${at ? ` (error at character ${at[1]})` : ''}`);
  }
  // JSON, but not a record we could store faithfully: refused as invalid (a dead letter)
  if (openers(text) > MAX_JSON_DEPTH && maxDepth(text) > MAX_JSON_DEPTH)
    throw invalid(`body nests deeper than ${MAX_JSON_DEPTH} levels`);
  // the checks below walk the value, so only when the text shows the need: a key can only be
  // __proto__ if the text says so, literally or through \u escapes
  if (text.includes('__proto__') || text.includes('\\u')) checkDeep(value);
  return value;
}

/**
 * How many `{` and `[` the text holds, strings included: at least the nesting depth, and counted
 * natively (indexOf), so the exact scan below only runs for the rare body that could be too deep.
 */
function openers(text: string): number {
  let n = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) n++;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) n++;
  return n;
}

/** Deepest nesting of objects and arrays, outside strings. */
function maxDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

function checkDeep(v: unknown): void {
  if (typeof v === 'string') {
    if (!v.isWellFormed()) {
      throw invalid(
        'body has a string with a lone UTF-16 surrogate escape, which UTF-8 cannot carry',
      );
    }
  } else if (Array.isArray(v)) {
    v.forEach(checkDeep);
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '__proto__') throw invalid('a field named "__proto__" is not accepted');
      checkDeep(k);
      checkDeep(x);
    }
  }
}
