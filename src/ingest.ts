import { invalid } from './errors';
import type { RecordEncoder } from './kafka/codec';
import type { OutgoingRecord } from './kafka/publisher';
import type { AfterSendMsgCallback } from './tencent/callback';
import { parseJsonBody } from './tencent/parse';
import type { CallbackQuery } from './tencent/query';
import type { CallbackRecordMapper } from './tencent/record';
import type { CallbackValidator } from './tencent/validate';

export interface IngestDeps {
  validate: CallbackValidator;
  mapper: CallbackRecordMapper;
  encoder: RecordEncoder;
  publish: (record: OutgoingRecord) => Promise<void>;
}

export interface IncomingCallback {
  query: CallbackQuery;
  body: Uint8Array;
  /** Unix milliseconds */
  receivedAt: number;
}

/** Header names on every record (values: the query's CallbackCommand and SdkAppid). */
export const HEADER_COMMAND = 'CallbackCommand';
export const HEADER_SDKAPPID = 'SdkAppid';

/**
 * The bridge's use case: a callback (already authenticated, query validated) becomes a record,
 * and the returned promise resolves once Kafka acknowledged it. Throws a BridgeError otherwise.
 */
export function createIngest(deps: IngestDeps) {
  return async function ingest(incoming: IncomingCallback): Promise<AfterSendMsgCallback> {
    const { query } = incoming;
    const callback = deps.validate(parseJsonBody(incoming.body));
    if (callback.CallbackCommand !== query.CallbackCommand) {
      throw invalid(
        `CallbackCommand in the body (${JSON.stringify(callback.CallbackCommand)}) does not match the query's (${JSON.stringify(query.CallbackCommand)})`,
      );
    }
    const record = deps.mapper.toRecord(callback, {
      SdkAppid: query.SdkAppid,
      OptPlatform: query.OptPlatform ?? null,
      ClientIP: query.ClientIP ?? null,
      ReceivedAt: incoming.receivedAt,
    });
    await deps.publish({
      key: callback.To_Account,
      value: deps.encoder.encode(record),
      headers: { [HEADER_COMMAND]: query.CallbackCommand, [HEADER_SDKAPPID]: query.SdkAppid },
    });
    return callback;
  };
}

export type Ingest = ReturnType<typeof createIngest>;
