import { createRequire } from 'node:module';

/**
 * A one-pass encoder for KafkaJS's Produce requests (v3, which v4-v7 extend), installed in place
 * of KafkaJS's own. KafkaJS builds every record in its own zero-filled 512-byte buffer, writes
 * each varint through a temporary array and Buffer, copies each record again into the batch,
 * the batch into the partition and the partition into the request, and computes CRC32C a byte
 * at a time: about half of its share of the bridge's CPU. This encoder measures the request
 * first, writes it once into one buffer, and computes CRC32C eight bytes at a time. The bytes
 * are KafkaJS's, byte for byte (`produce-encoding.test.ts` compares them over every shape the
 * encoder takes); what it does not take (compression, non-numeric timestamps, a value KafkaJS
 * would stringify, a header value that is not text or bytes) goes to KafkaJS's own encoder.
 *
 * It reaches into KafkaJS's internals, so it is tied to the one KafkaJS version it was checked
 * against (KafkaJS has had no release since 2.2.4, in 2023): with any other version it stays
 * out, and KafkaJS encodes as before.
 */

const load = createRequire(__filename);

/** The KafkaJS version whose Produce request this encoder reproduces. */
export const KAFKAJS_VERSION = '2.2.4';

const PRODUCE_V3 = 'kafkajs/src/protocol/requests/produce/v3/request.js';
/** Later versions wrap v3's function, captured when each is first loaded. */
const PRODUCE_LATER = [4, 5, 6, 7].map(
  (v) => `kafkajs/src/protocol/requests/produce/v${v}/request.js`,
);

interface KafkaLong {
  getHighBits(): number;
  getLowBits(): number;
}
interface LongStatic {
  fromValue(v: unknown): KafkaLong;
  fromInt(v: number): KafkaLong;
}
interface KafkaEncoder {
  buf: Buffer;
  offset: number;
}
type HeaderValue = string | Buffer;
interface ProduceMessage {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, HeaderValue | HeaderValue[]>;
  timestamp?: number | string | null;
}
export interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: {
    topic: string;
    partitions: { partition: number; firstSequence?: number; messages: ProduceMessage[] }[];
  }[];
}
interface ProduceRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  expectResponse(): boolean;
  encode(): Promise<KafkaEncoder>;
}
type ProduceRequestFn = ((args: ProduceArgs) => ProduceRequest) & { onePass?: true };

// --- CRC32C (Castagnoli), slicing by 8 -----------------------------------------------------

const CRC_TABLES = ((): Int32Array[] => {
  const t = Array.from({ length: 8 }, () => new Int32Array(256));
  const t0 = t[0] as Int32Array;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t0[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) {
      const prev = (t[k - 1] as Int32Array)[n] as number;
      (t[k] as Int32Array)[n] = (prev >>> 8) ^ (t0[prev & 0xff] as number);
    }
  }
  return t;
})();

