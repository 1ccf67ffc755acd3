import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DLQ_CONSUMER_HEADERS } from '../../src/consumers/runner';
import { avroType, createEncoder } from '../../src/kafka/codec';
import { readTopic } from '../../src/kafka/reader';
import { Registry } from '../../src/kafka/registry';
import { loadSchema } from '../../src/schemas';
import { createRecordMapper } from '../../src/tencent/record';
import { buildSchemaModel } from '../../src/tencent/schema-model';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import {
  deleteTopics,
  inputsOf,
  produceRaw,
  readDecoded,
  startTestConsumer,
  type TestConsumer,
} from '../support/consumers';
import { loadFixtures } from '../support/fixtures';
import { SCHEMA_REGISTRY_URL } from '../support/stack';
import { TcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait';

/**
 * Records a consumer meets that the bridge would not write, and a registry that goes away while it
 * consumes (issue 18 §3.6), on the moderation consumer: a record without a value and one with a
 * valid schema id but a body that does not decode are dead-lettered raw, with the reason and where
 * they came from, and the records after them are processed; a record whose (new) schema id cannot
 * be fetched because the registry is away is no poison: it waits, and is processed once the
 * registry is back.
 */

const RULES = 'rules:\n  - id: casino\n    kind: word\n    action: flag\n    words: [casino]\n';
const registryPort = Number(new URL(SCHEMA_REGISTRY_URL).port);
const text = JSON.parse(
  loadFixtures().find((f) => f.name === 'text.json')?.text as string,
) as Record<string, unknown>;
const message = (msgKey: string): Record<string, unknown> => ({
  ...text,
  MsgKey: msgKey,
  MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: `best casino ${msgKey}` } }],
});

let bridge: TestBridge;
let consumer: TestConsumer;
let proxy: TcpProxy;

beforeAll(async () => {
  bridge = await startTestBridge('bad-records');
  proxy = await TcpProxy.create(registryPort);
  const dir = mkdtempSync(join(tmpdir(), 'tim-rules-'));
  writeFileSync(join(dir, 'rules.yaml'), RULES);
  consumer = await startTestConsumer('moderation', bridge.topic, {
    MODERATION_RULES_FILE: join(dir, 'rules.yaml'),
    SCHEMA_REGISTRY_URL: `http://127.0.0.1:${proxy.port}${new URL(SCHEMA_REGISTRY_URL).pathname}`,
  });
}, 120000);

afterAll(async () => {
  await consumer?.dispose();
  await proxy?.close();
  if (bridge) {
    await deleteTopics(bridge.kafka, [
      consumer.env.MODERATION_VERDICTS_TOPIC as string,
      consumer.env.CONSUMER_DLQ_TOPIC as string,
    ]).catch(() => undefined);
    await bridge.dispose();
  }
});

test('no value, and a valid schema id with a body that does not decode: dead-lettered; the next record processed', async () => {
  const id = bridge.schemaId as number;
  const corrupt = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), Buffer.from([0xff, 0xff, 0xff])]);
  corrupt.writeUInt32BE(id, 1);
  // a null value, which the bridge's publisher cannot even write: through a plain producer
  const producer = bridge.kafka.producer();
  await producer.connect();
  await producer.send({
    topic: bridge.topic,
    acks: -1,
    messages: [
      { key: 'Jonh', value: null },
      { key: 'Jonh', value: corrupt },
    ],
  });
  await producer.disconnect();
  const res = await postCallback(bridge.callbackUrl, JSON.stringify(message('after-the-bad')));
  expect(res.status).toBe(200);

  const verdicts = await readDecoded<{ MsgKey: string }>(
    bridge.kafka,
    consumer.env.MODERATION_VERDICTS_TOPIC as string,
    1,
    { consumedBy: inputsOf(consumer.env) },
  );
  expect(verdicts.map((v) => v.value.MsgKey)).toEqual(['after-the-bad']);
  const dead = await readTopic(bridge.kafka, consumer.env.CONSUMER_DLQ_TOPIC as string);
  expect(
    dead.map((d) => ({
      value: d.value === null ? null : d.value.toString('hex'),
      reason: d.headers[DLQ_CONSUMER_HEADERS.reason],
      topic: d.headers[DLQ_CONSUMER_HEADERS.topic],
    })),
  ).toEqual([
    // a record without a value is kept as an empty one (the dead-letter topic's records have values)
    { value: '', reason: 'undecodable', topic: bridge.topic },
    { value: corrupt.toString('hex'), reason: 'undecodable', topic: bridge.topic },
  ]);
  expect(consumer.fatal).toEqual([]);
}, 120000);

test('a new schema id while the registry is away: no dead letter; processed once it is back', async () => {
  // a newer compatible version of the C2C schema, registered now: an id the consumer has not seen
  const schema = loadSchema() as unknown as { fields: unknown[] } & Record<string, unknown>;
  const newer = {
    ...schema,
    fields: [...schema.fields, { name: 'Priority', type: ['null', 'string'], default: null }],
  };
  const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
  const id = await registry.register(`${bridge.topic}-value`, newer as never, 'BACKWARD');
  expect(id).not.toBe(bridge.schemaId);
  const envelope = { SdkAppid: '1400000001', OptPlatform: 'iOS', ClientIP: null, ReceivedAt: 1 };
  const record = {
    ...createRecordMapper(buildSchemaModel(schema as never)).toRecord(
      message('while-away') as never,
      envelope,
    ),
    Priority: 'high',
  };
  const value = createEncoder(avroType(newer as never), id).encode(record);

  proxy.drop(true); // the registry goes away: each connection to it is cut at once
  await produceRaw(bridge.kafka, [{ topic: bridge.topic, key: 'Jonh', value, headers: {} }]);
  // the consumer tries to fetch the new schema, more than once (it retries, it is not poison)
  await waitFor('the consumer to try the registry again', () => proxy.dropped >= 2, 60000);
  proxy.drop(false);

  const verdicts = await readDecoded<{ MsgKey: string }>(
    bridge.kafka,
    consumer.env.MODERATION_VERDICTS_TOPIC as string,
    2,
    { consumedBy: inputsOf(consumer.env), timeoutMs: 90000 },
  );
  expect(verdicts.map((v) => v.value.MsgKey)).toEqual(['after-the-bad', 'while-away']);
  const dead = await readTopic(bridge.kafka, consumer.env.CONSUMER_DLQ_TOPIC as string);
  expect(dead).toHaveLength(2); // the two of the first test, nothing more
  expect(consumer.fatal).toEqual([]);
}, 180000);
