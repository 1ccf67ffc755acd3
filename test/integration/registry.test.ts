import { randomBytes } from 'node:crypto';
import { Registry, isTransientRegistryError } from '../../src/kafka/registry';
import type { AvroSchemaJson } from '../../src/schemas';
import { SCHEMA_REGISTRY_URL } from '../support/stack';

/**
 * Registry#register against the real registry: a subject someone set to another compatibility
 * level is set back to the level asked for, then registered (the library refuses to register
 * while they differ); a schema the subject's level refuses fails for good, not as a transient
 * error the bridge would wait out.
 */

const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
const subject = (): string => `test.registry.${randomBytes(4).toString('hex')}-value`;
const schema = (fields: unknown[]): AvroSchemaJson => ({
  type: 'record',
  name: 'R',
  namespace: 'tim.test',
  fields,
});
const v1 = schema([{ name: 'a', type: 'string' }]);

test('a subject at another compatibility level is set back to ours, then registered', async () => {
  const s = subject();
  await registry.register(s, v1, 'BACKWARD');
  await registry.setCompatibility(s, 'FULL');
  expect(await registry.compatibility(s)).toBe('FULL');
  const v2 = schema([
    { name: 'a', type: 'string' },
    { name: 'b', type: ['null', 'string'], default: null },
  ]);
  const id = await registry.register(s, v2, 'BACKWARD');
  expect(id).toBeGreaterThan(0);
  expect(await registry.compatibility(s)).toBe('BACKWARD');
  expect(await registry.lookup(s, v2)).toBe(id);
});

test('a schema the subject refuses (a field retyped under BACKWARD) fails, not as transient', async () => {
  const s = subject();
  await registry.register(s, v1, 'BACKWARD');
  const retyped = schema([{ name: 'a', type: 'long' }]);
  const err = await registry.register(s, retyped, 'BACKWARD').then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  expect(isTransientRegistryError(err)).toBe(false);
  expect(String((err as Error).message)).toMatch(/incompatib|409|conflict/i);
});
