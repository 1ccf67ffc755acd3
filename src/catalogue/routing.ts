import type { CommandRoute, Routing } from '../ingest';
import type { RecordEncoder } from '../kafka/codec';
import type { AvroSchemaJson } from '../schemas';
import { GENERIC_SCHEMA_FILE, OTHER_COMMAND, commandLabel, type CommandEntry } from './catalogue';
import { genericBuilder, typedBuilder, type RecordBuilder } from './records';
import type { ResolvedRoute } from './routes';

export interface RoutingOptions {
  /** Every catalogued command with its topic or off (resolveRoutes). */
  routes: ReadonlyMap<string, ResolvedRoute>;
  /** Commands the catalogue does not know: their topic, or null (off). */
  otherTopic: string | null;
  loadSchema: (file: string) => AvroSchemaJson;
  /** The encoder of records of `schema` under `subject` (its id from the registry). */
  encoderFor: (subject: string, schema: AvroSchemaJson) => RecordEncoder;
}

export interface BuiltRouting extends Routing {
  /** Every topic records go to (created at start, watched for max.message.bytes). */
  topics: string[];
  /** Every subject (`<topic>-value`) with its schema, registered at start. */
  subjects: { subject: string; schema: AvroSchemaJson }[];
}

/**
 * The routing table: each catalogued command's builder (typed or generic) and encoder, built once.
 * Throws when two commands with different schemas share a topic (one subject, one schema).
 */
export function createRouting(opts: RoutingOptions): BuiltRouting {
  const schemas = new Map<string, AvroSchemaJson>();
  const schemaOf = (file: string): AvroSchemaJson => {
    let s = schemas.get(file);
    if (s === undefined) schemas.set(file, (s = opts.loadSchema(file)));
    return s;
  };
  const fileByTopic = new Map<string, { file: string; command: string }>();
  const encoders = new Map<string, RecordEncoder>();
  const subjects: BuiltRouting['subjects'] = [];
  const encoderOf = (topic: string, file: string, command: string): RecordEncoder => {
    const taken = fileByTopic.get(topic);
    if (taken !== undefined && taken.file !== file) {
      throw new Error(
        `COMMAND_ROUTES sends ${command} (schema ${file}) and ${taken.command} (schema ${taken.file}) to the same topic ${topic}: a topic has one schema; give one of them its own topic`,
      );
    }
    let encoder = encoders.get(topic);
    if (encoder === undefined) {
      fileByTopic.set(topic, { file, command });
      const subject = `${topic}-value`;
      const schema = schemaOf(file);
      subjects.push({ subject, schema });
      encoder = opts.encoderFor(subject, schema);
      encoders.set(topic, encoder);
    }
    return encoder;
  };

  const make = (entry: CommandEntry | undefined, topic: string | null): CommandRoute => {
    const file = entry?.schema ?? GENERIC_SCHEMA_FILE;
    const build: RecordBuilder =
      entry?.schema !== undefined ? typedBuilder(entry, schemaOf(file)) : genericBuilder(entry);
    return {
      entry,
      label: entry ? commandLabel(entry.command) : OTHER_COMMAND,
      kind: entry?.kind ?? 'after',
      topic,
      build,
      encoder: topic === null ? undefined : encoderOf(topic, file, entry?.command ?? OTHER_COMMAND),
    };
  };

  const table = new Map<string, CommandRoute>();
  for (const [command, { entry, topic }] of opts.routes) table.set(command, make(entry, topic));
  const other = make(undefined, opts.otherTopic);
  return {
    route: (command) => table.get(command) ?? other,
    topics: [...encoders.keys()],
    subjects,
  };
}
