import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Avro schemas live in `schemas/` at the package root, the source of truth for every record. */
export const CALLBACK_SCHEMA_FILE = 'c2c-after-send-msg.avsc';

export function schemasDir(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'schemas');
    if (existsSync(join(candidate, CALLBACK_SCHEMA_FILE))) return candidate;
    if (dirname(dir) === dir)
      throw new Error(`schemas/${CALLBACK_SCHEMA_FILE} not found above ${from}`);
  }
}

/** Reads an Avro schema (.avsc) as parsed JSON. */
export function loadSchema(file: string = CALLBACK_SCHEMA_FILE): AvroSchemaJson {
  return JSON.parse(readFileSync(join(schemasDir(), file), 'utf8')) as AvroSchemaJson;
}

/** An Avro schema as JSON (the .avsc text parsed): a name, a union (array) or a type object. */
export type AvroSchemaJson = string | AvroSchemaJson[] | { type: string; [k: string]: unknown };
