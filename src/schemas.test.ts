import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { expandSchema, loadSchema, schemasDir } from './schemas';

const golden = (file: string): string =>
  readFileSync(join(__dirname, '..', 'test', 'fixtures', 'golden', file), 'utf8');

test('the C2C schema expands to exactly the schema registered before the element types were shared', () => {
  // the registered text is JSON.stringify of the loaded schema: the same text, the same subject
  // version and id, so consumers of c2c.after-send-msg see no change
  expect(JSON.stringify(loadSchema('c2c-after-send-msg.avsc'))).toBe(
    JSON.stringify(JSON.parse(golden('c2c-after-send-msg.avsc'))),
  );
});

test('a shared type is written out at its first use only, with its namespace when it differs', () => {
  const shared = new Map([
    ['tim.c2c.Elem', { type: 'record', name: 'Elem', namespace: 'tim.c2c', fields: [] }],
  ]);
  const schema = {
    type: 'record',
    name: 'Msg',
    namespace: 'tim.group',
    fields: [
      { name: 'A', type: { type: 'array', items: 'tim.c2c.Elem' } },
      { name: 'B', type: ['null', 'tim.c2c.Elem'] },
    ],
  };
  const expanded = expandSchema(schema, shared) as unknown as { fields: { type: unknown }[] };
  expect(expanded.fields[0]?.type).toEqual({
    type: 'array',
    items: { type: 'record', name: 'Elem', namespace: 'tim.c2c', fields: [] },
  });
  expect(expanded.fields[1]?.type).toEqual(['null', 'tim.c2c.Elem']);
  expect(() => avro.Type.forSchema(expanded as avro.Schema)).not.toThrow();
  // in its own namespace the definition carries no namespace (as if written inline)
  const inC2c = expandSchema({ ...schema, namespace: 'tim.c2c' }, shared) as unknown as {
    fields: { type: { items: Record<string, unknown> } }[];
  };
  expect(inC2c.fields[0]?.type.items).not.toHaveProperty('namespace');
});

test('every schema in schemas/ expands to a schema avsc compiles', () => {
  for (const f of readdirSync(schemasDir()).filter((n) => n.endsWith('.avsc'))) {
    expect(() =>
      avro.Type.forSchema(loadSchema(f) as avro.Schema, { wrapUnions: 'auto' }),
    ).not.toThrow();
  }
});
