import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { CATALOGUE } from '../catalogue/catalogue';
import { loadSchema, schemasDir } from '../schemas';
import { ENVELOPE_FIELDS, UNKNOWN_ELEMENT } from '../tencent/callback';
import {
  buildSchemaModel,
  type RecordModel,
  type SchemaModel,
  type ValueType,
} from '../tencent/schema-model';

/**
 * `npm run client:types`: the TypeScript types of the client package (src/client/), generated
 * from the Avro schemas in schemas/ and the catalogue: for every command with a typed schema, the
 * callback as Tencent sent it (what `decode` and `fromRecord` give back: the envelope's fields are
 * apart, fields the schema does not name come back beside the named ones), and the maps from
 * command to callback type. A test regenerates the file and fails on any difference.
 */
export const CLIENT_TYPES_FILE = join('src', 'client', 'generated', 'callbacks.ts');

const ROOT = dirname(schemasDir());

function tsType(t: ValueType, names: ReadonlyMap<string, string>): string {
  switch (t.kind) {
    case 'string':
      return 'string';
    case 'long':
    case 'int':
    case 'double':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'map':
      return 'Record<string, string>';
    case 'array': {
      const items = tsType(t.items, names);
      return items.includes(' ') ? `(${items})[]` : `${items}[]`;
    }
    case 'record':
      return names.get(t.name) as string;
    case 'records':
      return t.names.map((n) => names.get(n) as string).join(' | ');
    case 'primitives':
      return [...new Set(t.kinds.map((k) => tsType({ kind: k } as ValueType, names)))].join(' | ');
  }
}

/** A field name as a TypeScript property name (quoted when it is not an identifier). */
const prop = (name: string): string => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : `'${name}'`);

/** The interface of one record in Tencent's JSON shape. */
function recordInterface(
  r: RecordModel,
  isRoot: boolean,
  names: ReadonlyMap<string, string>,
): string {
  const name = names.get(r.name) as string;
  if (r.name === UNKNOWN_ELEMENT)
    return `/** An element whose MsgType the schema does not know: its MsgContent as sent. */\nexport type ${name} = Record<string, unknown>;`;
  const lines = r.fields
    .filter((f) => !(isRoot && ENVELOPE_FIELDS.has(f.name)))
    .map((f) => `  ${prop(f.name)}${f.optional ? '?' : ''}: ${tsType(f.type, names)};`);
  if (r.keepsExtra)
    lines.push('  /** Fields the schema does not name, as sent. */', '  [key: string]: unknown;');
  return `/** \`${r.fullName}\` */\nexport interface ${name} {\n${lines.join('\n')}\n}`;
}

/** The generated module's text, formatted by Prettier with the project's settings. */
export function generateClientTypes(): string {
  const typed = CATALOGUE.filter((e) => e.schema !== undefined);
  const generic = CATALOGUE.filter((e) => e.schema === undefined);
  // every record of every typed schema, one interface per distinct (full name, shape)
  interface Seen {
    record: RecordModel;
    model: SchemaModel;
    root: boolean;
  }
  const records = new Map<string, Seen>();
  const idOf = (r: RecordModel): string => `${r.fullName} ${JSON.stringify(r)}`;
  const models = new Map<string, SchemaModel>(); // command -> its schema's model
  for (const e of typed) {
    const model = buildSchemaModel(loadSchema(e.schema));
    models.set(e.command, model);
    for (const record of model.records.values())
      if (!records.has(idOf(record)))
        records.set(idOf(record), { record, model, root: record === model.root });
  }
  // interface names: the short name; the namespace's last part too where two records share a short name; the
  // root record's name too where one full name has two shapes (sns's FriendPair)
  const count = (key: (r: RecordModel) => string): Map<string, number> => {
    const m = new Map<string, number>();
    for (const { record } of records.values()) m.set(key(record), (m.get(key(record)) ?? 0) + 1);
    return m;
  };
  const byShort = count((r) => r.name);
  const byFull = count((r) => r.fullName);
  /** `tim.c2c.CallbackAfterSendMsg` -> `C2cCallbackAfterSendMsg`: the namespace's last part. */
  const pascal = (fullName: string): string => {
    const parts = fullName.split('.');
    const ns = parts.length > 1 ? (parts[parts.length - 2] as string) : '';
    return `${ns.charAt(0).toUpperCase()}${ns.slice(1)}${parts[parts.length - 1] as string}`;
  };
  const interfaceName = (r: RecordModel, model: SchemaModel): string => {
    if ((byFull.get(r.fullName) ?? 0) > 1) return `${model.root.name}${r.name}`;
    return (byShort.get(r.name) ?? 0) > 1 ? pascal(r.fullName) : r.name;
  };
  const blocks: [string, string][] = [];
  for (const { record, model, root } of records.values()) {
    // a record refers to others by their short names within its own schema
    const names = new Map(
      [...model.records.values()].map((r) => [r.name, interfaceName(r, model)] as const),
    );
    blocks.push([names.get(record.name) as string, recordInterface(record, root, names)]);
  }
  blocks.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const nameOfRoot = (command: string): string => {
    const model = models.get(command) as SchemaModel;
    return interfaceName(model.root, model);
  };
  const text = `// Generated by \`npm run client:types\` from schemas/ and src/catalogue/catalogue.ts: do not edit.

${blocks.map(([, b]) => b).join('\n\n')}

/** Every command with a typed schema -> its callback, as Tencent sent it. */
export interface TypedCallbacks {
${typed.map((e) => `  '${e.command}': ${nameOfRoot(e.command)};`).join('\n')}
}

export type TypedCommand = keyof TypedCallbacks;

/** Every catalogued command kept with the generic schema (its body as sent, as JSON). */
export type GenericCommand =
${generic.map((e) => `  | '${e.command}'`).join('\n')};
`;
  // formatted by the project's Prettier, in a child process (its API is ES modules only)
  return execFileSync(
    join(ROOT, 'node_modules', '.bin', 'prettier'),
    ['--stdin-filepath', join(ROOT, CLIENT_TYPES_FILE)],
    { input: text, encoding: 'utf8', cwd: ROOT },
  );
}

function main(): void {
  writeFileSync(join(ROOT, CLIENT_TYPES_FILE), generateClientTypes());
  process.stdout.write(`wrote ${CLIENT_TYPES_FILE}\n`);
}

if (require.main === module) main();
