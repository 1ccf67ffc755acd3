import { Kafka } from 'kafkajs';
import { Decoder, type MsgElement } from 'tim-kafka-bridge-client';

const env = (name: string, otherwise: string): string => process.env[name] || otherwise;
const decoder = new Decoder({
  url: env('SCHEMA_REGISTRY_URL', 'http://127.0.0.1:8081/apis/ccompat/v7'),
});
const kafka = new Kafka({
  brokers: env('KAFKA_BROKERS', '127.0.0.1:9092').split(','),
  logLevel: 1,
});
const consumer = kafka.consumer({ groupId: env('GROUP_ID', 'example-typescript') });
const max = Number(env('MAX_MESSAGES', '0'));
let printed = 0;

async function main(): Promise<void> {
  await consumer.connect();
  const topics = env('TOPICS', 'c2c.after-send-msg,group.after-send-msg').split(',');
  await consumer.subscribe({ topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const r = await decoder.decode(message); // the callback exactly as Tencent sent it, typed
      if (r.command === 'C2C.CallbackAfterSendMsg') {
        const c = r.callback; // C2cCallbackAfterSendMsg
        print(`c2c ${c.From_Account} -> ${c.To_Account} [${c.MsgKey}]: ${elements(c.MsgBody)}`);
      } else if (r.command === 'Group.CallbackAfterSendMsg') {
        const g = r.callback; // GroupCallbackAfterSendMsg
        print(
          `group ${g.GroupId} ${g.From_Account ?? '-'} [${g.MsgSeq ?? '-'}]: ${elements(g.MsgBody)}`,
        );
      }
    },
  });
}

/** Each element: a text's Text, any other element as [MsgType]. */
function elements(body: MsgElement[]): string {
  return body
    .map((e) =>
      e.MsgType === 'TIMTextElem'
        ? String((e.MsgContent as { Text?: string }).Text ?? '')
        : `[${e.MsgType}]`,
    )
    .join(' ');
}

/** One record, one line: a backslash as \\, a control character as \uXXXX. */
function print(line: string): void {
  let escaped = '';
  for (const c of line) {
    const code = c.charCodeAt(0);
    if (c === '\\') escaped += '\\\\';
    else if (code < 0x20) escaped += `\\u${code.toString(16).padStart(4, '0')}`;
    else escaped += c;
  }
  process.stdout.write(`${escaped}\n`);
  if (max > 0 && ++printed >= max) void consumer.disconnect().then(() => process.exit(0));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
