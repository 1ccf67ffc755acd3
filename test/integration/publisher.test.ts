import { alterTopicConfig, deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { BatchingPublisher, type OutgoingRecord } from '../../src/kafka/publisher';
import { readTopic } from '../../src/kafka/reader';
import { logger, uniqueTopic } from '../support/bridge';
import { KAFKA_BROKERS } from '../support/stack';

/**
 * The publisher on the real broker, where requests fail in ways KafkaJS does not retry: a
 * request cut by bytes before it is sent, and a request of which the broker wrote some
 * partitions and refused another. After that refusal no record acknowledged may be missing.
 */
const kafka = createKafka({
  brokers: KAFKA_BROKERS.split(','),
  clientId: 'test-publisher',
  logger,
});
const topics: string[] = [];

async function newTopic(name: string, partitions = 1, configs: Record<string, string> = {}) {
  const topic = uniqueTopic(name);
  topics.push(topic);
  await ensureTopic(kafka, {
    topic,
    numPartitions: partitions,
    replicationFactor: 1,
    configEntries: Object.entries(configs).map(([n, value]) => ({ name: n, value })),
  });
  return topic;
}

const record = (topic: string, key: string, bytes: number, tag: string): OutgoingRecord => ({
  topic,
  key,
  value: Buffer.concat([Buffer.from(`${tag}:`), Buffer.alloc(bytes, 120)]),
  headers: { tag },
});

const tagsIn = async (topic: string, atLeast: number): Promise<string[]> =>
  (await readTopic(kafka, topic, { atLeast })).map((r) => r.headers.tag as string);

afterAll(async () => {
  await deleteTopics(kafka, topics).catch(() => undefined);
});

test('concurrent records are cut into requests within the topic max.message.bytes, never refused for size', async () => {
  // a topic that takes less than the default: 150 kB per batch
  const topic = await newTopic('budget', 1, { 'max.message.bytes': '150000' });
  const acked: number[] = [];
  const publisher = new BatchingPublisher({
    kafka,
    maxBatchRecords: 500,
    maxWaitMs: 50,
    timeoutMs: 10000,
    events: { batchAcked: (n) => acked.push(n) },
  });
  await publisher.connect();
  await publisher.watchTopics([topic]);
  try {
    expect(publisher.budget(topic)).toBeLessThan(150000);
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        publisher.publish(record(topic, 'one-key', 40000, `r${i}`)),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    // three 40 kB records fit in 150 kB: 20 requests or more, none refused
    expect(acked.length).toBeGreaterThanOrEqual(20);
    expect(Math.max(...acked)).toBeLessThanOrEqual(3);
    expect(publisher.replacements).toBe(0);
    expect(await tagsIn(topic, 60)).toEqual(Array.from({ length: 60 }, (_, i) => `r${i}`));
  } finally {
    await publisher.close(1000);
  }
});

test('a single record larger than its topic takes is refused at once, for itself (not retriable)', async () => {
  const topic = await newTopic('too-big', 1, { 'max.message.bytes': '10000' });
  const publisher = new BatchingPublisher({
    kafka,
    maxBatchRecords: 500,
    maxWaitMs: 2,
    timeoutMs: 5000,
  });
  await publisher.connect();
  await publisher.watchTopics([topic]);
  try {
    await expect(publisher.publish(record(topic, 'k', 20000, 'big'))).rejects.toMatchObject({
      reason: 'kafka_refused',
      retriable: false,
    });
    await publisher.publish(record(topic, 'k', 100, 'small'));
    expect(await tagsIn(topic, 1)).toEqual(['small']);
  } finally {
    await publisher.close(1000);
  }
});

test('after a request the broker wrote in part and refused in part, every acknowledged record is in Kafka', async () => {
  const good = await newTopic('partial-good');
  const strict = await newTopic('partial-strict');
  const publisher = new BatchingPublisher({
    kafka,
    maxBatchRecords: 500,
    maxWaitMs: 50,
    timeoutMs: 10000,
  });
  await publisher.connect();
  // the publisher read the strict topic's limit while it was the default: it cannot know better
  await publisher.watchTopics([good, strict]);
  await alterTopicConfig(kafka, strict, { 'max.message.bytes': '1000' });
  const acked: string[] = [];
  const send = (r: OutgoingRecord) =>
    publisher.publish(r).then(
      () => acked.push(r.headers.tag as string),
      (err: Error) => err,
    );
  try {
    // one request: the good topic's partition is written, the strict one refuses its batch
    const first = await Promise.all([
      send(record(good, 'k', 100, 'g1')),
      send(record(strict, 'k', 5000, 's1')),
    ]);
    expect(first.map((r) => (r instanceof Error ? 'failed' : 'acked'))).toEqual([
      'failed',
      'failed',
    ]);
    // the same partition again, the same record count: a producer that went on with the
    // sequence numbers KafkaJS rolled back would be told "duplicate" and write nothing
    await send(record(good, 'k', 100, 'g2'));
    await send(record(good, 'k', 100, 'g3'));
    expect(acked).toEqual(['g2', 'g3']);
    const tags = await tagsIn(good, 3);
    for (const tag of acked) expect(tags).toContain(tag);
    // g1 was written by the broker though refused to the caller: at-least-once, not lost
    expect(tags).toEqual(['g1', 'g2', 'g3']);
    expect(publisher.replacements).toBe(1);
  } finally {
    await publisher.close(1000);
  }
});
