import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaSecurity } from './client';
import type { ProducerFactory, PublisherProducer } from './producers';

/** An ES module: loaded with import() from this CommonJS build. */
type Platformatic = typeof import('@platformatic/kafka', { with: { 'resolution-mode': 'import' } });

export interface PlatformaticOptions extends KafkaSecurity {
  brokers: string[];
  clientId: string;
}

/** The refusal a failed request carries: the first broker error code (`apiId`) in its tree. */
export function refusalOf(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 5) return undefined;
  const e = err as { apiId?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.apiId === 'string') return e.apiId;
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const found = refusalOf(inner, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return refusalOf(e.cause, depth + 1);
}

/**
 * A failed request as the publisher reads it (like KafkaJS's errors): `type` is the broker's
 * refusal where there is one, the message names it and keeps the library's own.
 */
export function asKafkaError(err: unknown): Error & { type?: string } {
  const type = refusalOf(err);
  const message = err instanceof Error ? err.message : String(err);
  const out = new Error(type === undefined ? message : `${type}: ${message}`, {
    cause: err,
  }) as Error & { type?: string };
  if (type !== undefined) out.type = type;
  return out;
}

function tls(ssl: KafkaSecurity['ssl']): ConnectionOptions | undefined {
  if (ssl === undefined || ssl === false) return undefined;
  if (ssl === true) return {};
  return {
    ...(ssl.caFile ? { ca: [readFileSync(ssl.caFile, 'utf8')] } : {}),
    ...(ssl.certFile ? { cert: readFileSync(ssl.certFile, 'utf8') } : {}),
    ...(ssl.keyFile ? { key: readFileSync(ssl.keyFile, 'utf8') } : {}),
    ...(ssl.keyPassword ? { passphrase: ssl.keyPassword } : {}),
    rejectUnauthorized: ssl.rejectUnauthorized ?? true,
  };
}

const MECHANISMS = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
} as const;

/**
 * `@platformatic/kafka`'s producer (`KAFKA_PRODUCER_ENGINE=platformatic`): idempotent, acks=all,
 * retrying what is retriable without end (`retries: true`), one request at a time (the publisher
 * sends the next only when the last returned), partitioned by its `compatibilityPartitioner`
 * (Java's murmur2 `& 0x7fffffff`, as KafkaJS's DefaultPartitioner; its default partitioner is
 * not). Loaded only when chosen.
 */
export async function platformaticProducers(opts: PlatformaticOptions): Promise<ProducerFactory> {
  const pk: Platformatic = await import('@platformatic/kafka');
  const tlsOptions = tls(opts.ssl);
  const security = {
    ...(tlsOptions === undefined ? {} : { tls: tlsOptions }),
    ...(opts.sasl
      ? {
          sasl: {
            mechanism: MECHANISMS[opts.sasl.mechanism],
            username: opts.sasl.username,
            password: opts.sasl.password,
          },
        }
      : {}),
  };
  return (): PublisherProducer => {
    const producer = new pk.Producer({
      clientId: opts.clientId,
      bootstrapBrokers: opts.brokers,
      ...security,
      idempotent: true,
      acks: pk.ProduceAcks.ALL,
      partitioner: pk.compatibilityPartitioner,
      autocreateTopics: false,
      retries: true,
      retryDelay: 100,
      connectTimeout: 3000,
      timeout: 10000,
    });
    const listeners = new Set<(connected: boolean) => void>();
    const tell = (connected: boolean): void => listeners.forEach((l) => l(connected));
    producer.on('client:broker:connect', () => tell(true));
    producer.on('client:broker:disconnect', () => tell(false));
    producer.on('client:broker:failed', () => tell(false));
    return {
      async connect() {
        await producer.metadata({ topics: [] });
        tell(true);
      },
      async disconnect() {
        await producer.close(true);
        tell(false);
      },
      async send(topicMessages) {
        const messages = [];
        for (const { topic, messages: records } of topicMessages) {
          for (const m of records) {
            const headers = new Map<Buffer, Buffer>();
            for (const k in m.headers) {
              headers.set(Buffer.from(k), Buffer.from(m.headers[k] as string));
            }
            messages.push({
              topic,
              ...(m.key === null ? {} : { key: Buffer.from(m.key) }),
              value: m.value,
              headers,
            });
          }
        }
        try {
          await producer.send({ messages });
        } catch (err) {
          throw asKafkaError(err);
        }
      },
      onConnection(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
  };
}
