import type { ConnectionConfig } from '../config';
import type { KafkaSecurity } from './client';
import type { RegistryOptions } from './registry';

/** Kafka's security settings from the configuration (SASL PLAIN/SCRAM, TLS with files). */
export function kafkaSecurity(c: ConnectionConfig): KafkaSecurity {
  const out: KafkaSecurity = {};
  if (c.KAFKA_SASL_MECHANISM !== 'none') {
    out.sasl = {
      mechanism: c.KAFKA_SASL_MECHANISM,
      username: c.KAFKA_SASL_USERNAME as string,
      password: c.KAFKA_SASL_PASSWORD as string,
    };
  }
  if (c.KAFKA_SSL) {
    const files = {
      ...(c.KAFKA_SSL_CA_FILE ? { caFile: c.KAFKA_SSL_CA_FILE } : {}),
      ...(c.KAFKA_SSL_CERT_FILE ? { certFile: c.KAFKA_SSL_CERT_FILE } : {}),
      ...(c.KAFKA_SSL_KEY_FILE ? { keyFile: c.KAFKA_SSL_KEY_FILE } : {}),
      ...(c.KAFKA_SSL_KEY_PASSWORD ? { keyPassword: c.KAFKA_SSL_KEY_PASSWORD } : {}),
    };
    out.ssl =
      Object.keys(files).length === 0 && c.KAFKA_SSL_REJECT_UNAUTHORIZED
        ? true
        : { ...files, rejectUnauthorized: c.KAFKA_SSL_REJECT_UNAUTHORIZED };
  }
  return out;
}

export function registryOptions(c: ConnectionConfig): RegistryOptions {
  return {
    url: c.SCHEMA_REGISTRY_URL,
    ...(c.SCHEMA_REGISTRY_USERNAME && c.SCHEMA_REGISTRY_PASSWORD
      ? { auth: { username: c.SCHEMA_REGISTRY_USERNAME, password: c.SCHEMA_REGISTRY_PASSWORD } }
      : {}),
  };
}
