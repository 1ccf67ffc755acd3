import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { avroType, createEncoder } from '../kafka/codec';
import { loadSchema } from '../schemas';
import { catalogueEntry } from './catalogue';
import { typedBuilder } from './records';

/**
 * `c2c.after-send-msg` is unchanged by the catalogue: test/fixtures/golden/c2c-records.json holds
 * the record values (schema id 7, a fixed envelope) that the release before the catalogue wrote
 * for every C2C fixture, produced by that release's own code; the catalogue's C2C entry must write
 * the same bytes.
 */
const root = join(__dirname, '..', '..', 'test', 'fixtures');
const golden = JSON.parse(readFileSync(join(root, 'golden', 'c2c-records.json'), 'utf8')) as Record<
  string,
  string
>;
const envelope = {
  SdkAppid: '1400000001',
  OptPlatform: 'iOS',
  ClientIP: '203.0.113.7',
  ReceivedAt: 1764000000123,
};

test.each(Object.entries(golden))('%s: the same bytes as before the catalogue', (file, hex) => {
  const entry = catalogueEntry('C2C.CallbackAfterSendMsg')!;
  const schema = loadSchema(entry.schema);
  const build = typedBuilder(entry, schema);
  const encoder = createEncoder(avroType(schema), 7);
  const [dir, name] = file.split('/') as [string, string];
  const path =
    dir === 'callbacks'
      ? join(root, 'callbacks', name)
      : join(root, 'commands', 'C2C.CallbackAfterSendMsg', name);
  const text = readFileSync(path, 'utf8');
  const [record] = build({
    json: JSON.parse(text),
    body: Buffer.from(text),
    command: 'C2C.CallbackAfterSendMsg',
    envelope,
  });
  expect(encoder.encode(record!.value).toString('hex')).toBe(hex);
  expect(record!.key).toBe((JSON.parse(text) as { To_Account: string }).To_Account);
});
