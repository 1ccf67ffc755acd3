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
