import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DLQ_CONSUMER_HEADERS } from '../../src/consumers/runner';
import { readSettled } from '../../src/kafka/reader';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import {
  deleteTopics,
  inputsOf,
  produceRaw,
  readDecoded,
  startTestConsumer,
} from '../support/consumers';
import type { TestConsumer } from '../support/consumers';
import { startFakeTencent, type FakeTencent } from '../support/fake-tencent';
import { loadFixtures } from '../support/fixtures';
import { sampleValue, scrape, waitFor } from '../support/wait';

/**
 * The moderation consumer end to end: callbacks POSTed to the real bridge, consumed from the real
 * Kafka, verdicts published as Avro and read back through the registry; recalls go to a local
 * stand-in for Tencent's REST API (the one part we cannot run here).
 */

const SDKAPPID = 1400000001;
const ADMIN = 'administrator';
const SECRET = 'test-secret-key-0123456789abcdef';

const RULES = `
rules:
  - id: lunch-recall
    kind: word
    action: recall
    category: test
    words: [lunch]
  - id: followers-recall
    kind: word
    action: recall
    words: [cheap followers]
  - id: order-flag
    kind: regex
    action: flag
    pattern: 'order\\s+update'
`;

interface Verdict {
  MsgKey: string;
  From_Account: string;
  RuleId: string;
  Action: string;
  Outcome: string;
  Parts: string[];
  RecallErrorCode: number | null;
}

const fixture = (name: string): Record<string, unknown> => {
  const f = loadFixtures().find((x) => x.name === `${name}.json`);
  if (!f) throw new Error(`no fixture ${name}`);
  return JSON.parse(f.text) as Record<string, unknown>;
};

describe('moderation consumer', () => {
  let bridge: TestBridge;
  let consumer: TestConsumer;
  let tencent: FakeTencent;

  beforeAll(async () => {
    bridge = await startTestBridge('moderation');
    tencent = await startFakeTencent({
      sdkAppId: SDKAPPID,
      adminIdentifier: ADMIN,
      secretKey: SECRET,
    });
    const dir = mkdtempSync(join(tmpdir(), 'tim-rules-'));
    writeFileSync(join(dir, 'rules.yaml'), RULES);
    consumer = await startTestConsumer('moderation', bridge.topic, {
      MODERATION_RULES_FILE: join(dir, 'rules.yaml'),
      MODERATION_RECALL_ENABLED: 'true',
      TENCENT_SDKAPPID: String(SDKAPPID),
      TENCENT_ADMIN_IDENTIFIER: ADMIN,
      TENCENT_SECRET_KEY: SECRET,
      TENCENT_API_URL: tencent.baseUrl,
      RECALL_RATE_PER_SECOND: '50',
    });
  });

  afterAll(async () => {
    await consumer?.dispose();
    await tencent?.close();
    if (bridge) {
      await deleteTopics(bridge.kafka, [
        consumer.env.MODERATION_VERDICTS_TOPIC as string,
        consumer.env.CONSUMER_DLQ_TOPIC as string,
      ]).catch(() => undefined);
      await bridge.dispose();
    }
  });

  it('publishes a verdict per matching rule, recalls once with retries, never recalls a failed send, and survives a poison record', async () => {
    const relay = fixture('relay');
    const failed = fixture('failed-send');
    const custom = fixture('custom');
    const text = fixture('text');
    tencent.script(relay.MsgKey as string, [91000, 0]);

    for (const body of [relay, failed, custom, custom, text]) {
      const res = await postCallback(bridge.callbackUrl, JSON.stringify(body));
      expect(res.status).toBe(200);
    }
    // a value that is not a record of ours, on the same partition as the next callback
    const custom2 = { ...custom, MsgKey: 'after-the-poison' };
    await produceRaw(bridge.kafka, [
      {
        topic: bridge.topic,
        key: custom.To_Account as string,
        value: Buffer.from('not avro'),
        headers: {},
      },
    ]);
    expect((await postCallback(bridge.callbackUrl, JSON.stringify(custom2))).status).toBe(200);

    const verdicts = (
      await readDecoded<Verdict>(
        bridge.kafka,
        consumer.env.MODERATION_VERDICTS_TOPIC as string,
        4,
        { consumedBy: inputsOf(consumer.env) },
      )
    ).map(({ record, value }) => ({ key: record.key?.toString(), ...value }));

    const byKey = (k: string) => verdicts.filter((v) => v.MsgKey === k);
    expect(verdicts).toHaveLength(4); // the duplicate custom callback made no second verdict
    expect(byKey(relay.MsgKey as string)).toEqual([
      expect.objectContaining({
        key: 'frank',
        From_Account: 'frank',
        RuleId: 'lunch-recall',
        Action: 'recall',
        Outcome: 'RECALLED',
        // the abstract and the nested message both say "lunch?"
        Parts: [
          'MsgBody[0].MsgContent.AbstractList[0]',
          'MsgBody[0].MsgContent.MsgList[0].MsgBody[0].MsgContent.Text',
        ],
        RecallAttempts: 2,
      }),
    ]);
    expect(byKey(failed.MsgKey as string)).toEqual([
      expect.objectContaining({ RuleId: 'followers-recall', Outcome: 'NOT_RECALLED_FAILED_SEND' }),
    ]);
    expect(byKey(custom.MsgKey as string)).toEqual([
      expect.objectContaining({
        key: 'shop_service',
        RuleId: 'order-flag',
        Action: 'flag',
        Outcome: 'FLAGGED',
        Parts: ['MsgBody[1].MsgContent.Desc'],
      }),
    ]);
    expect(byKey('after-the-poison')).toHaveLength(1);

    // Tencent was called for the relay message only: 91000 retried, then OK; all checks passed
    expect(tencent.callsFor(relay.MsgKey as string).map((c) => c.answer.errorCode)).toEqual([
      91000, 0,
    ]);
    expect(tencent.calls.filter((c) => c.msgKey !== relay.MsgKey)).toEqual([]);
    expect(tencent.calls.every((c) => c.checkFailure === null)).toBe(true);

    // the poison record is in the consumer's dead-letter topic, raw, with the reason
    const [dead] = await readSettled(bridge.kafka, consumer.env.CONSUMER_DLQ_TOPIC as string, 1);
    expect(dead?.value?.toString()).toBe('not avro');
    expect(dead?.headers[DLQ_CONSUMER_HEADERS.reason]).toBe('undecodable');
    expect(dead?.headers[DLQ_CONSUMER_HEADERS.topic]).toBe(bridge.topic);

    const records = (m: string, outcome: string) =>
      sampleValue(m, 'tim_consumer_records_total', { consumer: 'moderation', outcome });
    const metrics = await waitFor('the dead letter counted', async () => {
      const m = await scrape(consumer.adminUrl);
      return records(m, 'dead_lettered') === 1 && m;
    });
    expect(records(metrics, 'duplicate')).toBe(1);
    expect(records(metrics, 'processed')).toBe(5);
    expect(sampleValue(metrics, 'tim_moderation_recalls_total', { outcome: 'recalled' })).toBe(1);
    expect(consumer.fatal).toEqual([]);
  });
});
