import { loadModerationConfig } from '../../src/consumers/config';
import { DLQ_CONSUMER_HEADERS } from '../../src/consumers/runner';
import { startConsumer, type ConsumerDefinition } from '../../src/consumers/start';
import { deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { readToMarkers, readTopic } from '../../src/kafka/reader';
import type { AfterSendMsgCallback } from '../../src/tencent/callback';
import { capturedLogger, logger, uniqueTopic } from '../support/bridge';
import { callbackEncoder, allConsumed, consumerEnv, produceRaw } from '../support/consumers';
import { loadFixtures } from '../support/fixtures';
import { KAFKA_BROKERS } from '../support/stack';
import { sampleValue, scrape, waitFor } from '../support/wait';

/**
 * A consumer's logic that throws (issue 18 §3.6), on the generic runner with a real topic: the
 * record it threw on is dead-lettered raw with `dlq.reason=processing_failed`, the error and
 * where it came from; the records after it are processed; the consumer neither crashes nor stops
 * being ready. Whatever the logic throws: an Error, a rejected promise, or a value that is no
 * Error at all (`undefined`, as `reject()` without an argument gives). In both delivery modes:
 * exactly once, the dead letters are part of the transactions.
 */

const kafka = createKafka({ brokers: KAFKA_BROKERS.split(','), clientId: 'test-throwing', logger });
const text = loadFixtures().find((f) => f.name === 'text.json')?.json as unknown as
  AfterSendMsgCallback | undefined;

/** What the user wrote, which no log line may hold. */
const PRIVATE = 'private words of the user';
const message = (key: string): AfterSendMsgCallback => ({
  ...(text as AfterSendMsgCallback),
  MsgKey: key,
  MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: `${PRIVATE} ${key}` } }],
});

/** MsgKey → what the logic does with it; every other message is echoed to the output. */
const THROWS = 'throws';
const REJECTS = 'rejects';
const THROWS_UNDEFINED = 'throws-undefined';
const KEYS = ['m1', THROWS, 'm2', REJECTS, 'm3', THROWS_UNDEFINED, 'm4'];

function throwingConsumer(name: string, output: string, exactlyOnce?: { state: string }) {
  const def: ConsumerDefinition = {
    name,
    outputs: [],
    extraTopics: [
      { topic: output, numPartitions: 1, replicationFactor: 1 },
      ...(exactlyOnce
        ? [{ topic: exactlyOnce.state, numPartitions: 1, replicationFactor: 1 }]
        : []),
    ],
    ...(exactlyOnce
      ? {
          exactlyOnce: {
            transactionalId: `${output}.tx`,
            stateTopic: exactlyOnce.state,
            commitIntervalMs: 100,
            idleMs: 0,
          },
        }
      : {}),
    createLogic: () => ({
      async handle({ callback }) {
        if (callback.MsgKey === THROWS) throw new Error('no rule for this message');
        if (callback.MsgKey === REJECTS) await Promise.reject(new Error('lookup refused'));
        if (callback.MsgKey === THROWS_UNDEFINED) {
          const nothing: unknown = undefined;
          throw nothing;
        }
        return [{ topic: output, key: callback.MsgKey, value: Buffer.from(callback.MsgKey) }];
      },
    }),
  };
  return def;
}

describe.each([
  ['at least once', false],
  ['exactly once', true],
])('a logic that throws, %s', (_mode, eo) => {
  test('dead-letters that record (processing_failed, with its source) and goes on', async () => {
    const topic = uniqueTopic(`throwing-${eo ? 'eo' : 'alo'}`);
    const output = `${topic}.out`;
    const state = `${topic}.state`;
    const name = `throwing-${eo ? 'eo' : 'alo'}`;
    const env = consumerEnv('moderation', topic);
    const dlq = env.CONSUMER_DLQ_TOPIC as string;
    const captured = capturedLogger();
    let running: Awaited<ReturnType<typeof startConsumer>> | undefined;
    const fatal: Error[] = [];
    try {
      await ensureTopic(kafka, { topic, numPartitions: 1, replicationFactor: 1 });
      const encode = await callbackEncoder(topic);
      const records = KEYS.map((key, i) => ({
        topic,
        key: 'Jonh',
        value: encode(message(key), {
          SdkAppid: '1400000001',
          OptPlatform: 'iOS',
          ClientIP: null,
          ReceivedAt: i,
        }),
        headers: { 'test-header': key },
      }));

      running = await startConsumer(
        loadModerationConfig(env),
        captured.logger,
        throwingConsumer(name, output, eo ? { state } : undefined),
        (err) => fatal.push(err),
      );
      // in two sends: a throw at the end of a batch, the others amid records
      await produceRaw(kafka, records.slice(0, 2));
      await produceRaw(kafka, records.slice(2));
      const input = await readTopic(kafka, topic, { atLeast: KEYS.length });
      const offsetOf = (key: string) =>
        input.find((r) => r.headers['test-header'] === key)?.offset.toString();

      const group = [{ group: env.CONSUMER_GROUP_ID as string, topic }];
      await waitFor('the input consumed to its end', () => allConsumed(kafka, group), 60000);

      // the outputs: every other record, in order, each once (read_committed, to the end)
      const out = await readToMarkers(kafka, output);
      expect(out.map((r) => r.value?.toString())).toEqual(['m1', 'm2', 'm3', 'm4']);

      const dead = await readToMarkers(kafka, dlq);
      const h = DLQ_CONSUMER_HEADERS;
      expect(
        dead.map((d) => ({
          key: d.key?.toString(),
          value: d.value?.toString('hex'),
          reason: d.headers[h.reason],
          error: d.headers[h.error],
          consumer: d.headers[h.consumer],
          source: [d.headers[h.topic], d.headers[h.partition], d.headers[h.offset]],
          // the record's own headers are kept
          original: d.headers['test-header'],
        })),
      ).toEqual(
        [
          [THROWS, 'no rule for this message'],
          [REJECTS, 'lookup refused'],
          [THROWS_UNDEFINED, 'undefined'],
        ].map(([key, error]) => ({
          key: 'Jonh',
          value: records[KEYS.indexOf(key as string)]?.value.toString('hex'),
          reason: 'processing_failed',
          error,
          consumer: name,
          source: [topic, '0', offsetOf(key as string)],
          original: key,
        })),
      );

      const metrics = await scrape(running.adminUrl);
      const records_ = (outcome: string) =>
        sampleValue(metrics, 'tim_consumer_records_total', { consumer: name, outcome });
      expect(records_('processed')).toBe(4);
      expect(records_('dead_lettered')).toBe(3);
      expect(sampleValue(metrics, 'tim_consumer_crashes_total', { consumer: name })).toBe(0);
      expect(sampleValue(metrics, 'tim_consumer_ready', { consumer: name })).toBe(1);
      expect(running.runner.problem()).toBeUndefined();
      expect(fatal).toEqual([]);
      // one warning a dead letter, saying why and where, never what the message said
      const warnings = captured.lines.filter((l) => l.msg === 'record dead-lettered');
      expect(
        warnings.map((w) => {
          const { level, reason, offset } = w as unknown as Record<string, unknown>;
          return [level, reason, offset];
        }),
      ).toEqual(
        [THROWS, REJECTS, THROWS_UNDEFINED].map((k) => ['warn', 'processing_failed', offsetOf(k)]),
      );
      expect(JSON.stringify(captured.lines)).not.toContain(PRIVATE);
    } finally {
      await running?.stop().catch(() => undefined);
      await deleteTopics(kafka, [topic, output, state, dlq]).catch(() => undefined);
    }
  }, 120000);
});
