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
  const records: ConsumedRecord[] = [];
  if (total() === 0n) return records;

  const consumer = kafka.consumer({
    groupId: `reader-${randomUUID()}`,
    allowAutoTopicCreation: false,
  });
  const seen = new Map<number, bigint>();
  const done = (): boolean =>
    [...ends].every(([partition, end]) => end === 0n || (seen.get(partition) ?? -1n) + 1n >= end);
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `read ${records.length} of ${total()} records of ${topic} in ${timeoutMs} ms`,
            ),
          ),
        Math.max(0, deadline - Date.now()),
      );
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const offset = BigInt(message.offset);
            const end = ends.get(partition) ?? 0n;
            if (offset < end) {
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
            if (done()) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
}
