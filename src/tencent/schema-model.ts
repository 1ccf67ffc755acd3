import type { AvroSchemaJson } from '../schemas';

/**
 * A small structural model of the callback's Avro schema, read from the .avsc itself, so that
 * the validator and the callback <-> record mapping are derived from the one source of truth and
 * cannot drift from it. Only the shapes the callback schema uses are supported.
 */

export type ValueType =
  | { kind: 'string' }
  | { kind: 'long' }
  | { kind: 'int' }
  | { kind: 'double' }
  | { kind: 'boolean' }
  | { kind: 'map' }
  | { kind: 'array'; items: ValueType }
  | { kind: 'record'; name: string }
  /** A union of several records (wrapped by avsc): MsgContent, chosen by the sibling MsgType. */
  | { kind: 'records'; names: string[] }
  /** A union of primitives (unwrapped by avsc), e.g. EventTime: long or string. */
  | { kind: 'primitives'; kinds: ('string' | 'long' | 'int' | 'double' | 'boolean')[] };

export interface FieldModel {
  name: string;
  /** The Avro type is a union with null: the JSON field may be absent. */
  optional: boolean;
  type: ValueType;
}

export interface RecordModel {
  /** Short name (Tencent's element types are named like their MsgType). */
  name: string;
  fullName: string;
  fields: FieldModel[];
  /** Has the `_extra` map that keeps unknown JSON fields verbatim. */
  keepsExtra: boolean;
}

export const EXTRA_FIELD = '_extra';

export interface SchemaModel {
  root: RecordModel;
  records: Map<string, RecordModel>;
}

const PRIMITIVES = new Set(['string', 'long', 'int', 'double', 'boolean']);

export function buildSchemaModel(schema: AvroSchemaJson): SchemaModel {
  const records = new Map<string, RecordModel>();

  const qualify = (name: string, ns: string | undefined): string =>
    name.includes('.') || ns === undefined ? name : `${ns}.${name}`;
  const shortName = (name: string): string => name.slice(name.lastIndexOf('.') + 1);

  function typeOf(s: AvroSchemaJson, ns: string | undefined): ValueType {
    if (typeof s === 'string') {
      if (PRIMITIVES.has(s)) return { kind: s } as ValueType;
      return { kind: 'record', name: shortName(qualify(s, ns)) };
    }
    if (Array.isArray(s)) {
      const branches = s.filter((b) => b !== 'null').map((b) => typeOf(b, ns));
      if (branches.length === 1) return branches[0] as ValueType;
      if (branches.every((b) => b.kind === 'record')) {
        return { kind: 'records', names: branches.map((b) => (b as { name: string }).name) };
      }
      if (branches.every((b) => PRIMITIVES.has(b.kind))) {
        return { kind: 'primitives', kinds: branches.map((b) => b.kind) as never };
      }
      throw new Error(`unsupported union ${JSON.stringify(s)}`);
    }
    switch (s.type) {
      case 'record':
        return { kind: 'record', name: defineRecord(s, ns) };
      case 'array':
        return { kind: 'array', items: typeOf(s.items as AvroSchemaJson, ns) };
      case 'map':
        return { kind: 'map' };
      default:
        if (PRIMITIVES.has(s.type)) return { kind: s.type } as ValueType;
        throw new Error(`unsupported Avro type ${JSON.stringify(s)}`);
    }
  }

  function defineRecord(s: { [k: string]: unknown }, ns: string | undefined): string {
    const fullName = qualify(s.name as string, (s.namespace as string | undefined) ?? ns);
    const name = shortName(fullName);
    const inner = fullName.includes('.') ? fullName.slice(0, fullName.lastIndexOf('.')) : undefined;
    const model: RecordModel = { name, fullName, fields: [], keepsExtra: false };
    records.set(name, model); // before the fields: records may refer to themselves
    for (const f of s.fields as { name: string; type: AvroSchemaJson }[]) {
      if (f.name === EXTRA_FIELD) {
        model.keepsExtra = true;
        continue;
      }
      const optional = Array.isArray(f.type) && f.type.includes('null');
      model.fields.push({ name: f.name, optional, type: typeOf(f.type, inner) });
    }
    return name;
  }

  const rootType = typeOf(schema, undefined);
  if (rootType.kind !== 'record') throw new Error('the callback schema must be a record');
  return { root: records.get(rootType.name) as RecordModel, records };
}
