import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafka, type Kafka } from '../../src/kafka/client';
import type { ConsumedRecord } from '../../src/kafka/reader';
import type { AfterSendMsgCallback } from '../../src/tencent/callback';
import { logger } from '../support/bridge';
import { stackAsync } from '../support/process';
import { decodeCallbacks } from '../support/records';

/**
 * The outage tests stop or SIGKILL the broker. On the shared local stack that breaks whatever else
 * runs on it at the time, and a concurrent Jest run's global setup/teardown, seeing the stack
 * "down", starts it and later stops it (registry included) in the middle of these tests. So each
 * outage test file runs on a stack of its own: the same stack.sh, another STACK_DIR and other
 * ports (overridable), so that two files may even run at once.
 */
export interface PrivateStack {
  env: Record<string, string>;
  brokers: string;
  registryUrl: string;
  kafka: Kafka;
  /** stack.sh on this stack. */
  stack(...args: string[]): Promise<void>;
  /** Decodes records through this stack's registry (schema ids are per registry). */
  decode(records: ConsumedRecord[]): Promise<AfterSendMsgCallback[]>;
}

export interface StackPorts {
  kafka: number;
  controller: number;
  sasl: number;
  tls: number;
  registry: number;
}

/** A private stack; its ports and folder can be overridden by `<NAME>_KAFKA_PORT`, ... `<NAME>_STACK_DIR`. */
export function privateStackOf(name: string, ports: StackPorts): PrivateStack {
  const upper = name.toUpperCase();
  const port = (what: string, fallback: number): string =>
    process.env[`${upper}_${what}_PORT`] ?? String(fallback);
  const env: Record<string, string> = {
    STACK_DIR: process.env[`${upper}_STACK_DIR`] ?? join(tmpdir(), `tim-${name}-stack`),
    KAFKA_PORT: port('KAFKA', ports.kafka),
    KAFKA_CONTROLLER_PORT: port('KAFKA_CONTROLLER', ports.controller),
    KAFKA_SASL_PORT: port('KAFKA_SASL', ports.sasl),
    KAFKA_TLS_PORT: port('KAFKA_TLS', ports.tls),
    REGISTRY_PORT: port('REGISTRY', ports.registry),
  };
  const brokers = `127.0.0.1:${env.KAFKA_PORT}`;
  const registryUrl = `http://127.0.0.1:${env.REGISTRY_PORT}/apis/ccompat/v7`;
  return {
    env,
    brokers,
    registryUrl,
    kafka: createKafka({ brokers: [brokers], clientId: `test-${name}`, logger }),
    stack: (...args) => stackAsync(args, env),
    decode: (records) => decodeCallbacks(records, registryUrl),
  };
}

/** The chaos run's stack. */
const outage = privateStackOf('outage', {
  kafka: 19092,
  controller: 19093,
  sasl: 19094,
  tls: 19095,
  registry: 18081,
});
export const PRIVATE_STACK_ENV = outage.env;
export const OUTAGE_KAFKA_BROKERS = outage.brokers;
export const OUTAGE_REGISTRY_URL = outage.registryUrl;
export const privateStack = outage.stack;
export const privateKafka = outage.kafka;
export const decodePrivate = outage.decode;
