import type { Kafka } from '../kafka/client';
import type { Landed, OutputRecord } from '../kafka/consumer';
import { readRange, readUntil, type ConsumedRecord } from '../kafka/reader';

/**
 * Where an exactly-once input keeps its state: records in a compacted state topic, written in the
 * same transaction as the outputs and the offsets, and named by the offsets' commit metadata.
 *
 * - A snapshot is split into parts of at most `STATE_PART_BYTES` (a record batch must fit the
 *   topic's `max.message.bytes`, 1 MiB by default), each sent alone to partition 0, keyed
 *   `<stateKey>` (part 0) and `<stateKey>#<i>` (part i: compaction keeps the latest of each).
 * - The commit metadata says which snapshot goes with the offsets and where its parts landed:
 *   `state-seq=7;state-at=0@1234-1236;state-parts=2`. So a restart reads exactly that range,
 *   whatever the topic's age: O(the snapshot), not O(history).
 * - Metadata written before locations were recorded (`state-seq=7` alone) is still understood:
 *   the topic is then read from the beginning, once, until that snapshot is found.
 */

export const STATE_SEQ_HEADER = 'state-seq';
export const STATE_PART_HEADER = 'state-part';
export const STATE_PART_BYTES = 512 * 1024;

/**
 * Configs of a state topic created by a consumer (and in k8s/base/topics/topics.conf): compacted,
 * with segments that roll every 10 minutes and a cleaner that starts at 10 % of dead records, so
 * the topic holds about the latest snapshot of each key plus the last minutes of them (Kafka never
 * compacts the active segment). Restores do not depend on it: they read the named range only.
 */
export const STATE_TOPIC_CONFIGS: Record<string, string> = {
  'cleanup.policy': 'compact',
  'segment.ms': '600000',
  'min.cleanable.dirty.ratio': '0.1',
};

/** The snapshot committed with a group's offsets. */
export interface StateRef {
  seq: number;
  parts: number;
  /** Partition and offsets of the first and last part; absent in older metadata. */
  at?: { partition: number; from: bigint; to: bigint };
}

const SEQ = 'state-seq=';
const AT = 'state-at=';
const PARTS = 'state-parts=';

export function formatStateMetadata(ref: StateRef): string {
  const fields = [`${SEQ}${ref.seq}`];
  if (ref.at) fields.push(`${AT}${ref.at.partition}@${ref.at.from}-${ref.at.to}`);
  fields.push(`${PARTS}${ref.parts}`);
  return fields.join(';');
}

/** The state named by commit metadata; undefined when it names none (or is not ours). */
export function parseStateMetadata(metadata: string | null | undefined): StateRef | undefined {
  if (!metadata?.startsWith(SEQ)) return undefined;
  const fields = new Map<string, string>();
  for (const field of metadata.split(';')) {
    const eq = field.indexOf('=');
    if (eq > 0) fields.set(field.slice(0, eq + 1), field.slice(eq + 1));
  }
  const seq = Number(fields.get(SEQ));
  const parts = Number(fields.get(PARTS) ?? '1');
  if (!Number.isSafeInteger(seq) || seq <= 0 || !Number.isSafeInteger(parts) || parts < 1) {
    return undefined;
  }
  const at = /^(\d+)@(\d+)-(\d+)$/.exec(fields.get(AT) ?? '');
  if (!at) return { seq, parts };
  return {
    seq,
    parts,
    at: { partition: Number(at[1]), from: BigInt(at[2] as string), to: BigInt(at[3] as string) },
  };
}

/** The records of snapshot `seq` of `key`: at least one, each part at most STATE_PART_BYTES. */
export function stateRecords(
  topic: string,
  key: string,
  seq: number,
  state: Buffer,
  partBytes = STATE_PART_BYTES,
): OutputRecord[] {
  const parts = Math.max(1, Math.ceil(state.length / partBytes));
  return Array.from({ length: parts }, (_, i) => ({
    topic,
    partition: 0,
    key: partKey(key, i),
    value: state.subarray(i * partBytes, (i + 1) * partBytes),
    headers: { [STATE_SEQ_HEADER]: String(seq), [STATE_PART_HEADER]: `${i}/${parts}` },
  }));
}

/** The ref of a snapshot whose parts landed at `landed` (in part order). */
export function stateRefOf(seq: number, landed: readonly Landed[]): StateRef {
  const first = landed[0];
  const last = landed[landed.length - 1];
  if (!first || !last || landed.some((l) => l.partition !== first.partition)) {
    return { seq, parts: landed.length };
  }
  return {
    seq,
    parts: landed.length,
    at: {
      partition: first.partition,
      from: BigInt(first.baseOffset),
      to: BigInt(last.baseOffset),
    },
  };
}

function partKey(key: string, part: number): string {
  return part === 0 ? key : `${key}#${part}`;
}

/** The parts of `ref` among `records`, joined; undefined until every part is there. */
function assemble(records: readonly ConsumedRecord[], key: string, ref: StateRef) {
  // not `new Array(n)`: every() skips the holes of a sparse array
  const parts = Array.from<Buffer | undefined>({ length: ref.parts });
  for (const r of records) {
    if (r.headers[STATE_SEQ_HEADER] !== String(ref.seq) || r.value === null) continue;
    // older snapshots have no part header: one part
    const [i, n] = (r.headers[STATE_PART_HEADER] ?? '0/1').split('/').map(Number);
    if (n !== ref.parts || i === undefined || r.key?.toString() !== partKey(key, i)) continue;
    parts[i] = r.value;
  }
  return parts.every((p) => p !== undefined) ? Buffer.concat(parts) : undefined;
}

/** Reads the snapshot `ref` of `key` from the state topic (committed transactions only). */
export async function loadState(
  kafka: Kafka,
  topic: string,
  key: string,
  ref: StateRef,
  timeoutMs = 60000,
): Promise<Buffer> {
  let state: Buffer | undefined;
  if (ref.at) {
    state = assemble(await readRange(kafka, topic, ref.at, timeoutMs), key, ref);
  } else {
    // older metadata: read from the beginning until the snapshot is complete, checking only
    // the records that can be one of its parts (linear in the topic's length)
    const mine: ConsumedRecord[] = [];
    let checked = 0;
    const records = await readUntil(
      kafka,
      topic,
      (rs) => {
        for (; checked < rs.length; checked++) {
          const r = rs[checked] as ConsumedRecord;
          if (r.headers[STATE_SEQ_HEADER] === String(ref.seq)) mine.push(r);
        }
        return assemble(mine, key, ref) !== undefined;
      },
      timeoutMs,
    );
    state = assemble(records, key, ref);
  }
  if (!state) throw new Error(`state ${ref.seq} of ${key} not found in ${topic}`);
  return state;
}
