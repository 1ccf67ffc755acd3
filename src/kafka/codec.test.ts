import avro from 'avsc';
import { createEncoder, readWireHeader } from './codec';

/** The wire format, for records of every size: the encoder's scratch buffer grows as needed. */
const type = avro.Type.forSchema({
  type: 'record',
  name: 'T',
  fields: [{ name: 'text', type: 'string' }],
});

test.each([0, 10, 64 * 1024, 200 * 1024, 10])(
  'a record with %d characters: magic byte, schema id, then exactly its Avro encoding',
  (n) => {
    const record = { text: 'é'.repeat(n) };
    const value = createEncoder(type, 300).encode(record);
    const { schemaId, body } = readWireHeader(value);
    expect(schemaId).toBe(300);
    expect(body.equals(type.toBuffer(record))).toBe(true);
    expect(type.fromBuffer(body)).toEqual(record);
  },
);

test('records encoded one after another do not share bytes', () => {
  const encoder = createEncoder(type, 1);
  const a = encoder.encode({ text: 'first' });
  const b = encoder.encode({ text: 'second, longer' });
  expect(type.fromBuffer(readWireHeader(a).body)).toEqual({ text: 'first' });
  expect(type.fromBuffer(readWireHeader(b).body)).toEqual({ text: 'second, longer' });
});
