import { createKafka } from '../src/kafka/client';
import { avroType, createEncoder } from '../src/kafka/codec';
import { BatchingPublisher } from '../src/kafka/publisher';
import { Registry } from '../src/kafka/registry';
import { createLogger } from '../src/observability/logger';
import { loadSchema } from '../src/schemas';
import type { AfterSendMsgCallback } from '../src/tencent/callback';
import { createRecordMapper } from '../src/tencent/record';
import { buildSchemaModel } from '../src/tencent/schema-model';
import { closedLoop, openLoop, type LoadResult, type Send } from './load';
import { callbackTemplates, msgKeyOf } from './mix';

/**
 * The Kafka ceiling, as a child process driven over IPC (`fork`): the bench's callbacks, already
 * parsed, mapped and Avro-encoded per send and produced by the bridge's own BatchingPublisher
 * (same batching settings, acks=all, idempotent), with no HTTP in front. The load generator runs
 * in this process, so its CPU figures include the generator's (small) share.
 */

export interface CeilingSetup {
  type: 'setup';
  brokers: string[];
  registryUrl: string;
  topic: string;
  runId: string;
  templates: number;
  recipients: number;
  maxBatchRecords: number;
  maxWaitMs: number;
  timeoutMs: number;
}
export type CeilingCommand =
  | CeilingSetup
  | { type: 'closed'; concurrency: number; seconds: number; firstIndex: number }
  | { type: 'open'; rate: number; seconds: number; firstIndex: number }
  | { type: 'stop' };
export type CeilingReply =
  | { type: 'ready'; schemaId: number }
  | { type: 'result'; result: LoadResult; batchRecords: number; batches: number }
  | { type: 'error'; message: string };

async function setup(cmd: CeilingSetup): Promise<{ send: Send; publisher: BatchingPublisher }> {
  const schema = loadSchema();
  const model = buildSchemaModel(schema);
  const schemaId = await new Registry({ url: cmd.registryUrl }).register(
    `${cmd.topic}-value`,
    schema,
    'BACKWARD',
  );
  const encoder = createEncoder(avroType(schema), schemaId);
  const mapper = createRecordMapper(model);
  const kafka = createKafka({
    brokers: cmd.brokers,
    clientId: 'bench-kafka-ceiling',
    logger: createLogger({ level: 'warn' }),
  });
  const publisher = new BatchingPublisher({
    kafka,
    maxBatchRecords: cmd.maxBatchRecords,
    maxWaitMs: cmd.maxWaitMs,
    timeoutMs: cmd.timeoutMs,
    events: {
      batchAcked: (records) => {
        stats.records += records;
        stats.batches++;
      },
    },
  });
  await publisher.connect();
  const callbacks = callbackTemplates(cmd.templates, cmd.recipients).map(
    (t) => JSON.parse(`${t.head}${t.tail}`) as AfterSendMsgCallback,
  );
  const envelope = {
    SdkAppid: '1400000001',
    OptPlatform: 'iOS',
    ClientIP: '127.0.0.1',
    ReceivedAt: 0,
  };
  const send: Send = async (i) => {
    const callback = callbacks[i % callbacks.length] as AfterSendMsgCallback;
    const record = mapper.toRecord(
      { ...callback, MsgKey: msgKeyOf(cmd.runId, i) },
      { ...envelope, ReceivedAt: Date.now() },
    );
    await publisher.publish({
      topic: cmd.topic,
      key: callback.To_Account,
      value: encoder.encode(record),
      headers: { CallbackCommand: 'C2C.CallbackAfterSendMsg', SdkAppid: envelope.SdkAppid },
    });
    return true;
  };
  process.send?.({ type: 'ready', schemaId } satisfies CeilingReply);
  return { send, publisher };
}

const stats = { records: 0, batches: 0 };

function main(): void {
  let ready: Promise<{ send: Send; publisher: BatchingPublisher }> | undefined;
  const reply = (r: CeilingReply): void => void process.send?.(r);
  process.on('message', (cmd: CeilingCommand) => {
    const run = async (): Promise<void> => {
      switch (cmd.type) {
        case 'setup':
          ready = setup(cmd);
          await ready;
          return;
        case 'stop': {
          const { publisher } = (await ready) ?? {};
          await publisher?.close(2000);
          process.exit(0);
          return;
        }
        default: {
          if (!ready) throw new Error('the Kafka ceiling got a run before its setup');
          const { send } = await ready;
          const before = { ...stats };
          const result =
            cmd.type === 'closed'
              ? await closedLoop({ send, ...cmd })
              : await openLoop({ send, ...cmd });
          reply({
            type: 'result',
            result,
            batchRecords: stats.records - before.records,
            batches: stats.batches - before.batches,
          });
        }
      }
    };
    run().catch((err: unknown) => reply({ type: 'error', message: (err as Error).message }));
  });
}

main();
