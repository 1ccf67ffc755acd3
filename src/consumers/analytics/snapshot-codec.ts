import avro from 'avsc';
import type { EventWindowsState, WindowBase } from './event-windows';
import { DistinctCounter } from './hll';

/**
 * The snapshot format shared by the analytics aggregators (C2C in `snapshot.ts`, group messages
 * in `group-snapshot.ts`): a format byte of the aggregator's own (so one aggregator never reads
 * another's state), then Avro binary of an internal record of the window machinery's state and
 * the windows. Maps are written as key-sorted arrays and sketches as their registers, so equal
 * states give equal bytes. Internal: not registered, only the aggregator that wrote it reads it.
 *
 * An aggregator describes its window's fields once (`SnapshotSpec.fields`); the Avro type and
 * both conversions come from that one table, so the schema and the code cannot drift apart.
 */

/** How a window field is written: its kind follows from its type in the window state. */
type FieldKind<V> = V extends DistinctCounter
  ? 'sketch'
  : V extends Map<string, number>
    ? 'counts'
    : V extends number[]
      ? 'longs'
      : V extends number
        ? 'long'
        : never;

/**
 * Every field of a window state `W`, with its Avro field name. The Avro record's fields follow
 * this object's key order (insertion order), which is part of the bytes: never reorder it.
 */
export type SnapshotFields<W> = {
  [K in keyof W]-?: readonly [avroName: string, kind: FieldKind<W[K]>];
};

export interface SnapshotSpec<W extends WindowBase> {
  /** The first byte of every snapshot. */
  format: number;
  /**
   * The first byte of snapshots written before `ADDED_FIELDS` existed: read too (those fields
   * get their defaults), so an upgrade keeps the exactly-once state.
   */
  legacyFormat: number;
  /** Names the snapshot in errors, e.g. "analytics snapshot". */
  label: string;
  /** Says, after a wrong format byte, where such bytes come from. */
  foreignHint: string;
  /** Full name of the Avro state record and namespace of its types. */
  name: string;
  namespace: string;
  /** Name of the window record. */
  windowName: string;
  fields: SnapshotFields<W>;
}

/** The aggregator's whole state, as a snapshot holds it. */
export interface SnapshotState<W extends WindowBase> extends EventWindowsState<W> {
  WindowSeconds: number;
}

export interface SnapshotCodec<W extends WindowBase> {
  encode(state: SnapshotState<W>): Buffer;
  decode(bytes: Buffer): SnapshotState<W>;
}

export interface KeyCount {
  Key: string;
  Count: number;
}

/** A map as key-sorted pairs (deterministic bytes). */
export function toCounts(map: Map<string, number>): KeyCount[] {
  return [...map.keys()].sort().map((Key) => ({ Key, Count: map.get(Key) as number }));
}

export function fromCounts(counts: KeyCount[]): Map<string, number> {
  return new Map(counts.map((c) => [c.Key, c.Count]));
}

const KEY_COUNT = {
  type: 'record',
  name: 'KeyCount',
  fields: [
    { name: 'Key', type: 'string' },
    { name: 'Count', type: 'long' },
  ],
};

/** Avro of a `DistinctCounter`. */
const SKETCH = {
  type: 'record',
  name: 'Sketch',
  fields: [
    { name: 'Precision', type: 'int' },
    { name: 'Hashes', type: 'bytes' },
    { name: 'Registers', type: ['null', 'bytes'] },
  ],
};

type Kind = 'long' | 'longs' | 'counts' | 'sketch';

/** Each kind's Avro type (a named type is defined at its first use, then referred to by name). */
function avroType(kind: Kind, defined: Set<string>): unknown {
  const once = (schema: { name: string }) => {
    if (defined.has(schema.name)) return schema.name;
    defined.add(schema.name);
    return schema;
  };
  switch (kind) {
    case 'long':
      return 'long';
    case 'longs':
      return { type: 'array', items: 'long' };
    case 'counts':
      return { type: 'array', items: once(KEY_COUNT) };
    case 'sketch':
      return once(SKETCH);
  }
}

const TO_AVRO: Record<Kind, (value: never) => unknown> = {
  long: (v: number) => v,
  longs: (v: number[]) => v,
  counts: toCounts,
  sketch: (v: DistinctCounter) => v.toState(),
};

