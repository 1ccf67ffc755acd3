import avro from 'avsc';
import { readdirSync } from 'node:fs';
import { loadSchema, schemasDir, type AvroSchemaJson } from '../schemas';
import { compatibilityProblems, resolutionProblems } from './schema-compat';

interface RecordJson {
  type: string;
  name: string;
  fields: { name: string }[];
  [k: string]: unknown;
}
const record = (fields: unknown[], name = 'Msg'): RecordJson => ({
  type: 'record',
  name,
  namespace: 'tim.test',
  fields: fields as { name: string }[],
});
const base = record([
  { name: 'To_Account', type: 'string' },
  { name: 'MsgSeq', type: 'int' },
  { name: 'Opt', type: ['null', 'string'], default: null },
  {
    name: 'MsgBody',
    type: {
      type: 'array',
      items: {
        type: 'record',
        name: 'Elem',
        fields: [
          { name: 'MsgType', type: 'string' },
          { name: 'Kind', type: { type: 'enum', name: 'Kind', symbols: ['A', 'B'] } },
        ],
      },
    },
  },
]);

/** `base` with the field `name` replaced (or added, or removed with `undefined`). */
function withField(name: string, field: unknown): AvroSchemaJson {
  const fields = base.fields.filter((f) => f.name !== name);
  return record(field === undefined ? fields : [...fields, field]);
}
function withElem(fields: unknown[], kindSymbols?: string[], kindDefault?: string): AvroSchemaJson {
  return withField('MsgBody', {
    name: 'MsgBody',
    type: {
      type: 'array',
      items: {
        type: 'record',
        name: 'Elem',
        fields: [
          ...fields,
          {
            name: 'Kind',
            type: {
              type: 'enum',
              name: 'Kind',
              symbols: kindSymbols ?? ['A', 'B'],
              default: kindDefault,
            },
          },
        ],
      },
    },
  });
}

const backward = (next: AvroSchemaJson): string[] =>
  compatibilityProblems('BACKWARD', next, base).map((p) => `${p.path}: ${p.message}`);
const forward = (next: AvroSchemaJson): string[] =>
  compatibilityProblems('FORWARD', next, base).map((p) => `${p.path}: ${p.message}`);

/** avsc's own resolver (the one that decodes records) must agree with the check. */
function avscResolves(reader: AvroSchemaJson, writer: AvroSchemaJson): boolean {
  try {
    avro.Type.forSchema(reader as avro.Schema).createResolver(
      avro.Type.forSchema(writer as avro.Schema),
    );
    return true;
  } catch {
    return false;
  }
}

describe('BACKWARD: the new schema reads records written with the old one', () => {
  const cases: [string, AvroSchemaJson, string | undefined][] = [
    ['the same schema', base, undefined],
    [
      'a field retyped',
      withField('To_Account', { name: 'To_Account', type: 'long' }),
      'Msg.To_Account: the new schema cannot read old records: string cannot be read as long',
    ],
    ['int promoted to long', withField('MsgSeq', { name: 'MsgSeq', type: 'long' }), undefined],
    [
      'a field added without a default',
      withField('Extra', { name: 'Extra', type: 'string' }),
      'Msg.Extra: the new schema cannot read old records: has no default',
    ],
    [
      'an optional field added',
      withField('Extra', { name: 'Extra', type: ['null', 'string'], default: null }),
      undefined,
    ],
    ['a field removed', withField('Opt', undefined), undefined],
    [
      'a field made optional',
      withField('To_Account', { name: 'To_Account', type: ['null', 'string'], default: null }),
      undefined,
    ],
    [
      'an optional field made required',
      withField('Opt', { name: 'Opt', type: 'string' }),
      'Msg.Opt: the new schema cannot read old records: null cannot be read as string',
    ],
    [
      'a nested field retyped',
      withElem([{ name: 'MsgType', type: 'int' }]),
      'Msg.MsgBody[].MsgType: the new schema cannot read old records: string cannot be read as int',
    ],
    [
      'an enum symbol removed',
      withElem([{ name: 'MsgType', type: 'string' }], ['A']),
      'Msg.MsgBody[].Kind: the new schema cannot read old records: enum tim.test.Kind lacks the symbols B',
    ],
    [
      'an enum symbol removed, with a default',
      withElem([{ name: 'MsgType', type: 'string' }], ['A', 'C'], 'C'),
      undefined,
    ],
    [
      'a field renamed without an alias',
      withField('To_Account', { name: 'Recipient', type: 'string' }),
      'Msg.Recipient: the new schema cannot read old records: has no default',
    ],
    [
      'a field renamed with an alias',
      withField('To_Account', { name: 'Recipient', type: 'string', aliases: ['To_Account'] }),
      undefined,
    ],
    [
      'a record renamed',
      record(base.fields, 'Other'),
      'Other: the new schema cannot read old records: record tim.test.Msg cannot be read as record tim.test.Other',
    ],
  ];

  test.each(cases)('%s', (_name, next, problem) => {
    const problems = backward(next);
    if (problem === undefined) expect(problems).toEqual([]);
    else expect(problems).toEqual([expect.stringContaining(problem)]);
    expect(avscResolves(next, base)).toBe(problem === undefined);
  });
});

