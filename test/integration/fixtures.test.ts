import { readTopic, type ConsumedRecord } from '../../src/kafka/reader';
import { Registry } from '../../src/kafka/registry';
import { HEADER_COMMAND, HEADER_SDKAPPID } from '../../src/record-headers';
import { loadSchema } from '../../src/schemas';
import { createRecordMapper } from '../../src/tencent/record';
import { OK_REPLY } from '../../src/tencent/reply';
import { buildSchemaModel } from '../../src/tencent/schema-model';
import { avroType } from '../../src/kafka/codec';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { QUERY, canonicalJson, loadFixtures } from '../support/fixtures';
import { javaPartitions } from '../support/java';
import { fastavroDecode } from '../support/python';
import { SCHEMA_REGISTRY_URL } from '../support/stack';

const fixtures = loadFixtures();
const schema = loadSchema();
const mapper = createRecordMapper(buildSchemaModel(schema));
// Tencent declares JSON in the query (contenttype=json), whatever its Content-Type header says
const contentTypes = ['application/json', 'text/plain', 'application/x-www-form-urlencoded', ''];

let bridge: TestBridge;
let records: ConsumedRecord[];
const byMsgKey = (key: string): ConsumedRecord => {
  const found = records.find((r) => mapKeyOf(r) === key);
  if (!found) throw new Error(`no record for MsgKey ${key}`);
  return found;
};
const msgKeys = new Map<ConsumedRecord, string>();
const mapKeyOf = (r: ConsumedRecord): string | undefined => msgKeys.get(r);

beforeAll(async () => {
  bridge = await startTestBridge('fixtures');
  for (const [i, f] of fixtures.entries()) {
    const res = await postCallback(bridge.callbackUrl, f.text, {
      headers: { 'Content-Type': contentTypes[i % contentTypes.length] as string },
    });
    expect(await res.text()).toBe(OK_REPLY);
    expect(res.status).toBe(200);
  }
  records = await readTopic(bridge.kafka, bridge.topic, { atLeast: fixtures.length });
  const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
  for (const r of records) {
    const { record } = await registry.decode(r.value as Buffer, avroType(schema));
    msgKeys.set(r, (record as { MsgKey: string }).MsgKey);
  }
});

afterAll(async () => {
  await bridge?.dispose();
});

test('every fixture is in the topic exactly once', () => {
  expect(records).toHaveLength(fixtures.length);
  expect([...msgKeys.values()].sort()).toEqual(fixtures.map((f) => f.json.MsgKey as string).sort());
});

test("records are keyed by To_Account, on the partition Java's murmur2 picks, with headers", () => {
  const partitions = javaPartitions(
    6,
    fixtures.map((f) => f.json.To_Account as string),
  );
  for (const f of fixtures) {
    const r = byMsgKey(f.json.MsgKey as string);
    expect(r.key?.toString('utf8')).toBe(f.json.To_Account);
    expect(r.partition).toBe(partitions.get(f.json.To_Account as string));
    expect(r.headers).toEqual({
      [HEADER_COMMAND]: QUERY.CallbackCommand,
      [HEADER_SDKAPPID]: QUERY.SdkAppid,
    });
  }
});

test('each record decodes through the registry (by the id in it) back to the exact callback', async () => {
  const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
  for (const f of fixtures) {
    const r = byMsgKey(f.json.MsgKey as string);
    expect(r.value?.readUInt32BE(1)).toBe(bridge.schemaId);
    const { schemaId, record } = await registry.decode(r.value as Buffer);
    expect(schemaId).toBe(bridge.schemaId);
    const { callback, envelope } = mapper.fromRecord(record as Record<string, unknown>);
    expect(canonicalJson(callback)).toBe(canonicalJson(JSON.parse(f.text)));
    expect(envelope).toMatchObject({
      SdkAppid: QUERY.SdkAppid,
      OptPlatform: 'iOS',
      ClientIP: QUERY.ClientIP,
    });
    expect(Math.abs(envelope.ReceivedAt - Date.now())).toBeLessThan(120000);
  }
});

/** fastavro's view of a value, turned into callback JSON by rules written here, not the bridge's. */
function fromFastavro(v: unknown): unknown {
  if (Array.isArray(v)) {
    // a union of records: [name, value]
    if (v.length === 2 && typeof v[0] === 'string' && v[0].startsWith('tim.c2c.')) {
      const [name, inner] = v as [string, Record<string, unknown>];
      if (name === 'tim.c2c.UnknownElem') return JSON.parse(inner.Json as string);
      return fromFastavro(inner);
    }
    return v.map(fromFastavro);
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === null) continue;
      if (k === '_extra')
        Object.assign(
          out,
          Object.fromEntries(Object.entries(x).map(([a, b]) => [a, JSON.parse(b as string)])),
        );
      else out[k] = fromFastavro(x);
    }
    return out;
  }
  return v;
}

test('an independent Avro decoder (Python fastavro) reads every record with the registry schema', () => {
  const ordered = fixtures.map((f) => byMsgKey(f.json.MsgKey as string));
  const decoded = fastavroDecode(
    SCHEMA_REGISTRY_URL,
    ordered.map((r) => r.value as Buffer),
  ) as {
    schemaId: number;
    record: Record<string, unknown>;
  }[];
  for (const [i, f] of fixtures.entries()) {
    const { schemaId, record } = decoded[i]!;
    expect(schemaId).toBe(bridge.schemaId);
    const { SdkAppid, OptPlatform, ClientIP, ReceivedAt, ...body } = fromFastavro(record) as Record<
      string,
      unknown
    >;
    expect({ SdkAppid, OptPlatform, ClientIP }).toEqual({
      SdkAppid: QUERY.SdkAppid,
      OptPlatform: 'iOS',
      ClientIP: QUERY.ClientIP,
    });
    expect(typeof ReceivedAt).toBe('number');
    expect(canonicalJson(body)).toBe(canonicalJson(JSON.parse(f.text)));
  }
});

test('the subject exists in the registry with compatibility BACKWARD', async () => {
  const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
  const subject = `${bridge.topic}-value`;
  expect(await registry.compatibility(subject)).toBe('BACKWARD');
  expect(await registry.latestId(subject)).toBe(bridge.schemaId);
});
