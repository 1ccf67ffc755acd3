import { BridgeError, isBridgeError } from './errors';
import type { RecordEncoder } from './kafka/codec';
import type { OutgoingRecord } from './kafka/publisher';
import type { DeliveryOutcome } from './spool/delivery';
import { DLQ_HEADERS, HEADER_COMMAND, HEADER_SDKAPPID } from './record-headers';
import { SUPPORTED_COMMANDS } from './tencent/callback';
import { parseJsonBody } from './tencent/parse';
import { parseCallbackQuery } from './tencent/query';
import type { CallbackRecordMapper } from './tencent/record';
import type { CallbackValidator } from './tencent/validate';

export interface IngestDeps {
  validate: CallbackValidator;
  mapper: CallbackRecordMapper;
  encoder: RecordEncoder;
  topic: string;
  dlqTopic: string;
  /** Makes a record durable (Kafka or the spool); rejects when it cannot. */
  deliver: (record: OutgoingRecord) => Promise<DeliveryOutcome>;
}

export interface IncomingCallback {
  /** The query as parsed by the HTTP layer (values may be strings or arrays). */
  query: Record<string, unknown>;
  /** The raw query string, kept with dead letters. */
  rawQuery: string;
  body: Uint8Array;
  /** Unix milliseconds */
  receivedAt: number;
}

export type IngestResult =
  | { outcome: DeliveryOutcome }
  /** Refused, and kept raw in the dead-letter topic. */
  | { outcome: 'dlq'; refusal: BridgeError };

/**
 * The bridge's use case, for an authenticated request: the body becomes a record made durable
 * (Kafka, or the spool when Kafka is slow). A body that is JSON but not a valid callback goes raw
 * to the dead-letter topic and the result says why; a body that is not JSON is refused (thrown)
 * and kept nowhere. Throws a BridgeError when the record cannot be made durable.
 */
export function createIngest(deps: IngestDeps) {
  return async function ingest(incoming: IncomingCallback): Promise<IngestResult> {
    let json: unknown;
    let record: OutgoingRecord;
    try {
      json = parseJsonBody(incoming.body); // not JSON (malformed_json): thrown, never stored
      record = toRecord(json, incoming);
    } catch (err) {
      if (!isBridgeError(err) || err.status !== 400 || err.reason === 'malformed_json') throw err;
      await deps.deliver(deadLetter(json, incoming, err));
      return { outcome: 'dlq', refusal: err };
    }
    return { outcome: await deps.deliver(record) };
  };

  function toRecord(json: unknown, incoming: IncomingCallback): OutgoingRecord {
    const query = parseCallbackQuery(incoming.query);
    if (!SUPPORTED_COMMANDS.has(query.CallbackCommand)) {
      throw new BridgeError(
        `unsupported CallbackCommand ${JSON.stringify(query.CallbackCommand)}: this endpoint takes ${[...SUPPORTED_COMMANDS].join(', ')}`,
        { status: 400, reason: 'unsupported_command' },
      );
    }
    const callback = deps.validate(json);
    if (callback.CallbackCommand !== query.CallbackCommand) {
      throw new BridgeError(
        `CallbackCommand in the body (${JSON.stringify(callback.CallbackCommand)}) does not match the query's (${JSON.stringify(query.CallbackCommand)})`,
        { status: 400, reason: 'invalid', field: 'CallbackCommand' },
      );
    }
    const record = deps.mapper.toRecord(callback, {
      SdkAppid: query.SdkAppid,
      OptPlatform: query.OptPlatform ?? null,
      ClientIP: query.ClientIP ?? null,
      ReceivedAt: incoming.receivedAt,
    });
    return {
      topic: deps.topic,
      key: callback.To_Account,
      value: deps.encoder.encode(record),
      headers: { [HEADER_COMMAND]: query.CallbackCommand, [HEADER_SDKAPPID]: query.SdkAppid },
    };
  }

  function deadLetter(json: unknown, incoming: IncomingCallback, err: BridgeError): OutgoingRecord {
    const to = (json as { To_Account?: unknown } | null)?.To_Account;
    const headers: Record<string, string> = {
      [DLQ_HEADERS.reason]: err.reason,
      [DLQ_HEADERS.error]: err.message,
      [DLQ_HEADERS.query]: withoutSign(incoming.rawQuery),
      [DLQ_HEADERS.receivedAt]: String(incoming.receivedAt),
    };
    if (err.field !== undefined) headers[DLQ_HEADERS.field] = err.field;
    return {
      topic: deps.dlqTopic,
      key: typeof to === 'string' ? to : null,
      value: Buffer.from(incoming.body),
      headers,
    };
  }
}

export type Ingest = ReturnType<typeof createIngest>;

/** The query string without `Sign`: a dead letter must not help anyone brute-force the token. */
export function withoutSign(rawQuery: string): string {
  return rawQuery
    .split('&')
    .filter((p) => !/^sign(=|$)/i.test(p))
    .join('&');
}
