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

/**
 * Where records are encoded before their copy: encoding is synchronous, so one buffer serves every
 * encoder; it grows to the largest record seen (bounded by the body limit).
 */
let scratch = Buffer.allocUnsafe(64 * 1024);

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
      // encoded into the scratch buffer, then copied once into a buffer of the exact size
      // (from Node's pool when small): no zero-filled allocation and second copy per record
      let end = type.encode(record, scratch, HEADER_BYTES);
      while (end < 0) {
        scratch = Buffer.allocUnsafe(Math.max(2 * scratch.length, scratch.length - end));
        end = type.encode(record, scratch, HEADER_BYTES);
      }
      const out = Buffer.allocUnsafe(end);
      scratch.copy(out, 0, 0, end);
      out[0] = MAGIC_BYTE;
      out.writeUInt32BE(id, 1);
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
