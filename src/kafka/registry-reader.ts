import type avro from 'avsc';
import type { AvroSchemaJson } from '../schemas';
import { avroType, readWireHeader } from './codec';

/** A record names a schema id the registry does not know: the record cannot be decoded, ever. */
export class SchemaNotFoundError extends Error {
  override name = 'SchemaNotFoundError';
}

/** A record's Avro body does not decode with the schema its id names (truncated, corrupt). */
export class RecordDecodeError extends Error {
  override name = 'RecordDecodeError';
}

export interface RegistryOptions {
  url: string;
  auth?: { username: string; password: string };
}

/**
 * The read side of a Confluent-compatible schema registry (Apicurio's ccompat/v7 locally,
 * Confluent's in production): writer schemas by id, fetched once and cached, and records decoded
 * with them. Plain `fetch`, no registry library: the client package (`tim-kafka-bridge-client`)
 * decodes with it and depends on avsc alone. `Registry` adds registration.
 */
export class RegistryReader {
  private readonly readers = new Map<number, Promise<(body: Buffer) => unknown>>();
  private readonly authHeader: string | undefined;

  constructor(protected readonly opts: RegistryOptions) {
    this.authHeader = opts.auth
      ? `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`
      : undefined;
  }

  /** The writer schema of `id`, as registered; SchemaNotFoundError when the registry has none. */
  async schemaById(id: number): Promise<AvroSchemaJson> {
    const res = await this.request('GET', `/schemas/ids/${id}`);
    if (res.status === 404)
      throw new SchemaNotFoundError(`the schema registry has no schema id ${id}`);
    return JSON.parse(((await res.json()) as { schema: string }).schema) as AvroSchemaJson;
  }

  /**
   * Decodes a Confluent-framed value with the writer schema its id names (fetched once per id),
   * resolved to `readerType` when given (schema evolution), else as written. The plan is kept per
   * schema id with the first `readerType` given for it: one instance per reader schema.
   */
  async decode(
    value: Buffer,
    readerType?: avro.Type,
  ): Promise<{ schemaId: number; record: unknown }> {
    const { schemaId, body } = readWireHeader(value);
    let reader = this.readers.get(schemaId);
    if (reader === undefined) {
      reader = this.schemaById(schemaId).then((schema) => {
        const writer = avroType(schema);
        if (readerType === undefined || readerType.equals(writer))
          return (b: Buffer) => writer.fromBuffer(b);
        const resolver = readerType.createResolver(writer);
        return (b: Buffer) => readerType.fromBuffer(b, resolver);
      });
      reader.catch(() => this.readers.delete(schemaId));
      this.readers.set(schemaId, reader);
    }
    const decode = await reader;
    try {
      return { schemaId, record: decode(body) };
    } catch (err) {
      throw new RecordDecodeError(
        `the record does not decode with schema id ${schemaId}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  protected async request(method: string, path: string, body?: unknown): Promise<Response> {
    const res = await fetch(`${this.opts.url}${path}`, {
      method,
      headers: {
        Accept: 'application/vnd.schemaregistry.v1+json, application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/vnd.schemaregistry.v1+json' }),
        ...(this.authHeader ? { Authorization: this.authHeader } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10000),
    });
    if (!res.ok && res.status !== 404) {
      throw new Error(`schema registry ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    }
    return res;
  }
}
