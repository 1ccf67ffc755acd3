import avro from 'avsc';
import { BridgeError } from '../errors';
import type { AvroSchemaJson } from '../schemas';

/**
 * Avro binary in the Confluent wire format: magic byte 0, the schema id as a 4-byte big-endian
 * integer, then the Avro binary encoding. The Type is compiled once per schema.
 */
export const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

/**
 * Types compiled so far, by schema object: the generic schema serves dozens of topics, and each
 * compiled Type holds generated code; one per schema keeps the bridge's footprint (and so its
 * garbage collector's working set) that of the schemas, not of the topics.
 */
const compiled = new WeakMap<object, avro.Type>();

export function avroType(schema: AvroSchemaJson): avro.Type {
  const key = typeof schema === 'object' ? schema : undefined;
  let type = key && compiled.get(key);
  if (type === undefined) {
    // unions of several records (MsgContent) are wrapped by full name; null-or-X unions are not
    type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: 'auto' });
    if (key) compiled.set(key, type);
  }
  return type;
}

export interface RecordEncoder {
  /** The id records are written with now (undefined while the registry has not given one). */
  readonly schemaId: number | undefined;
  encode(record: unknown): Buffer;
}

/**
 * Encodes records in the wire format with a fixed schema id, or with the id a getter gives at
 * each call (it may change: see SchemaIds); while it gives none, encoding is refused (503).
 */
export function createEncoder(
  type: avro.Type,
  schemaId: number | (() => number | undefined),
): RecordEncoder {
  const idOf = typeof schemaId === 'number' ? () => schemaId : schemaId;
  return {
    get schemaId() {
      return idOf();
    },
    encode(record) {
      const id = idOf();
      if (id === undefined) {
        throw new BridgeError(
          'the schema registry has not given a schema id yet: the bridge is not ready',
          { status: 503, reason: 'not_ready', retriable: true },
        );
      }
      const body = type.toBuffer(record);
      const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
      out[0] = MAGIC_BYTE;
      out.writeUInt32BE(id, 1);
      body.copy(out, HEADER_BYTES);
      return out;
    },
  };
}

export class WireFormatError extends Error {
  override name = 'WireFormatError';
}

/** Splits a Confluent-framed value into its schema id and Avro body. */
export function readWireHeader(value: Buffer): { schemaId: number; body: Buffer } {
  if (value.length < HEADER_BYTES || value[0] !== MAGIC_BYTE) {
    throw new WireFormatError(
      'value is not in the Confluent wire format (magic byte 0 + schema id)',
    );
  }
  return { schemaId: value.readUInt32BE(1), body: value.subarray(HEADER_BYTES) };
}
