import { endOffsets } from '../../src/kafka/admin';
import { readTopic } from '../../src/kafka/reader';
import { DLQ_HEADERS, HEADER_COMMAND } from '../../src/record-headers';
import { deleteTopics } from '../../src/kafka/admin';
import { postCallback, startTestBridge, uniqueTopic, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';

/** Authentic callbacks that fail validation go raw to the DLQ with the reason; nothing else does. */
let bridge: TestBridge;
const fixture = loadFixtures().find((f) => f.name === 'location-face.json')!;

const groupTopic = uniqueTopic('dlq-group');

beforeAll(async () => {
  bridge = await startTestBridge('dlq', {
    BODY_LIMIT_BYTES: '4096',
    COMMAND_ROUTES: `*=off,C2C.CallbackAfterSendMsg=on,Group.CallbackAfterSendMsg=${groupTopic}`,
  });
});
afterAll(async () => {
  await bridge?.dispose();
  if (bridge) await deleteTopics(bridge.kafka, [groupTopic]).catch(() => undefined);
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
  // a C2C body under the group command: authentic, known, but not a group message (no GroupId)
  const notGroup = await postCallback(bridge.callbackUrl, fixture.text, {
    query: { CallbackCommand: 'Group.CallbackAfterSendMsg' },
  });
  expect(notGroup.status).toBe(400);
  expect(((await notGroup.json()) as { ErrorInfo: string }).ErrorInfo).toBe('GroupId is required');

  const [first, second, ...rest] = await readTopic(bridge.kafka, bridge.dlqTopic, { atLeast: 2 });
  expect(rest).toHaveLength(0);
  const records = [first!, second!].sort((a, b) => a.timestamp - b.timestamp);
  const bad = records.find((r) => r.headers[HEADER_COMMAND] === 'C2C.CallbackAfterSendMsg')!;
  expect(bad.value!.toString('utf8')).toBe(raw);
  expect(bad.key!.toString('utf8')).toBe('carol');
  expect(bad.headers[DLQ_HEADERS.field]).toBe('MsgBody[0].MsgContent.Latitude');
  expect(bad.headers[DLQ_HEADERS.error]).toBe('MsgBody[0].MsgContent.Latitude must be a number');
  expect(bad.headers[DLQ_HEADERS.query]).toContain('OptPlatform=Android');
  expect(Number(bad.headers[DLQ_HEADERS.receivedAt])).toBeGreaterThan(Date.now() - 60000);
  expect(bad.headers[DLQ_HEADERS.reason]).toBe('invalid');

  // the command is a header of every dead letter (one DLQ for every command)
  const group = records.find((r) => r.headers[HEADER_COMMAND] === 'Group.CallbackAfterSendMsg')!;
  expect(group.value!.toString('utf8')).toBe(fixture.text);
  expect(group.headers[DLQ_HEADERS.reason]).toBe('invalid');
  expect(group.headers[DLQ_HEADERS.field]).toBe('GroupId');
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
