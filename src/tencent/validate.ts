import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { invalid } from '../errors';
import { isRawJson } from './parse';
import {
  AFTER_SEND_MSG_RULES,
  ENVELOPE_FIELDS,
  UNKNOWN_ELEMENT,
  type AfterSendMsgCallback,
  type CallbackRules,
} from './callback';
import type { FieldModel, RecordModel, SchemaModel, ValueType } from './schema-model';

type JsonSchema = Record<string, unknown>;

const SAFE = { minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER };
const JSON_TYPE = {
  string: 'string',
  long: 'integer',
  int: 'integer',
  double: 'number',
  boolean: 'boolean',
};

/** JSON Schema of the callback body, derived from the Avro schema model plus the domain's ranges. */
export function callbackJsonSchema(
  model: SchemaModel,
  rules: CallbackRules = AFTER_SEND_MSG_RULES,
): JsonSchema {
  const defs: Record<string, JsonSchema> = {};
  for (const rec of model.records.values())
    defs[rec.name] = recordSchema(rec, rec === model.root, rules);
  return { $ref: `#/$defs/${model.root.name}`, $defs: defs };
}

function recordSchema(rec: RecordModel, isRoot: boolean, rules: CallbackRules): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const allOf: JsonSchema[] = [];
  for (const f of rec.fields) {
    if (isRoot && ENVELOPE_FIELDS.has(f.name)) continue;
    if (!f.optional) required.push(f.name);
    if (isRoot && rules.lenient.has(f.name)) continue; // no constraint: kept whatever it is
    if (f.type.kind === 'records') {
      // MsgContent: the element record named by the sibling MsgType; any JSON for unknown types
      for (const name of f.type.names.filter((n) => n !== UNKNOWN_ELEMENT)) {
        allOf.push({
          if: { properties: { MsgType: { const: name } }, required: ['MsgType'] },
          then: { properties: { [f.name]: { $ref: `#/$defs/${name}` } } },
        });
      }
      continue;
    }
    properties[f.name] = valueSchema(f.type, rec, f, rules);
  }
  const schema: JsonSchema = { type: 'object', plainObject: true, properties, required };
  if (allOf.length > 0) schema.allOf = allOf;
  return schema;
}

function valueSchema(
  t: ValueType,
  rec: RecordModel,
  f: FieldModel,
  rules: CallbackRules,
): JsonSchema {
  switch (t.kind) {
    case 'long':
    case 'int':
      return { type: 'integer', ...SAFE, ...rules.ranges[`${rec.name}.${f.name}`] };
    case 'string':
    case 'double':
    case 'boolean':
      return { type: JSON_TYPE[t.kind] };
    case 'array':
      return { type: 'array', items: valueSchema(t.items, rec, f, rules) };
    case 'record':
      return { $ref: `#/$defs/${t.name}` };
    case 'map':
      return { type: 'object', plainObject: true, additionalProperties: { type: 'string' } };
    case 'primitives':
      return { type: [...new Set(t.kinds.map((k) => JSON_TYPE[k]))] };
    case 'records':
      throw new Error('unions of records are handled by their parent record');
  }
}

export type CallbackValidator<T = AfterSendMsgCallback> = (body: unknown) => T;

/** Compiles the validator once; the returned function throws a 400 BridgeError naming the field. */
export function createCallbackValidator<T = AfterSendMsgCallback>(
  model: SchemaModel,
  rules: CallbackRules = AFTER_SEND_MSG_RULES,
): CallbackValidator<T> {
  const ajv = new Ajv({ allErrors: false, verbose: true, strict: true, allowUnionTypes: true });
  // a big number kept exact (JSON.rawJSON) is an object to `typeof`, and so to `type: object`
  ajv.addKeyword({
    keyword: 'plainObject',
    schemaType: 'boolean',
    validate: (_on: boolean, data: unknown) => !isRawJson(data),
  });
  const validate: ValidateFunction = ajv.compile(callbackJsonSchema(model, rules));
  return (body) => {
    if (validate(body)) return body as T;
    const { message, field } = describeErrors(validate.errors ?? []);
    throw invalid(message, field);
  };
}

/** `/MsgBody/1/MsgContent/Latitude` -> `MsgBody[1].MsgContent.Latitude` */
export function fieldPath(pointer: string, child?: string): string {
  const parts = pointer === '' ? [] : pointer.slice(1).split('/');
  if (child !== undefined) parts.push(child);
  let out = '';
  for (const raw of parts) {
    const p = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(p)) out += `[${p}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

const A_TYPE: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  object: 'an object',
  array: 'an array',
  boolean: 'a boolean',
};

function describeErrors(errors: ErrorObject[]): { message: string; field?: string } {
  // with if/then, the first error is the nested one; the "must match then" wrapper adds nothing
  const e = errors.find((x) => x.keyword !== 'if') ?? errors[0];
  if (e === undefined) return { message: 'body is invalid' };
  const field =
    e.keyword === 'required'
      ? fieldPath(e.instancePath, String(e.params.missingProperty))
      : fieldPath(e.instancePath);
  return { message: describe(e), ...(field === '' ? {} : { field }) };
}

function describe(e: ErrorObject): string {
  const path = fieldPath(e.instancePath) || 'body';
  switch (e.keyword) {
    case 'required':
      return `${fieldPath(e.instancePath, String(e.params.missingProperty))} is required`;
    case 'plainObject':
    case 'type': {
      const types = String(e.params.type ?? 'object').split(',');
      const what = types.map((t) => A_TYPE[t] ?? t).join(' or ');
      return path === 'body' ? `body must be a JSON object` : `${path} must be ${what}`;
    }
    case 'minimum':
    case 'maximum': {
      const { minimum: min, maximum: max } = (e.parentSchema ?? {}) as Record<string, number>;
      const [lo, hi] = [
        min !== SAFE.minimum ? min : undefined,
        max !== SAFE.maximum ? max : undefined,
      ];
      if (lo !== undefined && hi !== undefined)
        return `${path} must be an integer between ${lo} and ${hi}`;
      if (lo !== undefined) return `${path} must be an integer >= ${lo}`;
      if (hi !== undefined) return `${path} must be an integer <= ${hi}`;
      return `${path} must be a safe integer (between -(2^53-1) and 2^53-1)`;
    }
    default:
      return `${path} ${e.message ?? 'is invalid'}`;
  }
}
