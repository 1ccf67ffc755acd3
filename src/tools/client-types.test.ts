import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOGUE } from '../catalogue/catalogue';
import { schemasDir } from '../schemas';
import { CLIENT_TYPES_FILE, generateClientTypes } from './client-types';

const ROOT = join(schemasDir(), '..');

test('the client package types equal what schemas/ and the catalogue generate (npm run client:types)', () => {
  const onDisk = readFileSync(join(ROOT, CLIENT_TYPES_FILE), 'utf8');
  expect(generateClientTypes()).toBe(onDisk);
});

test('every typed command has its callback type, every other catalogued command is generic', () => {
  const text = generateClientTypes();
  for (const e of CATALOGUE)
    expect([e.command, text.includes(`'${e.command}'`)]).toEqual([e.command, true]);
  // fields the schema does not name come back beside the named ones; envelope fields do not
  expect(text).toMatch(/export interface C2cCallbackAfterSendMsg \{[^}]*To_Account: string;/);
  expect(text).not.toMatch(/export interface C2cCallbackAfterSendMsg \{[^}]*SdkAppid/);
  expect(text).toMatch(
    /export interface C2cCallbackAfterSendMsg \{[^}]*CloudCustomData\?: string;/,
  );
});
