import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { endOffsets } from './admin';

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: number;
}

/**
 * Reads a topic from the beginning up to its end offsets at the time of the call (or until
 * `atLeast` records arrived), through a throw-away consumer group. Meant for tests and tools.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  opts: { atLeast?: number; timeoutMs?: number } = {},
): Promise<ConsumedRecord[]> {
  const timeoutMs = opts.timeoutMs ?? 30000;
  const deadline = Date.now() + timeoutMs;
  let ends = await endOffsets(kafka, topic);
  const total = (): bigint => [...ends.values()].reduce((a, b) => a + b, 0n);
  while (opts.atLeast !== undefined && total() < BigInt(opts.atLeast) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    ends = await endOffsets(kafka, topic);
  }
  if (total() === 0n) return [];
  // a consumer group that does not get its partitions in time is replaced by a fresh one
  for (;;) {
    const attemptMs = Math.min(20000, Math.max(1000, deadline - Date.now()));
    try {
      const records = await consumeOnce(
        kafka,
        topic,
        attemptMs,
        (offset, partition) => {
          return offset < (ends.get(partition) ?? 0n);
        },
        (seen) =>
          [...ends].every(
            ([partition, end]) => end === 0n || (seen.get(partition) ?? -1n) + 1n >= end,
          ),
      );
      return records.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
    } catch (err) {
      if (Date.now() + 1000 >= deadline) throw err;
    }
  }
}

/**
 * Reads a topic from the beginning (committed records only) until `stop` says so, through a
 * throw-away consumer group. Unlike readTopic it needs no end offsets, so it also works on
 * topics written by transactions (whose end offsets count commit markers).
 */
export async function readUntil(
  kafka: Kafka,
  topic: string,
  stop: (records: ConsumedRecord[]) => boolean,
  timeoutMs = 30000,
): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  return consumeOnce(
    kafka,
    topic,
    timeoutMs,
    () => true,
    () => stop(records),
    records,
  );
}

/** Header of the records `readToMarkers` appends (and leaves out of what it returns). */
export const READ_MARKER_HEADER = 'tim-read-marker';

/**
 * Every committed record of `topic` written before the call: a marker record is appended to each
 * partition and the topic read (committed records only) until every marker. A reader sees a
 * marker only once each transaction begun before it has ended, so this needs neither end offsets
 * (a transactional topic's count its commit markers) nor a settle time. Markers, this call's and
 * earlier calls', are left out. Meant for tests and tools.
 */
export async function readToMarkers(
  kafka: Kafka,
  topic: string,
  timeoutMs = 30000,
): Promise<ConsumedRecord[]> {
  const partitions = [...(await endOffsets(kafka, topic)).keys()];
  const id = randomUUID();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: partitions.map((partition) => ({
        partition,
        value: Buffer.from('read marker'),
        headers: { [READ_MARKER_HEADER]: id },
      })),
    });
  } finally {
    await producer.disconnect();
  }
  const records = await readUntil(
    kafka,
    topic,
    (seen) =>
      new Set(seen.filter((r) => r.headers[READ_MARKER_HEADER] === id).map((r) => r.partition))
        .size === partitions.length,
    timeoutMs,
  );
  return records.filter((r) => r.headers[READ_MARKER_HEADER] === undefined);
}

/**
 * Reads the committed records of one partition from offset `from` to `to` (both included; `to`
 * must be a committed record), through a throw-away consumer group that seeks to `from`: the cost
 * is that range (and one group join), however long the partition.
 */
export async function readRange(
  kafka: Kafka,
  topic: string,
  at: { partition: number; from: bigint; to: bigint },
  timeoutMs = 30000,
): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  let reached = false;
  return consumeOnce(
    kafka,
    topic,
    timeoutMs,
    (offset, partition) => {
      if (partition !== at.partition || offset < at.from) return false;
      if (offset >= at.to) reached = true;
      return offset <= at.to;
    },
    () => reached,
    records,
    { partition: at.partition, offset: at.from },
  );
}

/** Reads `topic` through a new consumer group until `done`, within `timeoutMs`. */
async function consumeOnce(
  kafka: Kafka,
  topic: string,
  timeoutMs: number,
  keep: (offset: bigint, partition: number) => boolean,
  done: (seen: Map<number, bigint>) => boolean,
  records: ConsumedRecord[] = [],
  seek?: { partition: number; offset: bigint },
): Promise<ConsumedRecord[]> {
  const consumer = kafka.consumer({
    groupId: `reader-${randomUUID()}`,
    allowAutoTopicCreation: false,
    // large records (a dead-letter body can be 64 KiB) must not starve a fetch
    maxBytesPerPartition: 10 * 1024 * 1024,
    maxBytes: 50 * 1024 * 1024,
  });
  const seen = new Map<number, bigint>();
  try {
    await consumer.connect();
    // with a seek to come, nothing is fetched before it (the group starts at the end)
    await consumer.subscribe({ topics: [topic], fromBeginning: seek === undefined });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`read ${records.length} records of ${topic} in ${timeoutMs} ms, not all`),
          ),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const offset = BigInt(message.offset);
            if (keep(offset, partition)) {
              const headers: Record<string, string> = {};
              for (const [k, v] of Object.entries(message.headers ?? {})) {
                if (v !== undefined) headers[k] = Array.isArray(v) ? String(v[0]) : String(v);
              }
              records.push({
                topic,
                partition,
                offset,
                key: message.key,
                value: message.value,
                headers,
                timestamp: Number(message.timestamp),
              });
              seen.set(partition, offset);
            }
            if (done(seen)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .then(() => {
          if (seek)
            consumer.seek({ topic, partition: seek.partition, offset: String(seek.offset) });
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/**
 * Reads a topic's (or several topics') committed records from the beginning until at least
 * `atLeast` arrived, then `settleMs` more (to see any record beyond those expected), through one
 * throw-away group.
 */
export async function readSettled(
  kafka: Kafka,
  topic: string | string[],
  atLeast: number,
  opts: { settleMs?: number; timeoutMs?: number } = {},
): Promise<ConsumedRecord[]> {
  const settleMs = opts.settleMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 60000;
  const records: ConsumedRecord[] = [];
  const consumer = kafka.consumer({
    groupId: `reader-${randomUUID()}`,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 10 * 1024 * 1024,
  });
  try {
    await consumer.connect();
    await consumer.subscribe({
      topics: Array.isArray(topic) ? topic : [topic],
      fromBeginning: true,
    });
    await consumer.run({
      // all partitions of all topics at once (a catalogue's worth of topics)
      partitionsConsumedConcurrently: 8,
      eachMessage: async ({ topic: from, partition, message }) => {
        records.push({
          topic: from,
          partition,
          offset: BigInt(message.offset),
          key: message.key,
          value: message.value,
          headers: Object.fromEntries(
            Object.entries(message.headers ?? {}).flatMap(([k, v]) =>
              v === undefined ? [] : [[k, String(Array.isArray(v) ? v[0] : v)]],
            ),
          ),
          timestamp: Number(message.timestamp),
        });
      },
    });
    const started = Date.now();
    let reachedAt: number | undefined;
    for (;;) {
      if (records.length >= atLeast) reachedAt ??= Date.now();
      if (reachedAt !== undefined && Date.now() - reachedAt >= settleMs) break;
      if (Date.now() - started > timeoutMs) {
        throw new Error(
          `read ${records.length} of at least ${atLeast} records of ${String(topic)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await consumer.disconnect();
  }
  return records.sort(
    (a, b) =>
      a.topic.localeCompare(b.topic) || a.partition - b.partition || Number(a.offset - b.offset),
  );
}
