import { BridgeError, invalid } from '../errors';

/** Deepest JSON nesting accepted (a relay message nests 4 levels per forwarded level). */
export const MAX_JSON_DEPTH = 100;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const LONE_SURROGATE_ESCAPE = /\\u[dD][89abAB89a-fA-F]/;

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
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw malformed('body is not valid UTF-8');
  }
  const depth = maxDepth(text);
  if (depth > MAX_JSON_DEPTH) throw invalid(`body nests deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const at = /position (\d+)/.exec((err as Error).message);
    throw malformed(`body is not valid JSON${at ? ` (error at character ${at[1]})` : ''}`);
  }
  // both checks below walk the value, so only when the text shows the need
  if (text.includes('__proto__') || LONE_SURROGATE_ESCAPE.test(text)) checkDeep(value);
  return value;
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
