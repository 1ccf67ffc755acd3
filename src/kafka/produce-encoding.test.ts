import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  crc32c,
  encodeProduceRequest,
  installProduceEncoder,
  type ProduceArgs,
} from './produce-encoding';

/* KafkaJS's own encoder, through Jest's module registry: never the one installed in Node's. */
type KafkaEncoder = { buf: Buffer; offset: number; buffer: Buffer };
const kafkajsProduceV3 = jest.requireActual<
  (args: ProduceArgs) => { encode(): Promise<KafkaEncoder> }
>('kafkajs/src/protocol/requests/produce/v3/request.js');
const kafkajsCrc32c = jest.requireActual<(b: Buffer) => number>(
  'kafkajs/src/protocol/recordBatch/crc32C/index.js',
);
const Long = jest.requireActual<{
  fromValue(v: unknown): { getHighBits(): number; getLowBits(): number };
  fromInt(v: number): { getHighBits(): number; getLowBits(): number };
}>('kafkajs/src/utils/long.js');

const NOW = 1_765_000_000_123;
beforeEach(() => jest.spyOn(Date, 'now').mockReturnValue(NOW));
afterEach(() => jest.restoreAllMocks());

async function kafkajsBytes(args: ProduceArgs): Promise<Buffer> {
  return (await kafkajsProduceV3(args).encode()).buffer;
}

const base = { acks: -1, timeout: 30_000 };
const bridgeLike = (n: number, valueSize: (i: number) => number) =>
  Array.from({ length: n }, (_, i) => ({
    key: `user-${i}-用户`,
    value: randomBytes(valueSize(i)),
    headers: { command: 'C2C.CallbackAfterSendMsg', 'x-callback-seq': `${i}`, 'x-ünï': 'çödé 🚀' },
  }));

const SHAPES: [string, ProduceArgs][] = [
  [
    'the bridge: string keys, byte values, text headers, two topics and several partitions',
    {
      ...base,
      producerId: Long.fromValue('4242'),
      producerEpoch: 3,
      topicData: [
        {
          topic: 'c2c.after-send-msg',
          partitions: [
            { partition: 0, firstSequence: 17, messages: bridgeLike(40, (i) => 200 + i * 37) },
            { partition: 5, firstSequence: 0, messages: bridgeLike(1, () => 0) },
          ],
        },
        {
          topic: 'group.after-send-msg',
          partitions: [{ partition: 2, messages: bridgeLike(3, () => 70_000) }],
        },
      ],
    },
  ],
  [
    'null and empty keys and values, Buffer keys, string values',
    {
      ...base,
      topicData: [
        {
          topic: 't',
          partitions: [
            {
              partition: 1,
              messages: [
                { key: null, value: null },
                { key: '', value: '' },
                { key: Buffer.from([0, 1, 2, 255]), value: 'a text value, ünïcödé' },
                { value: Buffer.alloc(0) },
              ],
            },
          ],
        },
      ],
    },
  ],
  [
    'headers with several values and byte values',
    {
      ...base,
      topicData: [
        {
          topic: 'headers',
          partitions: [
            {
              partition: 0,
              messages: [
                {
                  key: 'k',
                  value: Buffer.from('v'),
                  headers: { a: ['1', '22', Buffer.from([9, 9])], c: Buffer.alloc(300) },
                },
                { key: 'k', value: Buffer.from('v'), headers: {} },
              ],
            },
          ],
        },
      ],
    },
  ],
  [
    'a transactional producer: id, epoch, a large producer id and a late sequence',
    {
      ...base,
      acks: 1,
      transactionalId: 'tim-consumer-analytics-tx-0',
      producerId: Long.fromValue('9007199254740993'),
      producerEpoch: 32_000,
      topicData: [
        {
          topic: 'analytics',
          partitions: [
            { partition: 3, firstSequence: 2_147_483_000, messages: bridgeLike(3, () => 64) },
          ],
        },
      ],
    },
  ],
  [
    'given timestamps, unordered, one shorter (KafkaJS sorts them as text), some missing',
    {
      ...base,
      topicData: [
        {
          topic: 'ts',
          partitions: [
            {
              partition: 0,
              messages: [
                { key: 'a', value: 'x', timestamp: 1_765_000_000_500 },
                { key: 'b', value: 'x', timestamp: 999_999_999_999 },
                { key: 'c', value: 'x' },
                { key: 'd', value: 'x', timestamp: 1_765_000_000_100 },
              ],
            },
          ],
        },
      ],
    },
  ],
  [
    'many records (offset deltas of two and three varint bytes) and long records',
    {
      ...base,
      topicData: [
        {
          topic: 'many',
          partitions: [
            { partition: 0, messages: bridgeLike(9_000, (i) => (i % 500 === 0 ? 20_000 : 30)) },
          ],
        },
      ],
    },
  ],
  [
    'a partition with no message and a topic with no partition',
    {
      ...base,
      topicData: [
        { topic: 'empty', partitions: [{ partition: 0, messages: [] }] },
        { topic: 'none', partitions: [] },
      ],
    },
  ],
];

