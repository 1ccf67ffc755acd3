import avro from 'avsc';
import type { AvroSchemaJson } from '../schemas';

/**
 * Avro schema resolution (the specification's "Schema Resolution" rules), checked ahead of time
 * and reported by field: can data written with `writer` be read with `reader`? Used by
 * `npm run schema:check` so that a change to `schemas/` that would be refused by the registry
 * (or break a consumer built with an older schema) is caught before it ships.
 *
 * The walk follows the specification; avsc's own resolver (the one that decodes records) is asked
 * too, so that a case the walk missed still fails, with avsc's words.
 */

/** A subject's compatibility level, as the Confluent-compatible registries name them. */
export type CompatibilityLevel =
  | 'BACKWARD'
  | 'BACKWARD_TRANSITIVE'
  | 'FORWARD'
  | 'FORWARD_TRANSITIVE'
  | 'FULL'
  | 'FULL_TRANSITIVE'
  | 'NONE';

/** One reason the reader cannot read the writer's data, at a path of field names. */
export interface Incompatibility {
  /** Where: the record's name then field names, `[]` for array items, `{}` for map values. */
  path: string;
  message: string;
}

type T = avro.Type & Record<string, unknown>;

const PROMOTIONS: Readonly<Record<string, readonly string[]>> = {
  int: ['long', 'float', 'double'],
  long: ['float', 'double'],
  float: ['double'],
  string: ['bytes'],
  bytes: ['string'],
};

const unqualify = (name: string): string => name.slice(name.lastIndexOf('.') + 1);

/** How a type is named in a message: its full name, or its Avro type name. */
function describe(t: T): string {
  if (typeof t.name === 'string') return t.name;
  const typeName = t.typeName;
  if (typeName === 'array') return `array<${describe(t.itemsType as T)}>`;
  if (typeName === 'map') return `map<${describe(t.valuesType as T)}>`;
  if (typeName.startsWith('union')) return `[${(t.types as T[]).map(describe).join(', ')}]`;
  return typeName;
}

function namesMatch(reader: T, writer: T): boolean {
  const writerName = unqualify(writer.name as string);
  const names = [reader.name as string, ...((reader.aliases as string[] | undefined) ?? [])];
  return names.some((n) => unqualify(n) === writerName);
}

/**
 * Every reason data written with `writer` cannot be read with `reader` (empty: it can). Named
 * types are compared by their unqualified names (or the reader's aliases), fields by name (or
 * the reader field's aliases), as the specification says.
 */
export function resolutionProblems(reader: avro.Type, writer: avro.Type): Incompatibility[] {
  const problems: Incompatibility[] = [];
  const seen = new Set<string>();
  const walk = (r: T, w: T, path: string, out: Incompatibility[]): void => {
    const add = (message: string): void => void out.push({ path, message });
    const rKind = r.typeName;
    const wKind = w.typeName;
    if (wKind.startsWith('union')) {
      // every branch the writer may have written must be readable
      for (const branch of w.types as T[]) walk(r, branch, path, out);
      return;
    }
    if (rKind.startsWith('union')) {
      const branches = r.types as T[];
      const fits = branches.find((b) => {
        const trial: Incompatibility[] = [];
        walk(b, w, path, trial);
        return trial.length === 0;
      });
      if (!fits)
        add(`${describe(w)} cannot be read as ${describe(r)}: no branch of the union fits`);
      return;
    }
    if (rKind !== wKind) {
      if (!(PROMOTIONS[wKind] ?? []).includes(rKind))
        add(`${describe(w)} cannot be read as ${describe(r)}`);
      return;
    }
    switch (rKind) {
      case 'record':
      case 'error': {
        if (!namesMatch(r, w)) {
          add(`record ${String(w.name)} cannot be read as record ${String(r.name)} (names differ)`);
          return;
        }
        const pair = `${String(r.name)}<-${String(w.name)}`;
        if (seen.has(pair)) return; // a recursive type, already being checked
        seen.add(pair);
        const writerFields = new Map(
          (w.fields as avro.types.Field[]).map((f) => [f.name, f] as const),
        );
        for (const field of r.fields as avro.types.Field[]) {
          const fieldPath = `${path}.${field.name}`;
          const names = [field.name, ...field.aliases];
          const match = names.map((n) => writerFields.get(n)).find((f) => f !== undefined);
          if (match === undefined) {
            if (field.defaultValue() === undefined)
              out.push({
                path: fieldPath,
                message:
                  'has no default and is not in the other schema: records written without it cannot be read',
              });
            continue;
          }
          walk(field.type as T, match.type as T, fieldPath, out);
        }
        seen.delete(pair);
        return;
      }
      case 'enum': {
        if (!namesMatch(r, w)) {
          add(`enum ${String(w.name)} cannot be read as enum ${String(r.name)} (names differ)`);
          return;
        }
        const symbols = new Set(r.symbols as string[]);
        const missing = (w.symbols as string[]).filter((s) => !symbols.has(s));
        if (missing.length > 0 && r.default === undefined)
          add(`enum ${String(r.name)} lacks the symbols ${missing.join(', ')} and has no default`);
        return;
      }
      case 'fixed':
        if (!namesMatch(r, w) || r.size !== w.size)
          add(
            `${describe(w)} (size ${String(w.size)}) cannot be read as ${describe(r)} (size ${String(r.size)})`,
          );
        return;
      case 'array':
        walk(r.itemsType as T, w.itemsType as T, `${path}[]`, out);
        return;
      case 'map':
        walk(r.valuesType as T, w.valuesType as T, `${path}{}`, out);
        return;
      default:
        return; // the same primitive
    }
  };
  const root = typeof (reader as T).name === 'string' ? unqualify(reader.name as string) : '';
  walk(reader as T, writer as T, root, problems);
  if (problems.length === 0) {
    // avsc decodes the records: it must agree
    try {
      reader.createResolver(writer);
    } catch (err) {
      problems.push({ path: root, message: `avsc cannot resolve: ${(err as Error).message}` });
    }
  }
  return problems;
}

/** Throws, saying why, when `schema` is not a valid Avro schema (a default of the wrong type too). */
export function assertValidSchema(schema: AvroSchemaJson): void {
  avro.Type.forSchema(schema as avro.Schema);
}

/**
 * What a subject at `level` refuses when `next` is registered after `previous`: BACKWARD (the
 * new schema reads old data), FORWARD (old readers read new data), FULL (both). The transitive
 * levels are checked against the one previous version given. Messages say which direction.
 */
export function compatibilityProblems(
  level: CompatibilityLevel,
  next: AvroSchemaJson,
  previous: AvroSchemaJson,
): Incompatibility[] {
  const nextType = avro.Type.forSchema(next as avro.Schema);
  const previousType = avro.Type.forSchema(previous as avro.Schema);
  const backward = (): Incompatibility[] =>
    resolutionProblems(nextType, previousType).map((p) => ({
      path: p.path,
      message: `the new schema cannot read old records: ${p.message}`,
    }));
  const forward = (): Incompatibility[] =>
    resolutionProblems(previousType, nextType).map((p) => ({
      path: p.path,
      message: `readers with the old schema cannot read new records: ${p.message}`,
    }));
  switch (level) {
    case 'NONE':
      return [];
    case 'BACKWARD':
    case 'BACKWARD_TRANSITIVE':
      return backward();
    case 'FORWARD':
    case 'FORWARD_TRANSITIVE':
      return forward();
    case 'FULL':
    case 'FULL_TRANSITIVE':
      return [...backward(), ...forward()];
  }
}
