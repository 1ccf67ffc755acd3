import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { AvroSchemaJson } from '../schemas';
import { RegistryReader, type RegistryOptions } from './registry-reader';

export {
  RecordDecodeError,
  SchemaNotFoundError,
  RegistryReader,
  type RegistryOptions,
} from './registry-reader';

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

/**
 * The schema registry, through the Confluent-compatible REST API (Apicurio's ccompat/v7 locally,
 * Confluent's in production). Ids are looked up once and cached; writer schemas too.
 */
export class Registry extends RegistryReader {
  private readonly client: SchemaRegistry;

  constructor(opts: RegistryOptions) {
    super(opts);
    this.client = new SchemaRegistry(
      { host: opts.url, ...(opts.auth ? { auth: opts.auth } : {}), retry: { retries: 2 } },
      { [SchemaType.AVRO]: { wrapUnions: 'auto' } },
    );
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

  /** The latest version's id under `subject`. */
  latestId(subject: string): Promise<number> {
    return this.client.getLatestSchemaId(subject);
  }
}
