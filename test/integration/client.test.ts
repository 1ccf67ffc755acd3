import { randomBytes } from 'node:crypto';
import { CATALOGUE, defaultTopic } from '../../src/catalogue/catalogue';
import {
  Decoder,
  catalogue,
  createDedupe,
  msgKeyOf,
  topicOf as clientTopicOf,
  type DecodedRecord,
} from '../../src/client';
import { deleteTopics } from '../../src/kafka/admin';
import { avroType, createEncoder } from '../../src/kafka/codec';
import { readSettled, type ConsumedRecord } from '../../src/kafka/reader';
import { Registry } from '../../src/kafka/registry';
import { loadSchema, type AvroSchemaJson } from '../../src/schemas';
import { parseJsonExact } from '../../src/tencent/parse';
import { createRecordMapper } from '../../src/tencent/record';
import { buildSchemaModel } from '../../src/tencent/schema-model';
import { postCallback, spooledRecords, startTestBridge, type TestBridge } from '../support/bridge';
import { canonicalJson, loadCommandFixtures, type CommandFixture } from '../support/fixtures';
import { SCHEMA_REGISTRY_URL } from '../support/stack';

/**
 * The client package's decoder (src/client, what `tim-kafka-bridge-client` ships) against the real
 * bridge and registry: every fixture of every command comes back exactly as sent, discriminated by
 * its command, typed or generic as the catalogue says; records written with an older or a newer
 * compatible schema decode too (resolved to the package's schema).
 */

