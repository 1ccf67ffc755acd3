import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type LogEntry, type SASLOptions, type logCreator } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '../observability/logger';
import { KAFKAJS_VERSION, installProduceEncoder } from './produce-encoding';

export interface KafkaSecurity {
  sasl?: {
    mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
    username: string;
    password: string;
  };
  /** TLS: true for the system CAs, or files for a private CA and mutual TLS. */
  ssl?:
    | boolean
    | {
        caFile?: string;
        certFile?: string;
        keyFile?: string;
        keyPassword?: string;
        rejectUnauthorized?: boolean;
      };
}

export interface KafkaOptions extends KafkaSecurity {
  brokers: string[];
  clientId: string;
  logger: Logger;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** KafkaJS's log lines, routed to our JSON logger (they never carry record values). */
function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      logger[LEVELS[level] ?? 'info']({ kafka: extra }, `kafkajs: ${message}`);
    };
}

function tlsOptions(ssl: KafkaSecurity['ssl']): boolean | ConnectionOptions | undefined {
  if (ssl === undefined || typeof ssl === 'boolean') return ssl;
  return {
    ...(ssl.caFile ? { ca: [readFileSync(ssl.caFile, 'utf8')] } : {}),
    ...(ssl.certFile ? { cert: readFileSync(ssl.certFile, 'utf8') } : {}),
    ...(ssl.keyFile ? { key: readFileSync(ssl.keyFile, 'utf8') } : {}),
    ...(ssl.keyPassword ? { passphrase: ssl.keyPassword } : {}),
    rejectUnauthorized: ssl.rejectUnauthorized ?? true,
  };
}

export function createKafka(opts: KafkaOptions): Kafka {
  if (!installProduceEncoder()) {
    opts.logger.warn(
      `KafkaJS is not ${KAFKAJS_VERSION}: its own Produce encoder is used (correct, but costs more CPU)`,
    );
  }
  const ssl = tlsOptions(opts.ssl);
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    ...(ssl === undefined ? {} : { ssl }),
    ...(opts.sasl ? { sasl: opts.sasl as SASLOptions } : {}),
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(opts.logger),
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { initialRetryTime: 100, retries: 8, maxRetryTime: 5000 },
  });
}

export type { Kafka };

/** KafkaJS errors that say "not yet" (a broker away, a topic or leader not there yet). */
const TRANSIENT_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSBrokerNotFound',
  'KafkaJSRequestTimeoutError',
  'KafkaJSLockTimeout',
]);

/**
 * Whether an error from Kafka is transient (worth trying again later): marked retriable by
 * KafkaJS, one of its connection errors, or caused by one. Start-up waits these out.
 */
export function isTransientKafkaError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    if ((e as { retriable?: unknown }).retriable === true || TRANSIENT_NAMES.has(e.name)) {
      return true;
    }
    const next = e as { originalError?: unknown; cause?: unknown };
    e = next.originalError ?? next.cause;
  }
  return false;
}
