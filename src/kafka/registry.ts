import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
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

export type Compatibility = keyof typeof COMPATIBILITY;

const NETWORK_ERROR =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up/;

/**
 * Whether a registry call failed for a reason that may pass (the registry away or overloaded:
 * a network error, which the client reports as status 400 with the socket error, or a 5xx)
 * rather than one that will not (a schema refused as incompatible, bad credentials).
 */
export function isTransientRegistryError(err: unknown): boolean {
  const e = err as { name?: unknown; status?: unknown; message?: unknown };
  if (e?.name !== 'ResponseError' || typeof e.status !== 'number') return false;
  return e.status >= 500 || (e.status === 400 && NETWORK_ERROR.test(String(e.message)));
}

export interface RegistryOptions {
  url: string;
  auth?: { username: string; password: string };
}

/**
 * The schema registry, through the Confluent-compatible REST API (Apicurio's ccompat/v7 locally,
 * Confluent's in production). Ids are looked up once and cached; writer schemas too.
 */
export class Registry {
  private readonly client: SchemaRegistry;
  private readonly readers = new Map<number, Promise<(body: Buffer) => unknown>>();
  private readonly authHeader: string | undefined;

  constructor(private readonly opts: RegistryOptions) {
    this.client = new SchemaRegistry(
      { host: opts.url, ...(opts.auth ? { auth: opts.auth } : {}), retry: { retries: 2 } },
      { [SchemaType.AVRO]: { wrapUnions: 'auto' } },
    );
    this.authHeader = opts.auth
      ? `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`
      : undefined;
  }

  /**
   * Registers `schema` under `subject` (a no-op returning the existing id when it is already
   * there), makes sure the subject's compatibility is `compatibility`, and returns the id.
   */
  async register(
    subject: string,
    schema: AvroSchemaJson,
    compatibility: Compatibility = 'BACKWARD',
  ): Promise<number> {
    const confluentSchema = { type: SchemaType.AVRO as const, schema: JSON.stringify(schema) };
    let id: number;
    try {
      ({ id } = await this.client.register(confluentSchema, {
        subject,
        compatibility: COMPATIBILITY[compatibility],
      }));
    } catch (err) {
      // the subject exists with another level (or the registry reports its global default):
      // set ours, then register
      if ((err as Error).name !== 'ConfluentSchemaRegistryCompatibilityError') throw err;
      await this.setCompatibility(subject, compatibility);
      ({ id } = await this.client.register(confluentSchema, {
        subject,
        compatibility: COMPATIBILITY[compatibility],
      }));
    }
    if ((await this.compatibility(subject)) !== compatibility) {
      await this.setCompatibility(subject, compatibility);
    }
    return id;
  }

  /**
   * The id of `schema` as already registered under `subject`, without registering anything (for
   * registries that forbid clients to register: `auto.register.schemas=false` in Confluent's
   * serializers). Fails when the subject does not hold that schema.
   */
  async lookup(subject: string, schema: AvroSchemaJson): Promise<number> {
    return this.client.getRegistryIdBySchema(subject, {
      type: SchemaType.AVRO,
      schema: JSON.stringify(schema),
    });
  }

  /** The subject's own compatibility level, or undefined when it has none. */
  async compatibility(subject: string): Promise<string | undefined> {
    const res = await this.request('GET', `/config/${encodeURIComponent(subject)}`);
    if (res.status === 404) return undefined;
    const data = (await res.json()) as { compatibilityLevel?: string; compatibility?: string };
    return (data.compatibilityLevel ?? data.compatibility)?.toUpperCase();
  }

  async setCompatibility(subject: string, compatibility: Compatibility): Promise<void> {
    await this.request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility });
  }

  /** The writer schema of `id`, as registered; SchemaNotFoundError when the registry has none. */
  async schemaById(id: number): Promise<AvroSchemaJson> {
    const res = await this.request('GET', `/schemas/ids/${id}`);
    if (res.status === 404)
      throw new SchemaNotFoundError(`the schema registry has no schema id ${id}`);
    return JSON.parse(((await res.json()) as { schema: string }).schema) as AvroSchemaJson;
  }

  /** The latest version's id under `subject`. */
  latestId(subject: string): Promise<number> {
    return this.client.getLatestSchemaId(subject);
  }

  /**
   * Decodes a Confluent-framed value with the writer schema its id names (fetched once per id),
   * resolved to `readerType` when given (schema evolution), else as written.
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

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
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