const FROM_AVRO: Record<Kind, (value: never) => unknown> = {
  long: (v: number) => v,
  longs: (v: number[]) => v,
  counts: fromCounts,
  sketch: DistinctCounter.fromState,
};

type AvroWindow = Record<string, unknown>;

/** Fields of the current format that the legacy one lacks, with the values it reads as. */
const ADDED_WINDOW_FIELDS: Record<string, unknown> = { OutOfRangeEvents: 0 };
const ADDED_STATE_FIELDS = [
  { name: 'PendingOutOfRange', type: 'long', default: 0 },
  {
    name: 'SeenKeys',
    type: {
      type: 'array',
      items: {
        type: 'record',
        name: 'SeenKeys',
        fields: [
          { name: 'Start', type: 'long' },
          { name: 'Hashes', type: 'bytes' },
        ],
      },
    },
    default: [],
  },
];

export function createSnapshotCodec<W extends WindowBase>(spec: SnapshotSpec<W>): SnapshotCodec<W> {
  const fields = Object.entries(spec.fields) as [keyof W, readonly [string, Kind]][];
  const stateSchema = (legacy: boolean): avro.Schema => {
    const defined = new Set<string>();
    const windowFields = fields
      .filter(([, [name]]) => !(legacy && name in ADDED_WINDOW_FIELDS))
      .map(([, [name, kind]]) => ({
        name,
        type: avroType(kind, defined),
        ...(name in ADDED_WINDOW_FIELDS ? { default: ADDED_WINDOW_FIELDS[name] } : {}),
      }));
    return {
      type: 'record',
      name: spec.name,
      namespace: spec.namespace,
      fields: [
        { name: 'WindowSeconds', type: 'int' },
        { name: 'Watermark', type: ['null', 'long'] },
        { name: 'ClosedUntil', type: ['null', 'long'] },
        { name: 'PendingDropped', type: 'long' },
        ...(legacy ? [] : ADDED_STATE_FIELDS),
        {
          name: 'Open',
          type: {
            type: 'array',
            items: { type: 'record', name: spec.windowName, fields: windowFields },
          },
        },
        { name: 'Closed', type: { type: 'array', items: spec.windowName } },
      ],
    } as avro.Schema;
  };
  const stateType = avro.Type.forSchema(stateSchema(false));
  const fromLegacy = stateType.createResolver(avro.Type.forSchema(stateSchema(true)));

  const toAvro = (w: W): AvroWindow => {
    const out: AvroWindow = {};
    for (const [key, [name, kind]] of fields) out[name] = TO_AVRO[kind](w[key] as never);
    return out;
  };
  const fromAvro = (a: AvroWindow): W => {
    const w: Partial<W> = {};
    for (const [key, [name, kind]] of fields)
      w[key] = FROM_AVRO[kind](a[name] as never) as W[keyof W];
    return w as W;
  };
  const article = /^[aeiou]/i.test(spec.label) ? 'an' : 'a';

  return {
    encode(state) {
      const value = { ...state, Open: state.Open.map(toAvro), Closed: state.Closed.map(toAvro) };
      return Buffer.concat([Buffer.of(spec.format), stateType.toBuffer(value)]);
    },
    decode(bytes) {
      const legacy = bytes[0] === spec.legacyFormat;
      if (bytes.length === 0 || (bytes[0] !== spec.format && !legacy)) {
        throw new RangeError(
          `not ${article} ${spec.label} of format ${spec.format} (first byte ${bytes[0] ?? 'missing'}): ${spec.foreignHint}`,
        );
      }
      type Decoded = Omit<SnapshotState<W>, 'Open' | 'Closed'> & {
        Open: AvroWindow[];
        Closed: AvroWindow[];
      };
      let value: Decoded;
      try {
        value = stateType.fromBuffer(bytes.subarray(1), legacy ? fromLegacy : undefined) as Decoded;
      } catch (err) {
        throw new RangeError(`${spec.label} is corrupt: ${(err as Error).message}`, { cause: err });
      }
      return { ...value, Open: value.Open.map(fromAvro), Closed: value.Closed.map(fromAvro) };
    },
  };
}
