import { canonicalJson, loadFixtures } from '../../test/support/fixtures';
import { avroType } from '../kafka/codec';
import type { AfterSendMsgCallback, Envelope } from './callback';
import { parseJsonBody } from './parse';
import { createRecordMapper } from './record';
import { model, schema } from './test-model';

const mapper = createRecordMapper(model);
const type = avroType(schema);
const envelope: Envelope = {
  SdkAppid: '1400000001',
  OptPlatform: 'iOS',
  ClientIP: '203.0.113.7',
  ReceivedAt: 1764115206789,
};

/** callback -> record -> Avro bytes -> record -> callback */
function roundTrip(callback: Record<string, unknown>, env: Envelope = envelope) {
  const bytes = type.toBuffer(mapper.toRecord(callback as AfterSendMsgCallback, env));
  return mapper.fromRecord(type.fromBuffer(bytes) as Record<string, unknown>);
}

describe('callback <-> Avro record', () => {
  test.each(loadFixtures().map((f) => [f.name, f.text]))(
    'decode(encode(%s)) gives back the callback byte for byte',
    (_name, text) => {
      const back = roundTrip(JSON.parse(text));
      expect(canonicalJson(back.callback)).toBe(canonicalJson(JSON.parse(text)));
      expect(back.envelope).toEqual(envelope);
    },
  );

  test('keeps unknown elements, unknown fields at every level and odd undocumented values', () => {
    const c = JSON.parse(loadFixtures().find((f) => f.name === 'relay.json')!.text);
    c.MsgBody.push({
      MsgType: 'TIMStreamElem',
      MsgContent: { A: [1, { b: null }], C: 'ü' },
      Hint: 1,
    });
    c.MsgBody.push({ MsgType: 'UnknownElem', MsgContent: 'not an object' });
    c.MsgBody[0].MsgContent.Extra = { deep: [true] };
    c.MsgBody[0].MsgContent.MsgList[0].Future = 1;
    c.MsgBody[0].MsgContent.MsgList[0].MsgBody[0].MsgContent.Lang = 'en';
    Object.assign(c, { MsgId: 17, EventTime: { at: 1 }, SupportMessageExtension: 1, Added: null });
    const back = roundTrip(c, { ...envelope, OptPlatform: null, ClientIP: null });
    expect(canonicalJson(back.callback)).toBe(canonicalJson(c));
    expect(back.envelope.OptPlatform).toBeNull();
  });

  test('gives back big numbers in _extra and unknown elements digit for digit', () => {
    const text = loadFixtures().find((f) => f.name === 'text.json')!.text;
    const big = text.replace(
      /^\{/,
      '{"Big":18446744073709551616,"Huge":1e400,"Nested":{"n":-9007199254740993},',
    );
    const c = parseJsonBody(Buffer.from(big)) as Record<string, unknown> & { MsgBody: unknown[] };
    c.MsgBody.push(
      parseJsonBody(Buffer.from('{"MsgType":"TIMFutureElem","MsgContent":12345678901234567890}')),
    );
    const back = JSON.stringify(roundTrip(c).callback);
    expect(back).toContain('"Big":18446744073709551616');
    expect(back).toContain('"Huge":1e400');
    expect(back).toContain('"n":-9007199254740993');
    expect(back).toContain('"MsgContent":12345678901234567890');
  });

  test('puts documented fields in typed slots and unknown ones in _extra', () => {
    const c = JSON.parse(loadFixtures().find((f) => f.name === 'unicode-extra-fields.json')!.text);
    const record = mapper.toRecord({ ...c, Added: [1] }, envelope);
    expect(record.EventTime).toBe('1764115205123');
    expect(record.MsgId).toBe(c.MsgId);
    expect(record.SupportMessageExtension).toBe(0);
    expect(record._extra).toEqual({ Added: '[1]' });
    const element = (record.MsgBody as Record<string, unknown>[])[0]!;
    expect(Object.keys(element.MsgContent as object)).toEqual(['tim.c2c.TIMTextElem']);
  });
});