describe('the one-pass Produce encoder', () => {
  it.each(SHAPES)('writes the bytes KafkaJS writes: %s', async (_, args) => {
    const ours = encodeProduceRequest(args, Long);
    expect(ours).toBeDefined();
    expect(ours!.equals(await kafkajsBytes(args))).toBe(true);
  });

  it.each([
    ['compression', { compression: 1 }, {}],
    ['a timestamp given as text', {}, { timestamp: '1765000000000' }],
    ['a number as the value (KafkaJS writes its text)', {}, { value: 42 }],
    ['a number as a header value', {}, { headers: { n: 1 } }],
    ['a null header value (KafkaJS refuses it)', {}, { headers: { n: null } }],
  ])('hands %s back to KafkaJS', (_, request, message) => {
    const args = {
      ...base,
      ...request,
      topicData: [
        {
          topic: 't',
          partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v', ...message }] }],
        },
      ],
    } as unknown as ProduceArgs;
    expect(encodeProduceRequest(args, Long)).toBeUndefined();
  });
});

describe('crc32c', () => {
  it('gives the Castagnoli check value and agrees with KafkaJS on every length and offset', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    const bytes = randomBytes(300);
    for (let len = 0; len < 40; len++) {
      for (const start of [0, 1, 3, 7]) {
        const part = bytes.subarray(start, start + len * 7);
        expect(crc32c(bytes, start, start + part.length)).toBe(kafkajsCrc32c(part));
      }
    }
  });
});

describe('installProduceEncoder', () => {
  it("replaces the Produce encoder KafkaJS's producer reaches, for every version it speaks", async () => {
    expect(installProduceEncoder()).toBe(true);
    expect(installProduceEncoder()).toBe(true); // again: a no-op
    // Node's own module registry, as KafkaJS's producer loads them (not Jest's)
    const node = createRequire(require.resolve('kafkajs'));
    const produce = node('./src/protocol/requests/produce/index.js') as {
      protocol(v: { version: number }): (args: ProduceArgs) => {
        request: {
          apiVersion: number;
          expectResponse(): boolean;
          encode(): Promise<KafkaEncoder>;
        };
      };
    };
    const [, args] = SHAPES[0]!;
    const expected = await kafkajsBytes(args);
    const kafkajs = kafkajsProduceV3(args) as unknown as Record<string, unknown> & {
      expectResponse(): boolean;
    };
    for (const version of [3, 4, 5, 6, 7]) {
      const { request } = produce.protocol({ version })(args);
      const encoded = await request.encode();
      expect(request).toMatchObject({ apiKey: kafkajs.apiKey, apiName: kafkajs.apiName });
      expect(request.expectResponse()).toBe(kafkajs.expectResponse());
      expect(request.apiVersion).toBe(version);
      expect(encoded.buffer.equals(expected)).toBe(true);
      // KafkaJS's own encoder grows its buffer by powers of two; ours is measured exactly
      expect(encoded.buf.length).toBe(encoded.offset);
    }
    // what it does not take goes to KafkaJS's own encoder: a compressed request, byte for byte
    const gzipped = { ...args, compression: 1 };
    const { request } = produce.protocol({ version: 7 })(gzipped);
    const encoded = await request.encode();
    expect(encoded.buffer.equals(await kafkajsBytes(gzipped))).toBe(true);
    expect(encoded.buf.length).not.toBe(encoded.offset);
  });
});