const fixtures = loadCommandFixtures();
const run = `cli${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const topicOf = (command: string): string => `test.${run}.${defaultTopic(command)}`;
const OTHER = `test.${run}.tim.other-callbacks`;
const UNKNOWN = {
  command: 'Group.CallbackAfterSomethingNew',
  text: '{"CallbackCommand":"Group.CallbackAfterSomethingNew","GroupId":"@TGS#new","Big":12345678901234567890}',
};
const topics = [...new Set(CATALOGUE.map((e) => topicOf(e.command))), OTHER];

let bridge: TestBridge;
let records: ConsumedRecord[];
let decoded: DecodedRecord[];
const decoder = new Decoder({ url: SCHEMA_REGISTRY_URL });

/** A fixture's events: the body, or each element of a batch's Events (exact parse). */
function events(f: CommandFixture): unknown[] {
  const json = parseJsonExact(f.text) as Record<string, unknown>;
  return f.command.startsWith('Push.') ? (json.Events as unknown[]) : [json];
}

beforeAll(async () => {
  const routes = CATALOGUE.filter((e) => e.command !== 'C2C.CallbackAfterSendMsg').map(
    (e) => `${e.command}=${topicOf(e.command)}`,
  );
  bridge = await startTestBridge('client', {
    KAFKA_TOPIC: topicOf('C2C.CallbackAfterSendMsg'),
    COMMAND_ROUTES: ['*=on', ...routes].join(','),
    KAFKA_OTHER_CALLBACKS_TOPIC: OTHER,
  });
  for (const f of fixtures) {
    const res = await postCallback(bridge.callbackUrl, f.text, { query: f.query });
    expect([f.name, res.status]).toEqual([f.name, 200]);
  }
  const res = await postCallback(bridge.callbackUrl, UNKNOWN.text, {
    query: { CallbackCommand: UNKNOWN.command },
  });
  expect(res.status).toBe(200);
  const expected = fixtures.reduce((n, f) => n + events(f).length, 0) + 1;
  records = await readSettled(bridge.kafka, topics, expected, { timeoutMs: 90000 });
  decoded = await Promise.all(records.map((r) => decoder.decode(r)));
}, 180000);

afterAll(async () => {
  if (!bridge) return;
  await bridge.dispose();
  await deleteTopics(bridge.kafka, topics).catch(() => undefined);
});

test('every event of every fixture decodes to the exact JSON sent, under its own command', async () => {
  const problems: string[] = [];
  const used = new Set<number>();
  for (const f of fixtures) {
    const entry = catalogue.find((e) => e.command === f.command)!;
    for (const event of events(f)) {
      const want = canonicalJson(event);
      const i = decoded.findIndex(
        (d, k) =>
          !used.has(k) &&
          records[k]!.topic === topicOf(f.command) &&
          canonicalJson(d.callback) === want,
      );
      if (i < 0) {
        problems.push(`${f.command}/${f.name}: no record gives back ${want.slice(0, 80)}`);
        continue;
      }
      used.add(i);
      const d = decoded[i]!;
      const schema = entry.schema === 'callback.avsc' ? 'generic' : 'typed';
      if (d.command !== f.command || d.schema !== schema)
        problems.push(`${f.command}/${f.name}: decoded as ${d.command} (${d.schema})`);
      if (d.envelope.SdkAppid !== f.query.SdkAppid)
        problems.push(`${f.command}/${f.name}: envelope ${JSON.stringify(d.envelope)}`);
    }
  }
  expect(problems).toEqual([]);
  // one record per event, and a second copy only of what the bridge spooled (at least once)
  const extra = decoded.length - (used.size + 1);
  expect(extra).toBeGreaterThanOrEqual(0);
  expect(extra).toBeLessThanOrEqual(await spooledRecords(bridge));
});

test('a command the catalogue does not know is `other`, naming it, its body exact', () => {
  const other = decoded.filter((d) => d.command === 'other');
  expect(other).toHaveLength(1);
  const d = other[0]!;
  if (d.command !== 'other') throw new Error('unreachable');
  expect(d.callbackCommand).toBe(UNKNOWN.command);
  expect(canonicalJson(d.callback)).toBe(canonicalJson(parseJsonExact(UNKNOWN.text)));
  expect(JSON.stringify(d.callback)).toContain('12345678901234567890');
});

test('the union narrows by command: a C2C message has its typed fields, a batch its place', () => {
  const c2c = decoded.find((d) => d.command === 'C2C.CallbackAfterSendMsg');
  if (c2c?.command !== 'C2C.CallbackAfterSendMsg') throw new Error('no C2C record');
  expect(typeof c2c.callback.To_Account).toBe('string');
  expect(Array.isArray(c2c.callback.MsgBody)).toBe(true);
  const push = decoded.find((d) => d.command === 'Push.OfflinePush');
  if (push?.command !== 'Push.OfflinePush') throw new Error('no Push record');
  expect(push.batch).toEqual({
    Index: expect.any(Number),
    Size: expect.any(Number),
    Rest: expect.any(String),
  });
});

test('the catalogue names each command’s default topic, key and schema, as the bridge routes them', () => {
  expect(catalogue).toHaveLength(CATALOGUE.length);
  expect(clientTopicOf('C2C.CallbackAfterSendMsg')).toBe('c2c.after-send-msg');
  expect(clientTopicOf('Group.CallbackAfterSendMsg')).toBe('group.after-send-msg');
  expect(clientTopicOf('No.SuchCommand')).toBe('tim.other-callbacks');
  for (const e of catalogue) expect(e.topic).toBe(defaultTopic(e.command));
});

test('dedupe by MsgKey: a second copy of a message is dropped, records without MsgKey pass', () => {
  const c2c = decoded.find((d) => d.command === 'C2C.CallbackAfterSendMsg')!;
  const withoutKey = decoded.find((d) => msgKeyOf(d) === undefined)!;
  const first = createDedupe(10);
  expect([first(c2c), first(c2c), first(withoutKey), first(withoutKey)]).toEqual([
    true,
    false,
    true,
    true,
  ]);
});

describe('schema evolution: records written with another compatible version decode to the package’s', () => {
  const c2c = loadSchema('c2c-after-send-msg.avsc') as {
    type: string;
    fields: { name: string }[];
    [k: string]: unknown;
  };
  const fixture = fixtures.find((f) => f.command === 'C2C.CallbackAfterSendMsg')!;
  const callback = parseJsonExact(fixture.text) as Record<string, unknown>;
  const envelope = { SdkAppid: '1400000001', OptPlatform: 'iOS', ClientIP: null, ReceivedAt: 1 };

  async function writeWith(
    schema: AvroSchemaJson,
    record: Record<string, unknown>,
  ): Promise<Buffer> {
    const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
    const id = await registry.register(
      `test.${run}.evolution-${randomBytes(3).toString('hex')}-value`,
      schema,
      'NONE',
    );
    return createEncoder(avroType(schema), id).encode(record);
  }

  test('an older version (without an optional field)', async () => {
    const older = { ...c2c, fields: c2c.fields.filter((f) => f.name !== 'CloudCustomData') };
    const record = createRecordMapper(buildSchemaModel(c2c)).toRecord(callback as never, envelope);
    delete (record as Record<string, unknown>).CloudCustomData;
    const d = await decoder.decode({ value: await writeWith(older, record) });
    if (d.command !== 'C2C.CallbackAfterSendMsg') throw new Error(`decoded as ${d.command}`);
    const rest = { ...callback };
    delete rest.CloudCustomData;
    expect(canonicalJson(d.callback)).toBe(canonicalJson(rest));
  });

  test('a newer version (with a field the package does not know yet)', async () => {
    const newer = {
      ...c2c,
      fields: [
        ...c2c.fields,
        { name: 'Priority', type: ['null', 'string'], default: null } as { name: string },
      ],
    };
    const record = {
      ...createRecordMapper(buildSchemaModel(c2c)).toRecord(callback as never, envelope),
      Priority: 'high',
    };
    const d = await decoder.decode({ value: await writeWith(newer, record) });
    if (d.command !== 'C2C.CallbackAfterSendMsg') throw new Error(`decoded as ${d.command}`);
    expect(canonicalJson(d.callback)).toBe(canonicalJson(callback));
  });
});
