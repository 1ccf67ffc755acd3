import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Tencent Chat webhook authentication (reference file, §2): with a token configured in the
 * console, Chat adds `RequestTime` (Unix seconds) and `Sign` = lowercase hex SHA-256 of the token
 * immediately followed by the decimal RequestTime. Pure and framework-free: one function, one
 * error type for every bad input.
 */
export class SignatureError extends Error {
  override name = 'SignatureError';
}

export interface SignatureInput {
  sign: string | undefined;
  requestTime: string | undefined;
}

export interface SignaturePolicy {
  /** Accepted tokens: the current one first, then any still accepted during a rotation. */
  tokens: readonly string[];
  /** Largest accepted |now - RequestTime|, in seconds. */
  windowSeconds: number;
  /**
   * Optional memo of the expected digests per RequestTime (Tencent signs many callbacks with the
   * same second): owned by the caller, bounded here to the last few seconds seen.
   */
  digests?: Map<string, readonly Buffer[]>;
}

const DIGEST_MEMO_SIZE = 8;

export function sign(token: string, requestTime: string | number): string {
  return createHash('sha256').update(`${token}${requestTime}`, 'utf8').digest('hex');
}

const HEX64 = /^[0-9a-f]{64}$/;
const SECONDS = /^\d{1,12}$/;

/** Throws a SignatureError saying what is wrong, or returns when a token signed the request. */
export function verifySignature(
  input: SignatureInput,
  policy: SignaturePolicy,
  nowMs: number,
): void {
  const { sign: given, requestTime } = input;
  if (given === undefined || given === '') throw new SignatureError('Sign is missing');
  if (requestTime === undefined || requestTime === '')
    throw new SignatureError('RequestTime is missing');
  if (!SECONDS.test(requestTime)) throw new SignatureError('RequestTime must be Unix seconds');
  if (!HEX64.test(given)) throw new SignatureError('Sign must be 64 lowercase hex characters');
  const skew = Math.abs(nowMs / 1000 - Number(requestTime));
  if (skew > policy.windowSeconds) {
    throw new SignatureError(
      `RequestTime is outside the accepted window of ±${policy.windowSeconds} s`,
    );
  }
  const givenBytes = Buffer.from(given, 'hex');
  let match = false;
  for (const expected of expectedDigests(policy, requestTime)) {
    // every token is compared, in constant time, whatever matched before
    if (timingSafeEqual(givenBytes, expected)) match = true;
  }
  if (!match) throw new SignatureError('Sign does not match');
}

/** The digests a valid Sign may have for `requestTime`, one per token (memoised when asked to). */
function expectedDigests(policy: SignaturePolicy, requestTime: string): readonly Buffer[] {
  const memo = policy.digests;
  let digests = memo?.get(requestTime);
  if (digests === undefined) {
    digests = policy.tokens.map((token) => Buffer.from(sign(token, requestTime), 'hex'));
    if (memo) {
      if (memo.size >= DIGEST_MEMO_SIZE) memo.delete(memo.keys().next().value as string);
      memo.set(requestTime, digests);
    }
  }
  return digests;
}
