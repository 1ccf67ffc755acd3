import { endOffsets } from '../../src/kafka/admin';
import { readTopic } from '../../src/kafka/reader';
import { DLQ_HEADERS, HEADER_COMMAND } from '../../src/record-headers';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';

/** Authentic callbacks that fail validation go raw to the DLQ with the reason; nothing else does. */
let bridge: TestBridge;
const fixture = loadFixtures().find((f) => f.name === 'location-face.json')!;

beforeAll(async () => {
  bridge = await startTestBridge('dlq', { BODY_LIMIT_BYTES: '4096' });
});
afterAll(async () => {
  await bridge?.dispose();
});

test('an invalid callback is kept raw in the DLQ, with the reason and field, and the reply names it', async () => {
  // the bytes exactly as sent: odd spacing and key order must survive
  const raw = fixture.text.replace('"Latitude":22.504356', '"Latitude" :  "north"');
  const res = await postCallback(bridge.callbackUrl, raw, { query: { OptPlatform: 'Android' } });
  expect(res.status).toBe(400);
  expect(await res.json()).toEqual({
    ActionStatus: 'FAIL',
    ErrorInfo: 'MsgBody[0].MsgContent.Latitude must be a number',
    ErrorCode: 1,
  });
  const unsupported = await postCallback(bridge.callbackUrl, fixture.text, {
    query: { CallbackCommand: 'Group.CallbackAfterSendMsg' },
  });
  expect(unsupported.status).toBe(400);

  const [first, second, ...rest] = await readTopic(bridge.kafka, bridge.dlqTopic, { atLeast: 2 });
  expect(rest).toHaveLength(0);
  const records = [first!, second!].sort((a, b) => a.timestamp - b.timestamp);
  const bad = records.find((r) => r.headers[DLQ_HEADERS.reason] === 'invalid')!;
  expect(bad.value!.toString('utf8')).toBe(raw);
  expect(bad.key!.toString('utf8')).toBe('carol');
  expect(bad.headers[DLQ_HEADERS.field]).toBe('MsgBody[0].MsgContent.Latitude');
  expect(bad.headers[DLQ_HEADERS.error]).toBe('MsgBody[0].MsgContent.Latitude must be a number');
  expect(bad.headers[DLQ_HEADERS.query]).toContain('OptPlatform=Android');
  expect(Number(bad.headers[DLQ_HEADERS.receivedAt])).toBeGreaterThan(Date.now() - 60000);
  expect(bad.headers[HEADER_COMMAND]).toBeUndefined();

  const group = records.find((r) => r.headers[DLQ_HEADERS.reason] === 'unsupported_command')!;
  expect(group.value!.toString('utf8')).toBe(fixture.text);
  expect(group.headers[DLQ_HEADERS.query]).toContain('CallbackCommand=Group.CallbackAfterSendMsg');
});

test('bodies that are not JSON or too large are refused and stored nowhere', async () => {
  const before = await endOffsets(bridge.kafka, bridge.dlqTopic);
  expect((await postCallback(bridge.callbackUrl, '{"To_Account": "x",')).status).toBe(400);
  expect((await postCallback(bridge.callbackUrl, Buffer.from([0xff, 0xfe]))).status).toBe(400);
  expect((await postCallback(bridge.callbackUrl, 'x'.repeat(5000))).status).toBe(413);
  expect(await endOffsets(bridge.kafka, bridge.dlqTopic)).toEqual(before);
  const main = await endOffsets(bridge.kafka, bridge.topic);
  expect([...main.values()].every((end) => end === 0n)).toBe(true);
  const metrics = await (await fetch(`${bridge.adminUrl}/metrics`)).text();
  expect(metrics).toMatch(/tim_bridge_callbacks_accepted_total\{outcome="dlq"\} 2/);
});
