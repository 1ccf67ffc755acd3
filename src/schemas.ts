import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Avro schemas live in `schemas/` at the package root, the source of truth for every record. */
export const CALLBACK_SCHEMA_FILE = 'c2c-after-send-msg.avsc';
/** Named types shared by several schemas (one definition each), e.g. `tim.c2c.MsgElement`. */
export const SHARED_DIR = 'shared';
/**
 * The compatibility level of every subject the bridge and its consumers register: a new version
 * of a schema must read records written with the previous one. `npm run schema:check` checks it
 * before a change ships.
 */
export const SUBJECT_COMPATIBILITY = 'BACKWARD' as const;

export function schemasDir(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'schemas');
    if (existsSync(join(candidate, CALLBACK_SCHEMA_FILE))) return candidate;
    if (dirname(dir) === dir)
      throw new Error(`schemas/${CALLBACK_SCHEMA_FILE} not found above ${from}`);
  }
}

/**
 * Reads an Avro schema (.avsc) as parsed JSON, with every shared named type it refers to
 * (`schemas/shared/*.avsc`) written out in full at its first use, as Avro requires: the result
 * is a self-contained schema, the one registered and used to encode.
 */
export function loadSchema(file: string = CALLBACK_SCHEMA_FILE): AvroSchemaJson {
  const dir = schemasDir();
  return expandSchema(readJson(join(dir, file)) as AvroSchemaJson, sharedTypes(dir));
}

/** The shared named types, by full name. */
export function sharedTypes(dir: string = schemasDir()): Map<string, AvroSchemaJson> {
  const types = new Map<string, AvroSchemaJson>();
  const sharedDir = join(dir, SHARED_DIR);
  if (!existsSync(sharedDir)) return types;
  for (const f of readdirSync(sharedDir)
    .filter((n) => n.endsWith('.avsc'))
    .sort()) {
    const s = readJson(join(sharedDir, f)) as { name: string; namespace?: string };
    types.set(qualify(s.name, s.namespace), s as unknown as AvroSchemaJson);
  }
  return types;
}

const PRIMITIVES = new Set([
  'null',
  'boolean',
  'int',
  'long',
  'float',
  'double',
  'bytes',
  'string',
]);

const qualify = (name: string, ns: string | undefined): string =>
  name.includes('.') || !ns ? name : `${ns}.${name}`;
const namespaceOf = (fullName: string): string | undefined =>
  fullName.includes('.') ? fullName.slice(0, fullName.lastIndexOf('.')) : undefined;

/**
 * Replaces the first reference to each shared type by its definition (without its `namespace`
 * where it equals the enclosing one, so a schema that once defined the type inline expands to
 * exactly the same JSON). Later references stay names, as Avro wants.
 */
export function expandSchema(
  schema: AvroSchemaJson,
  shared: ReadonlyMap<string, AvroSchemaJson>,
): AvroSchemaJson {
  const defined = new Set<string>();
  const walk = (s: AvroSchemaJson, ns: string | undefined): AvroSchemaJson => {
    if (typeof s === 'string') {
      if (PRIMITIVES.has(s)) return s;
      const full = qualify(s, ns);
      const def = defined.has(full) ? undefined : shared.get(full);
      if (def === undefined) return s;
      const copy = structuredClone(def) as { namespace?: string; [k: string]: unknown };
      if (copy.namespace === ns) delete copy.namespace;
      return walk(copy as AvroSchemaJson, ns);
    }
    if (Array.isArray(s)) return s.map((b) => walk(b, ns));
    switch (s.type) {
      case 'record':
      case 'error':
      case 'enum':
      case 'fixed': {
        const full = qualify(s.name as string, (s.namespace as string | undefined) ?? ns);
        defined.add(full);
        if (!Array.isArray(s.fields)) return s;
        const inner = namespaceOf(full);
        const fields = (s.fields as { type: AvroSchemaJson }[]).map((f) => ({
          ...f,
          type: walk(f.type, inner),
        }));
        return { ...s, fields };
      }
      case 'array':
        return { ...s, items: walk(s.items as AvroSchemaJson, ns) };
      case 'map':
        return { ...s, values: walk(s.values as AvroSchemaJson, ns) };
      default:
        return s;
    }
  };
  return walk(schema, undefined);
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** An Avro schema as JSON (the .avsc text parsed): a name, a union (array) or a type object. */
export type AvroSchemaJson = string | AvroSchemaJson[] | { type: string; [k: string]: unknown };
