import {
  AFTER_SEND_MSG_RULES,
  ENVELOPE_FIELDS,
  UNKNOWN_ELEMENT,
  type AfterSendMsgCallback,
  type CallbackRules,
  type Envelope,
} from './callback';
import { parseJsonExact } from './parse';
import { EXTRA_FIELD, type RecordModel, type SchemaModel, type ValueType } from './schema-model';

/**
 * Callback JSON <-> Avro record (the JavaScript value avsc encodes, unions of records wrapped by
 * their full name). Derived from the schema model, and exact both ways: for every valid callback,
 * `fromRecord(toRecord(c, e))` gives back `c` and `e` (every known field in its typed slot, every
 * other field verbatim as JSON text in `_extra`, every unknown element as `UnknownElem`).
 */
export interface CallbackRecordMapper<T = AfterSendMsgCallback> {
  toRecord(callback: T, envelope: Envelope): AvroRecord;
  fromRecord(record: AvroRecord): { callback: T; envelope: Envelope };
}

export type AvroRecord = Record<string, unknown>;
type Json = Record<string, unknown>;

export function createRecordMapper<T = AfterSendMsgCallback>(
  model: SchemaModel,
  rules: Pick<CallbackRules, 'lenient'> = AFTER_SEND_MSG_RULES,
): CallbackRecordMapper<T> {
  const { root } = model;
  const record = (name: string): RecordModel => {
    const r = model.records.get(name);
    if (r === undefined) throw new Error(`no record ${name} in the schema`);
    return r;
  };
  // schemas without message elements have no UnknownElem (and no union of records to fill)
  const unknownFullName = model.records.get(UNKNOWN_ELEMENT)?.fullName ?? UNKNOWN_ELEMENT;
  const knownNames = new Map(
    [...model.records.values()].filter((r) => r !== root).map((r) => [r.name, r.fullName]),
  );
  const fieldNames = new Map(
    [...model.records.values()].map((r) => [r.name, new Set(r.fields.map((f) => f.name))]),
  );

  function toAvroRecord(rec: RecordModel, obj: Json, envelope?: Envelope): AvroRecord {
    const isRoot = envelope !== undefined;
    const out: AvroRecord = {};
    let extra: Record<string, string> | null = null;
    for (const f of rec.fields) {
      if (isRoot && ENVELOPE_FIELDS.has(f.name)) {
        out[f.name] = envelope[f.name as keyof Envelope];
        continue;
      }
      const v = obj[f.name];
      if (v === undefined) {
        out[f.name] = null;
      } else if (isRoot && rules.lenient.has(f.name) && !fits(f.type, v)) {
        out[f.name] = null;
        (extra ??= Object.create(null) as Record<string, string>)[f.name] = JSON.stringify(v);
      } else {
        out[f.name] = toAvroValue(f.type, v, obj);
      }
    }
    if (rec.keepsExtra) {
      const known = fieldNames.get(rec.name) as Set<string>;
      for (const key of Object.keys(obj)) {
        if (known.has(key)) continue;
        (extra ??= Object.create(null) as Record<string, string>)[key] = JSON.stringify(obj[key]);
      }
      out[EXTRA_FIELD] = extra;
    }
    return out;
  }

  function toAvroValue(t: ValueType, v: unknown, parent: Json): unknown {
    switch (t.kind) {
      case 'array':
        return (v as unknown[]).map((item) => toAvroValue(t.items, item, parent));
      case 'record':
        return toAvroRecord(record(t.name), v as Json);
      case 'records': {
        const type = parent.MsgType as string;
        const fullName = type === UNKNOWN_ELEMENT ? undefined : knownNames.get(type);
        if (fullName !== undefined && t.names.includes(type)) {
          return { [fullName]: toAvroRecord(record(type), v as Json) };
        }
        return { [unknownFullName]: { Json: JSON.stringify(v) } };
      }
      default:
        return v;
    }
  }

  function fromAvroRecord(rec: RecordModel, r: AvroRecord, isRoot = false): Json {
    const out: Json = {};
    for (const f of rec.fields) {
      if (isRoot && ENVELOPE_FIELDS.has(f.name)) continue;
      const v = r[f.name];
      if (v === null || v === undefined) continue;
      out[f.name] = fromAvroValue(f.type, v);
    }
    const extra = rec.keepsExtra ? (r[EXTRA_FIELD] as Record<string, string> | null) : null;
    if (extra)
      for (const key of Object.keys(extra)) out[key] = parseJsonExact(extra[key] as string);
    return out;
  }

  function fromAvroValue(t: ValueType, v: unknown): unknown {
    switch (t.kind) {
      case 'array':
        return (v as unknown[]).map((item) => fromAvroValue(t.items, item));
      case 'record':
        return fromAvroRecord(record(t.name), v as AvroRecord);
      case 'records': {
        const [fullName, inner] = Object.entries(v as AvroRecord)[0] as [string, AvroRecord];
        if (fullName === unknownFullName) return parseJsonExact(inner.Json as string);
        return fromAvroRecord(record(fullName.slice(fullName.lastIndexOf('.') + 1)), inner);
      }
      default:
        return v;
    }
  }

  return {
    toRecord: (callback, envelope) => toAvroRecord(root, callback as Json, envelope),
    fromRecord: (r) => ({
      callback: fromAvroRecord(root, r, true) as T,
      envelope: {
        SdkAppid: r.SdkAppid as string,
        OptPlatform: (r.OptPlatform as string | null) ?? null,
        ClientIP: (r.ClientIP as string | null) ?? null,
        ReceivedAt: toMillis(r.ReceivedAt),
      },
    }),
  };
}

/** avsc may give a timestamp-millis as a number or, with logical types on, as a Date. */
function toMillis(v: unknown): number {
  return v instanceof Date ? v.getTime() : (v as number);
}

function fits(t: ValueType, v: unknown): boolean {
  switch (t.kind) {
    case 'string':
      return typeof v === 'string';
    case 'long':
    case 'int':
      return Number.isSafeInteger(v);
    case 'double':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    case 'primitives':
      return t.kinds.some((k) => fits({ kind: k }, v));
    default:
      return false;
  }
}