test('FORWARD: old readers read new records (removing a field without a default breaks them)', () => {
  expect(forward(withField('MsgSeq', undefined))).toEqual([
    expect.stringContaining(
      'Msg.MsgSeq: readers with the old schema cannot read new records: has no default',
    ),
  ]);
  expect(forward(withField('Opt', undefined))).toEqual([]);
  expect(forward(withField('MsgSeq', { name: 'MsgSeq', type: 'long' }))).toEqual([
    expect.stringContaining(
      'Msg.MsgSeq: readers with the old schema cannot read new records: long cannot be read as int',
    ),
  ]);
  expect(
    compatibilityProblems('FULL', withField('MsgSeq', { name: 'MsgSeq', type: 'long' }), base),
  ).toHaveLength(1);
  expect(compatibilityProblems('NONE', withField('MsgSeq', undefined), base)).toEqual([]);
});

test('a union that loses a branch the old schema wrote is refused, one that gains one is not', () => {
  const u = (types: string[]): AvroSchemaJson =>
    withField('Opt', { name: 'Opt', type: types, default: null });
  expect(backward(u(['null', 'string', 'long']))).toEqual([]);
  const narrowed = compatibilityProblems('BACKWARD', u(['null', 'long']), u(['null', 'string']));
  expect(narrowed.map((p) => `${p.path}: ${p.message}`)).toEqual([
    expect.stringContaining(
      'Msg.Opt: the new schema cannot read old records: string cannot be read as [null, long]',
    ),
  ]);
});

test('recursive schemas are checked without looping', () => {
  const tree = (extra: unknown[]): AvroSchemaJson => ({
    type: 'record',
    name: 'Node',
    fields: [{ name: 'children', type: { type: 'array', items: 'Node' } }, ...extra],
  });
  expect(
    resolutionProblems(
      avro.Type.forSchema(tree([]) as avro.Schema),
      avro.Type.forSchema(tree([]) as avro.Schema),
    ),
  ).toEqual([]);
  const added = compatibilityProblems(
    'BACKWARD',
    tree([{ name: 'label', type: 'string' }]),
    tree([]),
  );
  expect(added.map((p) => p.path)).toEqual(['Node.label']);
});

test("every schema in schemas/ is fully compatible with itself (the check accepts the tree's own shapes)", () => {
  const files = readdirSync(schemasDir()).filter((f) => f.endsWith('.avsc'));
  expect(files.length).toBeGreaterThan(10);
  for (const file of files)
    expect([file, compatibilityProblems('FULL', loadSchema(file), loadSchema(file))]).toEqual([
      file,
      [],
    ]);
});
