import {
  CATALOGUE,
  GENERIC_SCHEMA_FILE,
  OTHER_COMMAND,
  catalogueEntry,
  type Decision,
} from '../catalogue/catalogue';
import { avroType, readWireHeader } from '../kafka/codec';
import { RecordDecodeError, RegistryReader, type RegistryOptions } from '../kafka/registry-reader';
import { loadSchema, type AvroSchemaJson } from '../schemas';
import type { Envelope } from '../tencent/callback';
import { parseJsonExact } from '../tencent/parse';
import { createRecordMapper } from '../tencent/record';
import { buildSchemaModel } from '../tencent/schema-model';
import type { GenericCommand, TypedCallbacks, TypedCommand } from './generated/callbacks';

/** A record of a command with a typed schema: the callback as Tencent sent it, typed. */
export type TypedRecord = {
  [C in TypedCommand]: {
    command: C;
    schema: 'typed';
    envelope: Envelope;
    callback: TypedCallbacks[C];
  };
}[TypedCommand];

/** Where a batch's event sat in its body (`Push.*`: one record per element of `Events`). */
export interface Batch {
  Index: number;
  Size: number;
  /** The body's other fields, as JSON text. */
  Rest: string;
}

export type { Decision };

interface GenericFields {
  schema: 'generic';
  envelope: Envelope;
  /** The body as Tencent sent it (for a batch, this record's event), big numbers exact. */
  callback: unknown;
  batch: Batch | null;
  decision: Decision | null;
}

/** A record of a catalogued command without a typed schema (the generic `tim.callback.Callback`). */
export type GenericRecord = GenericFields & { command: GenericCommand };

/**
 * A record of a command the catalogue does not know (on `tim.other-callbacks`), or of one this
 * package knows without a typed schema while the bridge wrote it with one (a newer bridge):
 * `command` is `other`, `callbackCommand` says which.
 */
export type OtherRecord = Omit<GenericFields, 'schema'> & {
  command: typeof OTHER_COMMAND;
  schema: 'generic' | 'typed';
  callbackCommand: string;
};

/** What `decode` gives: a union discriminated by `command`. */
export type DecodedRecord = (TypedRecord | GenericRecord | OtherRecord) & {
  /** The schema id the record carries (the writer schema in the registry). */
  schemaId: number;
};

/** A Kafka message as KafkaJS hands it over (`eachMessage`'s `message`), or any with a value. */
export interface MessageLike {
  value: Buffer | Uint8Array | null;
}

export type DecoderOptions = RegistryOptions;

/** The generic schema's record. */
const GENERIC_RECORD = 'tim.callback.Callback';

/** Commands with a typed schema -> its file. */
const TYPED = new Map(
  CATALOGUE.filter((e) => e.schema !== undefined).map((e) => [e.command, e.schema as string]),
);

/** How the records of one writer schema (one schema id) are decoded. */
type Plan = (body: Buffer, schemaId: number) => DecodedRecord;

/** The package's schemas by their record's full name (`tim.c2c.CallbackAfterSendMsg`). */
function packageSchemas(): Map<string, AvroSchemaJson> {
  const files = new Set([
    GENERIC_SCHEMA_FILE,
    ...CATALOGUE.flatMap((e) => (e.schema ? [e.schema] : [])),
  ]);
  const byName = new Map<string, AvroSchemaJson>();
  for (const file of files) {
    const schema = loadSchema(file);
    byName.set(avroType(schema).name as string, schema);
  }
  return byName;
}

/**
 * Decodes the bridge's records from any of its topics: the writer schema by the id each record
 * carries (fetched once per id from the Confluent-compatible registry), resolved to the schema
 * this package was built with for that record name (so the bridge's schemas may evolve
 * compatibly), then turned back into the callback exactly as Tencent sent it.
 */
export class Decoder {
  private readonly registry: RegistryReader;
  private readonly schemas = packageSchemas();
  private readonly plans = new Map<number, Promise<Plan>>();

  constructor(opts: DecoderOptions) {
    this.registry = new RegistryReader(opts);
  }

  async decode(message: MessageLike): Promise<DecodedRecord> {
    if (message.value === null)
      throw new RecordDecodeError(
        "a record without a value (a tombstone) is not one of the bridge's",
      );
    const value = Buffer.isBuffer(message.value)
      ? message.value
      : Buffer.from(message.value.buffer, message.value.byteOffset, message.value.byteLength);
    const { schemaId, body } = readWireHeader(value);
    let plan = this.plans.get(schemaId);
    if (plan === undefined) {
      plan = this.registry.schemaById(schemaId).then((writer) => this.planFor(writer));
      plan.catch(() => this.plans.delete(schemaId));
      this.plans.set(schemaId, plan);
    }
    const decode = await plan;
    return decode(body, schemaId);
  }

  private planFor(writerSchema: AvroSchemaJson): Plan {
    const writer = avroType(writerSchema);
    const name = writer.name as string;
    const own = this.schemas.get(name);
    const schema = own ?? writerSchema;
    const reader = own === undefined ? writer : avroType(own);
    const resolver = reader.equals(writer) ? undefined : reader.createResolver(writer);
    const read = (body: Buffer): Record<string, unknown> => {
      try {
        return reader.fromBuffer(body, resolver) as Record<string, unknown>;
      } catch (err) {
        throw new RecordDecodeError(
          `the record does not decode with its schema (${name}): ${(err as Error).message}`,
          { cause: err },
        );
      }
    };
    if (name === GENERIC_RECORD)
      return (body, schemaId) => {
        const r = read(body);
        return genericRecord(String(r.CallbackCommand), r, schemaId);
      };
    const mapper = createRecordMapper<unknown>(buildSchemaModel(schema));
    return (body, schemaId) => {
      const r = read(body);
      const command = String(r.CallbackCommand);
      const { callback, envelope } = mapper.fromRecord(r);
      if (own !== undefined && TYPED.get(command) !== undefined)
        return { command, schema: 'typed', envelope, callback, schemaId } as DecodedRecord;
      return {
        command: OTHER_COMMAND,
        callbackCommand: command,
        schema: 'typed',
        envelope,
        callback,
        batch: null,
        decision: null,
        schemaId,
      };
    };
  }
}

function genericRecord(
  command: string,
  r: Record<string, unknown>,
  schemaId: number,
): DecodedRecord {
  const envelope: Envelope = {
    SdkAppid: r.SdkAppid as string,
    OptPlatform: (r.OptPlatform as string | null) ?? null,
    ClientIP: (r.ClientIP as string | null) ?? null,
    ReceivedAt: r.ReceivedAt as number,
  };
  const fields = {
    envelope,
    callback: parseJsonExact(r.Body as string),
    batch: unwrap(r.Batch) as Batch | null,
    decision: unwrap(r.Decision) as Decision | null,
    schemaId,
  };
  const entry = catalogueEntry(command);
  if (entry !== undefined && entry.schema === undefined)
    return { command: command as GenericCommand, schema: 'generic', ...fields };
  return { command: OTHER_COMMAND, callbackCommand: command, schema: 'generic', ...fields };
}

/** avsc wraps a union's record branch by its name (`{ 'tim.callback.Batch': {...} }`). */
function unwrap(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  const keys = Object.keys(v as object);
  return keys.length === 1 && (keys[0] as string).includes('.')
    ? (v as Record<string, unknown>)[keys[0] as string]
    : v;
}
