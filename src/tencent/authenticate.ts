import { BridgeError } from '../errors';
import { SignatureError, verifySignature, type SignaturePolicy } from './signature';

/** Who may post callbacks: the app's SdkAppids, and (with a token) only signed requests. */
export interface AuthPolicy {
  /** Empty: any SdkAppid (development only). */
  sdkAppIds: ReadonlySet<string>;
  /** Undefined: no signature required. */
  signature: SignaturePolicy | undefined;
}

const one = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Checks the raw query of a callback against the policy: 403 for another app (or none named),
 * 401 for a missing, malformed, wrong or stale signature. Returns when the request is ours.
 */
export function authenticate(
  query: Record<string, unknown>,
  policy: AuthPolicy,
  nowMs: number,
): void {
  if (policy.sdkAppIds.size > 0) {
    const appId = one(query.SdkAppid) ?? one(query.SdkAppId);
    if (appId === undefined || !policy.sdkAppIds.has(appId)) {
      throw new BridgeError(
        appId === undefined ? 'SdkAppid is missing' : 'this SdkAppid is not accepted here',
        { status: 403, reason: 'foreign_app' },
      );
    }
  }
  if (policy.signature !== undefined) {
    try {
      verifySignature(
        { sign: one(query.Sign), requestTime: one(query.RequestTime) },
        policy.signature,
        nowMs,
      );
    } catch (err) {
      if (!(err instanceof SignatureError)) throw err;
      throw new BridgeError(`unauthenticated: ${err.message}`, {
        status: 401,
        reason: 'unauthenticated',
      });
    }
  }
}
