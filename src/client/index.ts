/**
 * tim-kafka-bridge-client: what another service needs to consume the bridge's topics. The
 * catalogue (command -> topic, key, schema, kind), the records' types (generated from the
 * schemas), `Decoder#decode` for a Kafka message (the callback exactly as Tencent sent it, typed by
 * command), `fromRecord` for records decoded elsewhere, and a `MsgKey` dedupe helper. It depends
 * on avsc alone: no Kafka client (bring yours), no server code.
 */
import {
  CATALOGUE,
  GENERIC_SCHEMA_FILE,
  OTHER_COMMAND,
  defaultTopic,
  type CommandKind,
} from '../catalogue/catalogue';
import { RecentKeys } from '../consumers/dedupe';
import { loadSchema } from '../schemas';
import type { Envelope } from '../tencent/callback';
import { createRecordMapper } from '../tencent/record';
import { buildSchemaModel } from '../tencent/schema-model';
import type { DecodedRecord } from './decoder';

export {
  Decoder,
  type Batch,
  type DecodedRecord,
  type Decision,
  type DecoderOptions,
  type GenericRecord,
  type MessageLike,
  type OtherRecord,
  type TypedRecord,
} from './decoder';
export * from './generated/callbacks';
export { RecordDecodeError, SchemaNotFoundError } from '../kafka/registry-reader';
export { HEADER_COMMAND, HEADER_SDKAPPID } from '../record-headers';
export type { Envelope } from '../tencent/callback';
export { RecentKeys, OTHER_COMMAND };

/** One callback command as the bridge routes it by default. */
export interface CatalogueEntry {
  command: string;
  /** `before`: Tencent waited for the bridge's answer; `after`: Tencent reports what happened. */
  kind: CommandKind;
  /** The topic its records go to unless the deployment routes it elsewhere (COMMAND_ROUTES). */
  topic: string;
  /** JSON paths of the record key, the first non-empty wins (the SdkAppid otherwise). */
  key: readonly string[];
  /** The schema file its records are written with (`callback.avsc`: the generic one). */
  schema: string;
  /** `Events` for `Push.*`: one record per element of that array. */
  batch?: string;
}

export const catalogue: readonly CatalogueEntry[] = CATALOGUE.map((e) => ({
  command: e.command,
  kind: e.kind,
  topic: defaultTopic(e.command),
  key: e.key,
  schema: e.schema ?? GENERIC_SCHEMA_FILE,
  ...(e.batch === undefined ? {} : { batch: e.batch }),
}));

/** Where commands the catalogue does not know go (with the generic schema). */
export const OTHER_CALLBACKS_TOPIC = 'tim.other-callbacks';

/** The default topic of a command (`C2C.CallbackAfterSendMsg` -> `c2c.after-send-msg`). */
export function topicOf(command: string): string {
  return catalogue.find((e) => e.command === command)?.topic ?? OTHER_CALLBACKS_TOPIC;
}

const mappers = new Map<string, ReturnType<typeof createRecordMapper<unknown>>>();

/**
 * An Avro record of a typed schema, decoded by other means with the package's schema (its
 * `schemas/` folder), back to the callback exactly as Tencent sent it and the bridge's envelope.
 */
export function fromRecord(
  schemaFile: string,
  record: Record<string, unknown>,
): { callback: unknown; envelope: Envelope } {
  let mapper = mappers.get(schemaFile);
  if (mapper === undefined) {
    mapper = createRecordMapper<unknown>(buildSchemaModel(loadSchema(schemaFile)));
    mappers.set(schemaFile, mapper);
  }
  return mapper.fromRecord(record);
}

/**
 * The key to dedupe a decoded record by: Tencent's `MsgKey` where the callback has one (messages),
 * else undefined. The bridge delivers at least once: a record may come twice, close together.
 */
export function msgKeyOf(decoded: DecodedRecord): string | undefined {
  const key = (decoded.callback as { MsgKey?: unknown } | null)?.MsgKey;
  return typeof key === 'string' && key !== '' ? key : undefined;
}

/**
 * A filter passing each `MsgKey` once among the last `max` seen (records without one always pass):
 * `if (!seen(decoded)) continue;`. Memory is bounded by `max`.
 */
export function createDedupe(max = 100_000): (decoded: DecodedRecord) => boolean {
  const recent = new RecentKeys(max);
  return (decoded) => {
    const key = msgKeyOf(decoded);
    if (key === undefined) return true;
    if (recent.has(key)) return false;
    recent.add(key);
    return true;
  };
}
