import { loadConfig } from '../config';
import { createKafka } from '../kafka/client';
import { avroType } from '../kafka/codec';
import { readTopic } from '../kafka/reader';
import { Registry } from '../kafka/registry';
import { createLogger, routeProcessWarnings } from '../observability/logger';
import { loadSchema } from '../schemas';
import { createRecordMapper } from '../tencent/record';
import { buildSchemaModel } from '../tencent/schema-model';

/**
 * `npm run peek [-- N]`: prints the last N records (default 5) of KAFKA_TOPIC as JSON lines:
 * partition, offset, key, headers, the envelope and the callback as Tencent sent it. For humans
 * checking the local stack; it prints message content, so do not point it at production logs.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const last = Number(process.argv[2] ?? 5);
  const logger = createLogger({ level: 'warn' });
  routeProcessWarnings(logger);
  const kafka = createKafka({
    brokers: config.KAFKA_BROKERS,
    clientId: 'tim-kafka-bridge-peek',
    logger,
  });
  const registry = new Registry({ url: config.SCHEMA_REGISTRY_URL });
  const schema = loadSchema();
  const reader = avroType(schema);
  const mapper = createRecordMapper(buildSchemaModel(schema));
  const records = (await readTopic(kafka, config.KAFKA_TOPIC)).sort(
    (a, b) => a.timestamp - b.timestamp,
  );
  for (const r of records.slice(-last)) {
    const { schemaId, record } = await registry.decode(r.value as Buffer, reader);
    const { callback, envelope } = mapper.fromRecord(record as Record<string, unknown>);
    const line = {
      partition: r.partition,
      offset: r.offset.toString(),
      key: r.key?.toString('utf8'),
      headers: r.headers,
      schemaId,
      envelope,
      callback,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  if (records.length === 0) process.stdout.write(`${config.KAFKA_TOPIC} is empty\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`peek: ${(err as Error).message}\n`);
  process.exit(1);
});
