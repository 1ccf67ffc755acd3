import { invalid } from '../errors';
import type { AvroSchemaJson } from '../schemas';
import { ENVELOPE_FIELDS, type CallbackRules, type Envelope } from '../tencent/callback';
import { createRecordMapper, type AvroRecord } from '../tencent/record';
import { buildSchemaModel, type SchemaModel } from '../tencent/schema-model';
import { createCallbackValidator } from '../tencent/validate';
import { ELEMENT_RANGES, keyReader, type CommandEntry, type Decision } from './catalogue';

export type { Decision } from './catalogue';

export interface CallbackInput {
  /** The body parsed (big numbers kept as raw JSON). */
  json: unknown;
  /** The body's bytes as received. */
  body: Uint8Array;
  /** The query's CallbackCommand. */
  command: string;
  envelope: Envelope;
  decision?: Decision;
}

export interface BuiltRecord {
  value: AvroRecord;
  /** The record key; null when the body names no entity (the caller uses the SdkAppid). */
  key: string | null;
}

/** A callback -> the Avro record(s) it becomes; throws a 400 BridgeError when it is invalid. */
export type RecordBuilder = (input: CallbackInput) => BuiltRecord[];

/** A typed command's rules: its lenient fields (by default every optional primitive field). */
export function rulesOf(entry: CommandEntry, model: SchemaModel): CallbackRules {
  const lenient =
    entry.lenient ??
    model.root.fields
      .filter(
        (f) =>
          f.optional &&
          !ENVELOPE_FIELDS.has(f.name) &&
          ['string', 'long', 'int', 'double', 'boolean', 'primitives'].includes(f.type.kind),
      )
      .map((f) => f.name);
  return { lenient: new Set(lenient), ranges: { ...ELEMENT_RANGES, ...entry.ranges } };
}

/** The builder of a command with a typed schema: validated, every field in its slot. */
export function typedBuilder(entry: CommandEntry, schema: AvroSchemaJson): RecordBuilder {
  const model = buildSchemaModel(schema);
  const rules = rulesOf(entry, model);
  const validate = createCallbackValidator<Record<string, unknown>>(model, rules);
  const mapper = createRecordMapper<Record<string, unknown>>(model, rules);
  const keyOf = keyReader(entry.key);
  return ({ json, command, envelope }) => {
    const callback = validate(json);
    if (callback.CallbackCommand !== command) {
      throw invalid(
        `CallbackCommand in the body (${JSON.stringify(callback.CallbackCommand)}) does not match the query's (${JSON.stringify(command)})`,
        'CallbackCommand',
      );
    }
    return [{ value: mapper.toRecord(callback, envelope), key: keyOf(callback) }];
  };
}

/**
 * The builder of the generic schema: the body kept as the JSON text received (any JSON value),
 * one record per event for a batch, the decision for a before-callback.
 */
export function genericBuilder(entry: CommandEntry | undefined): RecordBuilder {
  const keyOf = keyReader(entry?.key ?? []);
  const batch = entry?.batch;
  return ({ json, body, command, envelope, decision }) => {
    const base = {
      ...envelope,
      CallbackCommand: command,
      Decision: decision ?? null,
    };
    if (batch === undefined) {
      return [{ value: { ...base, Body: bodyText(body), Batch: null }, key: keyOf(json) }];
    }
    const events = (json as Record<string, unknown> | null)?.[batch];
    if (json === null || typeof json !== 'object' || !Array.isArray(events)) {
      throw invalid(`${batch} must be an array (one element per event)`, batch);
    }
    const rest = { ...(json as Record<string, unknown>) };
    delete rest[batch];
    const restText = JSON.stringify(rest);
    return events.map((event, Index) => ({
      value: {
        ...base,
        Body: JSON.stringify(event),
        Batch: { Index, Size: events.length, Rest: restText },
      },
      key: keyOf(event),
    }));
  };
}

/** The body as text, without a byte-order mark (the parser ignores it too). */
function bodyText(body: Uint8Array): string {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}
