/** Header names on every record and dead letter (values: the query's CallbackCommand and SdkAppid). */
export const HEADER_COMMAND = 'CallbackCommand';
export const HEADER_SDKAPPID = 'SdkAppid';

/** Dead-letter headers. */
export const DLQ_HEADERS = {
  /** Why: a refusal reason (`invalid`, ...) or `kafka_refused`. */
  reason: 'dlq.reason',
  /** The message naming the problem. */
  error: 'dlq.error',
  /** The offending field, when one is to blame. */
  field: 'dlq.field',
  /** The callback's query string, without `Sign`. */
  query: 'dlq.query',
  /** When the bridge received the callback (Unix ms). */
  receivedAt: 'dlq.received-at',
  /** For a record Kafka refused: the topic it was meant for (its value is the Avro record). */
  topic: 'dlq.topic',
} as const;
