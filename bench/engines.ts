import { createKafka } from '../src/kafka/client';
import { deleteTopics, endOffsets, ensureTopic } from '../src/kafka/admin';
import { avroType, createEncoder } from '../src/kafka/codec';
import { createLogger } from '../src/observability/logger';
import { loadSchema } from '../src/schemas';
import type { AfterSendMsgCallback } from '../src/tencent/callback';
import { createRecordMapper } from '../src/tencent/record';
import { buildSchemaModel } from '../src/tencent/schema-model';
import { bodyOf, callbackTemplates } from './mix';

/**
 * `npm run bench:engines [-- records batch rounds]`: the producer engines side by side, nothing
 * else in the process. The bench's callbacks, mapped and Avro-encoded once beforehand, produced
 * idempotently with acks=all in batches of `batch` records (46 is what the bridge's requests carry
 * at its maximum), one request in flight, keyed by To_Account, to a fresh 6-partition topic per
 * engine and round; the engines alternate. Prints CPU microseconds per record (this process's
 * user + system time) and records per second, and checks each topic holds exactly what was sent,
 * partitioned alike (records per partition equal across engines: the same murmur2 partitioner).
 *
 * Engines: KafkaJS 2.2.4 (the bridge's; through src/kafka/client) and @platformatic/kafka (a
 * devDependency for this comparison only; the bridge does not use it).
 */

interface Outgoing {
  key: Buffer;
  value: Buffer;
}

interface Engine {
  name: string;
  open(): Promise<void>;
  send(topic: string, batch: Outgoing[]): Promise<void>;
  close(): Promise<void>;
}

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const logger = createLogger({ level: 'warn', name: 'bench-engines' });
const kafka = createKafka({ brokers, clientId: 'bench-engines', logger });

function kafkajsEngine(): Engine {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  return {
    name: 'KafkaJS 2.2.4',
    open: () => producer.connect(),
    async send(topic, batch) {
      await producer.send({ topic, acks: -1, messages: batch });
    },
    close: () => producer.disconnect(),
  };
}

/** An ES module: loaded with import() from this CommonJS build. */
type Platformatic = typeof import('@platformatic/kafka', { with: { 'resolution-mode': 'import' } });

function platformaticEngine({
  Producer,
  ProduceAcks,
  compatibilityPartitioner,
}: Platformatic): Engine {
  const producer = new Producer({
    clientId: 'bench-engines-platformatic',
    bootstrapBrokers: brokers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    // its default partitioner takes murmur2 >>> 0, not Kafka's murmur2 & 0x7fffffff: keys would
    // land on other partitions than KafkaJS's and the Java client's put them
    partitioner: compatibilityPartitioner,
  });
  return {
    name: '@platformatic/kafka 2.12.1',
    async open() {
      await producer.metadata({ topics: [] });
    },
    async send(topic, batch) {
      await producer.send({
        messages: batch.map((m) => ({ topic, key: m.key, value: m.value })),
      });
    },
    close: () => producer.close(),
  };
}

function records(n: number): Outgoing[] {
  const schema = loadSchema();
  const mapper = createRecordMapper(buildSchemaModel(schema));
  const encoder = createEncoder(avroType(schema), 1);
  const templates = callbackTemplates(1000);
  const envelope = { SdkAppid: '1400000001', OptPlatform: 'iOS', ClientIP: null, ReceivedAt: 0 };
  return Array.from({ length: n }, (_, i) => {
    const callback = JSON.parse(bodyOf(templates, 'engines', i)) as AfterSendMsgCallback;
    return {
      key: Buffer.from(callback.To_Account),
      value: encoder.encode(mapper.toRecord(callback, { ...envelope, ReceivedAt: Date.now() })),
    };
  });
}

async function main(): Promise<void> {
  const [n = 60000, batchSize = 46, rounds = 3] = process.argv.slice(2).map(Number);
  const all = records(n);
  const engines = [kafkajsEngine(), platformaticEngine(await import('@platformatic/kafka'))];
  for (const e of engines) await e.open();
  const results = new Map<string, { usPerRecord: number[]; perSecond: number[] }>();
  const topics: string[] = [];
  let firstLayout: string | undefined;
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const e of engines) {
        const topic = `bench.engines.${Date.now()}.${round}`;
        topics.push(topic);
        await ensureTopic(kafka, { topic, numPartitions: 6, replicationFactor: 1 });
        // a first batch outside the measure: metadata and producer id
        await e.send(topic, all.slice(0, batchSize));
        const cpu = process.cpuUsage();
        const start = process.hrtime.bigint();
        for (let from = batchSize; from < all.length; from += batchSize) {
          await e.send(topic, all.slice(from, from + batchSize));
        }
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        const used = process.cpuUsage(cpu);
        const sent = all.length - batchSize;
        const offsets = await endOffsets(kafka, topic);
        const stored = [...offsets.values()].reduce((a, b) => a + Number(b), 0);
        if (stored !== all.length) throw new Error(`${e.name}: ${stored} records of ${all.length}`);
        // the same keys land on the same partitions (both use Kafka's murmur2 partitioner)
        const layout = JSON.stringify(
          [...offsets].sort(([a], [b]) => a - b).map(([, o]) => `${o}`),
        );
        if (firstLayout === undefined) firstLayout = layout;
        else if (layout !== firstLayout) {
          throw new Error(`${e.name} partitioned differently: ${layout} against ${firstLayout}`);
        }
        const r = results.get(e.name) ?? { usPerRecord: [], perSecond: [] };
        r.usPerRecord.push((used.user + used.system) / sent);
        r.perSecond.push(sent / seconds);
        results.set(e.name, r);
        process.stdout.write(
          `round ${round} ${e.name}: ${((used.user + used.system) / sent).toFixed(2)} CPU-us/record, ${Math.round(sent / seconds)} records/s\n`,
        );
      }
    }
  } finally {
    for (const e of engines) await e.close();
    await deleteTopics(kafka, topics);
  }
  const median = (xs: number[]) =>
    [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  process.stdout.write(`\n${n} records in batches of ${batchSize}, median of ${rounds} rounds:\n`);
  for (const [name, r] of results) {
    process.stdout.write(
      `  ${name}: ${median(r.usPerRecord).toFixed(2)} CPU-us/record, ${Math.round(median(r.perSecond))} records/s\n`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
