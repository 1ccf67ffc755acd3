/**
 * The one error type that crosses module boundaries. It carries what the HTTP layer needs to
 * answer (status and a message naming the problem), a stable `reason` (a metric label and a log
 * field), and whether trying again later could succeed (`retriable`), in the spirit of KafkaJS's
 * errors.
 */
export type RefusalReason =
  | 'invalid'
  | 'malformed_json'
  | 'too_large'
  | 'unsupported_media'
  | 'not_found'
  | 'method_not_allowed'
  | 'unauthenticated'
  | 'foreign_app'
  | 'kafka_unavailable'
  /** Kafka refused the record itself (too large for its topic, invalid): sending it again fails again. */
  | 'kafka_refused'
  | 'publish_timeout'
  | 'not_ready'
  | 'shutting_down'
  | 'spool_full'
  | 'internal';

/**
 * Whose fault each refusal is: the one place that classifies them, for the availability SLO
 * (docs/operate.md, "SLOs"; the recording rules select `tim_bridge_callbacks_refused_total` by
 * these reasons, and a test keeps both in step).
 *
 * - `ours`: the bridge, its Kafka or its spool failed a callback that it should have taken. Each
 *   is a callback lost for Tencent (it does not retry "after" callbacks): the error budget. All
 *   of them are answered 5xx.
 * - `client`: the request itself is wrong (unsigned, another app's, not JSON, too large, not the
 *   schema); sending it again fails again. On a public endpoint most are internet noise, so they
 *   are not in the SLO. All of them are answered 4xx.
 * - `unrouted`: no callback at all (another path or method), counted apart
 *   (`tim_bridge_requests_unrouted_total`).
 */
export const REFUSAL_FAULT: Readonly<Record<RefusalReason, 'ours' | 'client' | 'unrouted'>> = {
  kafka_unavailable: 'ours',
  kafka_refused: 'ours',
  publish_timeout: 'ours',
  not_ready: 'ours',
  shutting_down: 'ours',
  spool_full: 'ours',
  internal: 'ours',
  unauthenticated: 'client',
  foreign_app: 'client',
  malformed_json: 'client',
  invalid: 'client',
  too_large: 'client',
  unsupported_media: 'client',
  not_found: 'unrouted',
  method_not_allowed: 'unrouted',
};

/** The refusal reasons of one fault, sorted. */
export function refusalReasons(fault: 'ours' | 'client' | 'unrouted'): RefusalReason[] {
  return (Object.keys(REFUSAL_FAULT) as RefusalReason[])
    .filter((r) => REFUSAL_FAULT[r] === fault)
    .sort();
}

export class BridgeError extends Error {
  readonly status: number;
  readonly reason: RefusalReason;
  readonly retriable: boolean;
  /** The offending field, when one is to blame (`MsgBody[1].MsgContent.Latitude`). */
  readonly field: string | undefined;

  constructor(
    message: string,
    opts: {
      status: number;
      reason: RefusalReason;
      retriable?: boolean;
      cause?: unknown;
      field?: string;
    },
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BridgeError';
    this.status = opts.status;
    this.reason = opts.reason;
    this.retriable = opts.retriable ?? false;
    this.field = opts.field;
  }
}

export const invalid = (message: string, field?: string): BridgeError =>
  new BridgeError(message, {
    status: 400,
    reason: 'invalid',
    ...(field === undefined ? {} : { field }),
  });

export function isBridgeError(err: unknown): err is BridgeError {
  return err instanceof BridgeError;
}