/** CRC32C of bytes [start, end) of a buffer, as an unsigned 32-bit integer. */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
    Int32Array,
  ];
  let crc = -1;
  let i = start;
  for (const last = end - 8; i <= last; i += 8) {
    const lo = crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    crc =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[buf[i + 4]!]! ^
      t2[buf[i + 5]!]! ^
      t1[buf[i + 6]!]! ^
      t0[buf[i + 7]!]!;
  }
  for (; i < end; i++) crc = t0[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

// --- sizes and writes ----------------------------------------------------------------------

/** Bytes of a zigzag varint (Kafka's signed VARINT) of a 32-bit integer. */
function varIntSize(v: number): number {
  let z = ((v << 1) ^ (v >> 31)) >>> 0;
  let n = 1;
  while (z > 0x7f) {
    n++;
    z >>>= 7;
  }
  return n;
}

function writeVarInt(buf: Buffer, o: number, v: number): number {
  let z = ((v << 1) ^ (v >> 31)) >>> 0;
  while (z > 0x7f) {
    buf[o++] = (z & 0x7f) | 0x80;
    z >>>= 7;
  }
  buf[o++] = z;
  return o;
}

/** Zigzag of a 64-bit value held exactly by a double (|v| < 2^52), as a non-negative double. */
const zigzag64 = (v: number): number => (v >= 0 ? v * 2 : -v * 2 - 1);

function varLongSize(v: number): number {
  let z = zigzag64(v);
  let n = 1;
  while (z > 0x7f) {
    n++;
    z = Math.floor(z / 128);
  }
  return n;
}

function writeVarLong(buf: Buffer, o: number, v: number): number {
  let z = zigzag64(v);
  while (z > 0x7f) {
    buf[o++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[o++] = z;
  return o;
}

const MAX_EXACT_DELTA = 2 ** 50;

function writeInt64(buf: Buffer, o: number, long: KafkaLong): number {
  buf.writeInt32BE(long.getHighBits(), o);
  buf.writeInt32BE(long.getLowBits(), o + 4);
  return o + 8;
}

/** A key, value or header value: its bytes' length, or -1 for null. */
const bytesLength = (v: string | Buffer | null | undefined): number =>
  v == null ? -1 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;

function writeBytes(buf: Buffer, o: number, v: string | Buffer | null | undefined, n: number) {
  o = writeVarInt(buf, o, n);
  if (n <= 0 || v == null) return o;
  return typeof v === 'string' ? o + buf.write(v, o, n, 'utf8') : o + v.copy(buf, o);
}

const isBytes = (v: unknown): v is string | Buffer | null | undefined =>
  v == null || typeof v === 'string' || Buffer.isBuffer(v);

/**
 * Per-record and per-partition figures of the request being encoded, measured in the first pass
 * and read in the second, kept in typed arrays used again by every request: the encoder
 * allocates nothing per record but the request's buffer.
 */
const RF = 4; // per record: body size, key length, value length, header count
const PF = 4; // per partition: now, first timestamp, max timestamp, records' bytes
let recordFigures = new Float64Array(RF * 1024);
let partitionFigures = new Float64Array(PF * 64);

function ensureFigures(records: number, partitions: number): void {
  if (recordFigures.length < RF * records) recordFigures = new Float64Array(RF * records * 2);
  if (partitionFigures.length < PF * partitions)
    partitionFigures = new Float64Array(PF * partitions * 2);
}

/**
 * Bytes of a record's headers as KafkaJS flattens them (an array: one header per value), their
 * count in `rf[at]`; -1 for a value KafkaJS's own encoder takes.
 */
function headerBytes(headers: ProduceMessage['headers'], rf: Float64Array, at: number): number {
  let count = 0;
  let bytes = 0;
  for (const k in headers) {
    if (!Object.hasOwn(headers, k)) continue; // as Object.keys
    const hv = headers[k] as HeaderValue | HeaderValue[];
    const kLen = Buffer.byteLength(k);
    const values = Array.isArray(hv) ? hv : undefined;
    for (let j = 0, n = values ? values.length : 1; j < n; j++) {
      const v = values ? values[j] : hv;
      // KafkaJS measures header values with Buffer.byteLength: text or bytes only
      if (typeof v !== 'string' && !Buffer.isBuffer(v)) return -1;
      const vLen = bytesLength(v);
      bytes += varIntSize(kLen) + kLen + varIntSize(vLen) + vLen;
      count++;
    }
  }
  rf[at] = count;
  return varIntSize(count) + bytes;
}

function writeHeaders(buf: Buffer, o: number, headers: ProduceMessage['headers'], count: number) {
  o = writeVarInt(buf, o, count);
  for (const k in headers) {
    if (!Object.hasOwn(headers, k)) continue; // as Object.keys
    const hv = headers[k] as HeaderValue | HeaderValue[];
    const values = Array.isArray(hv) ? hv : undefined;
    for (let j = 0, n = values ? values.length : 1; j < n; j++) {
      const v = (values ? values[j] : hv) as HeaderValue;
      o = writeBytes(buf, o, k, Buffer.byteLength(k));
      o = writeBytes(buf, o, v, bytesLength(v));
    }
  }
  return o;
}

/**
 * A partition's batch times as KafkaJS takes them, into `pf[at..at+2]`: now, then the first and
 * last of the given timestamps sorted as text (its Array#sort), else now twice; false for a
 * timestamp that is not a safe integer (KafkaJS's own encoder takes it).
 */
function batchTimestamps(messages: ProduceMessage[], pf: Float64Array, at: number): boolean {
  const now = Date.now();
  let given: number[] | undefined;
  for (const m of messages) {
    if (m.timestamp == null) continue;
    if (typeof m.timestamp !== 'number' || !Number.isSafeInteger(m.timestamp)) return false;
    (given ??= []).push(m.timestamp);
  }
  given?.sort(); // as KafkaJS: as text
  pf[at] = now;
  pf[at + 1] = given ? (given[0] as number) : now;
  pf[at + 2] = given ? (given[given.length - 1] as number) : now;
  return true;
}

/** A record's timestamp delta, as KafkaJS computes it (a timestamp of 0 counts as none). */
const timestampDelta = (m: ProduceMessage, now: number, first: number): number =>
  ((m.timestamp as number) || now) - first;

/** RecordBatch v2 header bytes before the records (offset .. record count). */
const BATCH_OVERHEAD = 61;
/** Where the CRC'd part of a batch starts (attributes), from the batch's start. */
const CRC_FROM = 21;

const stringSize = (s: string | null): number => 2 + (s == null ? 0 : Buffer.byteLength(s));

function writeString(buf: Buffer, o: number, s: string | null): number {
  if (s == null) return buf.writeInt16BE(-1, o);
  const n = Buffer.byteLength(s);
  o = buf.writeInt16BE(n, o);
  return o + buf.write(s, o, n, 'utf8');
}

/**
 * The Produce v3 request body KafkaJS would write for these arguments, as one buffer; undefined
 * for what only KafkaJS's own encoder takes (compression and the rare shapes above). Two passes:
 * the first measures (and refuses what it does not take), the second writes.
 */
export function encodeProduceRequest(args: ProduceArgs, Long: LongStatic): Buffer | undefined {
  if ((args.compression ?? 0) !== 0) return undefined;
  const transactionalId = args.transactionalId ?? null;
  let records = 0;
  let partitions = 0;
  for (const t of args.topicData) {
    partitions += t.partitions.length;
    for (const p of t.partitions) records += p.messages.length;
  }
  ensureFigures(records, partitions);
  const rf = recordFigures;
  const pf = partitionFigures;

  // pass 1: measure
  let size = stringSize(transactionalId) + 2 + 4 + 4;
  let r = 0;
  let q = 0;
  for (const t of args.topicData) {
    size += stringSize(t.topic) + 4;
    for (const p of t.partitions) {
      if (!batchTimestamps(p.messages, pf, PF * q)) return undefined;
      const now = pf[PF * q] as number;
      const first = pf[PF * q + 1] as number;
      let recordsBytes = 0;
      for (let i = 0; i < p.messages.length; i++, r++) {
        const m = p.messages[i] as ProduceMessage;
        if (!isBytes(m.key) || !isBytes(m.value)) return undefined;
        const tsDelta = timestampDelta(m, now, first);
        if (!(Math.abs(tsDelta) < MAX_EXACT_DELTA)) return undefined;
        const headers = headerBytes(m.headers, rf, RF * r + 3);
        if (headers < 0) return undefined;
        const keyLen = bytesLength(m.key);
        const valueLen = bytesLength(m.value);
        const body =
          1 +
          varLongSize(tsDelta) +
          varIntSize(i) +
          varIntSize(keyLen) +
          Math.max(keyLen, 0) +
          varIntSize(valueLen) +
          Math.max(valueLen, 0) +
          headers;
        rf[RF * r] = body;
        rf[RF * r + 1] = keyLen;
        rf[RF * r + 2] = valueLen;
        recordsBytes += varIntSize(body) + body;
      }
      pf[PF * q + 3] = recordsBytes;
      q++;
      size += 8 + BATCH_OVERHEAD + recordsBytes;
    }
  }

  // pass 2: write
  const producerId = Long.fromValue(args.producerId ?? Long.fromInt(-1));
  const attributes = transactionalId ? 16 : 0;
  const buf = Buffer.allocUnsafe(size);
  let o = writeString(buf, 0, transactionalId);
  o = buf.writeInt16BE(args.acks, o);
  o = buf.writeInt32BE(args.timeout, o);
  o = buf.writeInt32BE(args.topicData.length, o);
  r = 0;
  q = 0;
  for (const t of args.topicData) {
    o = writeString(buf, o, t.topic);
    o = buf.writeInt32BE(t.partitions.length, o);
    for (const p of t.partitions) {
      const now = pf[PF * q] as number;
      const first = pf[PF * q + 1] as number;
      const batchSize = BATCH_OVERHEAD + (pf[PF * q + 3] as number);
      o = buf.writeInt32BE(p.partition, o);
      o = buf.writeInt32BE(batchSize, o);
      const batchStart = o;
      buf.fill(0, o, o + 8); // first offset
      o += 8;
      o = buf.writeInt32BE(batchSize - 12, o); // length of the rest
      o = buf.writeInt32BE(0, o); // partition leader epoch
      o = buf.writeInt8(2, o); // magic
      o += 4; // CRC, below
      o = buf.writeInt16BE(attributes, o);
      o = buf.writeInt32BE(p.messages.length - 1, o); // last offset delta
      o = writeInt64(buf, o, Long.fromValue(first));
      o = writeInt64(buf, o, Long.fromValue(pf[PF * q + 2]));
      o = writeInt64(buf, o, producerId);
      o = buf.writeInt16BE(args.producerEpoch ?? 0, o);
      o = buf.writeInt32BE(p.firstSequence ?? 0, o);
      o = buf.writeInt32BE(p.messages.length, o);
      for (let i = 0; i < p.messages.length; i++, r++) {
        const m = p.messages[i] as ProduceMessage;
        o = writeVarInt(buf, o, rf[RF * r] as number);
        buf[o++] = 0; // record attributes
        o = writeVarLong(buf, o, timestampDelta(m, now, first));
        o = writeVarInt(buf, o, i);
        o = writeBytes(buf, o, m.key, rf[RF * r + 1] as number);
        o = writeBytes(buf, o, m.value, rf[RF * r + 2] as number);
        o = writeHeaders(buf, o, m.headers, rf[RF * r + 3] as number);
      }
      buf.writeUInt32BE(crc32c(buf, batchStart + CRC_FROM, o), batchStart + CRC_FROM - 4);
      q++;
    }
  }
  if (o !== size) throw new Error(`produce request measured ${size} bytes but wrote ${o}`);
  return buf;
}

/**
 * Puts the one-pass encoder in place of KafkaJS's Produce v3 encoder (once per process; again
 * is a no-op). Returns whether it is in place: false with another KafkaJS version.
 */
export function installProduceEncoder(): boolean {
  const { version } = load('kafkajs/package.json') as { version: string };
  if (version !== KAFKAJS_VERSION) return false;
  const path = load.resolve(PRODUCE_V3);
  const kafkajsRequest = load(path) as ProduceRequestFn;
  if (kafkajsRequest.onePass) return true;
  const Encoder = load('kafkajs/src/protocol/encoder.js') as { prototype: object };
  const Long = load('kafkajs/src/utils/long.js') as LongStatic;
  const { Produce: apiKey } = load('kafkajs/src/protocol/requests/apiKeys.js') as {
    Produce: number;
  };
  // A request object of its own, shaped as KafkaJS's: wrapping KafkaJS's (calling it and
  // replacing its encode) measured 50-90 MiB more peak RSS and twice the p99 at half load, V8
  // promoting the callbacks' objects (docs/performance.md); this does not.
  const onePass: ProduceRequestFn = (args) => ({
    apiKey,
    apiVersion: 3,
    apiName: 'Produce',
    expectResponse: () => args.acks !== 0,
    encode: async () => {
      const bytes = encodeProduceRequest(args, Long);
      if (!bytes) return kafkajsRequest(args).encode();
      const encoder = Object.create(Encoder.prototype) as KafkaEncoder;
      encoder.buf = bytes;
      encoder.offset = bytes.length;
      return encoder;
    },
  });
  onePass.onePass = true;
  (load.cache[path] as NodeJS.Module).exports = onePass;
  // a later version loaded before now captured KafkaJS's v3: loaded again, it takes ours
  for (const later of PRODUCE_LATER) delete load.cache[load.resolve(later)];
  return true;
}
