import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafka } from '../../src/kafka/client';
import type { ConsumedRecord } from '../../src/kafka/reader';
import type { AfterSendMsgCallback } from '../../src/tencent/callback';
import { logger } from '../support/bridge';
import { stackAsync } from '../support/process';
import { decodeCallbacks } from '../support/records';

/**
 * The outage tests SIGKILL the broker. On the shared local stack that breaks whatever else runs
 * on it at the time, and a concurrent Jest run's global setup/teardown, seeing the stack "down",
 * starts it and later stops it (registry included) in the middle of these tests. So they run on
 * a stack of their own: the same stack.sh, another STACK_DIR and other ports (overridable).
 */
const port = (name: string, fallback: number): string => process.env[name] ?? String(fallback);

export const PRIVATE_STACK_ENV: Record<string, string> = {
  STACK_DIR: process.env.OUTAGE_STACK_DIR ?? join(tmpdir(), 'tim-outage-stack'),
  KAFKA_PORT: port('OUTAGE_KAFKA_PORT', 19092),
  KAFKA_CONTROLLER_PORT: port('OUTAGE_KAFKA_CONTROLLER_PORT', 19093),
  KAFKA_SASL_PORT: port('OUTAGE_KAFKA_SASL_PORT', 19094),
  REGISTRY_PORT: port('OUTAGE_REGISTRY_PORT', 18081),
};

export const OUTAGE_KAFKA_BROKERS = `127.0.0.1:${PRIVATE_STACK_ENV.KAFKA_PORT}`;
export const OUTAGE_REGISTRY_URL = `http://127.0.0.1:${PRIVATE_STACK_ENV.REGISTRY_PORT}/apis/ccompat/v7`;

/** stack.sh on the private stack. */
export const privateStack = (...args: string[]): Promise<void> =>
  stackAsync(args, PRIVATE_STACK_ENV);

export const privateKafka = createKafka({
  brokers: [OUTAGE_KAFKA_BROKERS],
  clientId: 'test-outage',
  logger,
});

/** Decodes records through the private registry (schema ids are per registry) to callbacks. */
export const decodePrivate = (records: ConsumedRecord[]): Promise<AfterSendMsgCallback[]> =>
  decodeCallbacks(records, OUTAGE_REGISTRY_URL);
