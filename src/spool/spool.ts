import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { BridgeError } from '../errors';
import type { OutgoingRecord } from '../kafka/publisher';

export interface SpoolOptions {
  dir: string;
  maxRecords: number;
  maxBytes: number;
}

export interface SpooledRecord extends OutgoingRecord {
  id: number;
  spooledAt: number;
}

interface PendingWrite {
  record: OutgoingRecord;
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export const SPOOL_FILE = 'spool.sqlite';

/**
 * A durable local buffer of Kafka records, for when Kafka cannot take them in time: SQLite (Node's
 * built-in `node:sqlite`) in WAL mode with `synchronous=FULL`, so a committed append survives a
 * process crash or power loss. Appends are group-committed: every append of one event-loop turn
 * shares one transaction (one fsync), and each append's promise resolves only after that commit.
 * Rows are read back oldest first and deleted once Kafka acknowledged them.
 */
export class Spool {
  private readonly db: DatabaseSync;
  private readonly insert: StatementSync;
  private readonly selectOldest: StatementSync;
  private readonly deleteUpTo: StatementSync;
  private readonly moveToQuarantine: StatementSync;
  private readonly selectSchemaId: StatementSync;
  private readonly upsertSchemaId: StatementSync;
  private closed = false;
  private _quarantined = 0;
  private pending: PendingWrite[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private _records = 0;
  private _bytes = 0;
  private _oldestAt: number | undefined;
  /** Why the last append could not be written (cleared by the next write that succeeds). */
  private _writeFailure: string | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly opts: SpoolOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.db = new DatabaseSync(join(opts.dir, SPOOL_FILE), { timeout: 0 });
    try {
      // one owner at a time: a second bridge or drain job on the same directory fails at once
      // (two drainers would send every record twice); the lock is held until close()
      this.db.exec('PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;');
    } catch (err) {
      this.db.close();
      throw new Error(
        `the spool in ${opts.dir} is in use by another process (a bridge or a spool drain): ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      CREATE TABLE IF NOT EXISTS records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        key TEXT,
        value BLOB NOT NULL,
        headers TEXT NOT NULL,
        spooled_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS quarantine (
        id INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        key TEXT,
        value BLOB NOT NULL,
        headers TEXT NOT NULL,
        spooled_at INTEGER NOT NULL,
        reason TEXT NOT NULL,
        quarantined_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS schema_ids (
        subject TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        id INTEGER NOT NULL,
        PRIMARY KEY (subject, fingerprint)
      );`);
    this.insert = this.db.prepare(
      'INSERT INTO records (topic, key, value, headers, spooled_at) VALUES (?, ?, ?, ?, ?)',
    );
    this.selectOldest = this.db.prepare(
      'SELECT id, topic, key, value, headers, spooled_at FROM records ORDER BY id LIMIT ?',
    );
    this.deleteUpTo = this.db.prepare('DELETE FROM records WHERE id <= ?');
    this.moveToQuarantine = this.db.prepare(
      `INSERT INTO quarantine (id, topic, key, value, headers, spooled_at, reason, quarantined_at)
       SELECT id, topic, key, value, headers, spooled_at, ?, ? FROM records WHERE id = ?`,
    );
    this.selectSchemaId = this.db.prepare(
      'SELECT id FROM schema_ids WHERE subject = ? AND fingerprint = ?',
    );
    this.upsertSchemaId = this.db.prepare(
      'INSERT OR REPLACE INTO schema_ids (subject, fingerprint, id) VALUES (?, ?, ?)',
    );
    this.loadCounts();
  }

  /** Counts of what the file holds (at open, and after a bulk change). */
  private loadCounts(): void {
    const stats = this.db
      .prepare(
        'SELECT count(*) AS n, coalesce(sum(length(value)), 0) AS b, min(spooled_at) AS t FROM records',
      )
      .get() as { n: number; b: number; t: number | null };
    this._records = stats.n;
    this._bytes = stats.b;
    this._oldestAt = stats.t ?? undefined;
    this._quarantined = (
      this.db.prepare('SELECT count(*) AS n FROM quarantine').get() as { n: number }
    ).n;
  }

  /** Records committed to disk. */
  get records(): number {
    return this._records;
  }

  /** Bytes of record values committed to disk. */
  get bytes(): number {
    return this._bytes;
  }

  /** Nothing committed and nothing being written: the cheap check of the normal path. */
  get isEmpty(): boolean {
    return this._records === 0 && this.pending.length === 0;
  }

  get isFull(): boolean {
    return (
      this._records + this.pending.length >= this.opts.maxRecords ||
      this._bytes + this.pendingBytes >= this.opts.maxBytes
    );
  }

  /**
   * Why the spool cannot write, or undefined. Once an append failed (a full disk, an I/O error),
   * each call tries a one-page write transaction, so that a spool that can write again says so
   * without waiting for a callback (a replica that is not ready gets none).
   */
  writeProblem(): string | undefined {
    if (this._writeFailure === undefined || this.closed || !this.db.isOpen) return undefined;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      this.db.exec(`PRAGMA user_version = ${Date.now() % 0x7fffffff}`);
      this.db.exec('COMMIT');
      this._writeFailure = undefined;
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      this._writeFailure = (err as Error).message;
    }
    return this._writeFailure;
  }

  /** Age of the oldest spooled record in ms (0 when empty). */
  oldestAgeMs(now = Date.now()): number {
    return this._oldestAt === undefined ? 0 : Math.max(0, now - this._oldestAt);
  }

  /** Called after every commit that added records (the drainer waits on it). */
  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Appends a record; resolves once it is on disk. The spool counts as non-empty from this call
   * on, so that later records queue behind this one. Rejects with 503 spool_full when full.
   */
  append(record: OutgoingRecord): Promise<void> {
    const bytes = record.value.length;
    if (this.closed) return Promise.reject(closedError());
    if (
      this._records + this.pending.length + 1 > this.opts.maxRecords ||
      this._bytes + this.pendingBytes + bytes > this.opts.maxBytes
    ) {
      return Promise.reject(
        new BridgeError('the local spool is full while Kafka is unavailable', {
          status: 503,
          reason: 'spool_full',
          retriable: true,
        }),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ record, bytes, resolve, reject });
      this.pendingBytes += bytes;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.commit());
      }
    });
  }

  private commit(): void {
    this.scheduled = false;
    const writes = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (writes.length === 0) return;
    if (!this.db.isOpen) {
      for (const w of writes) w.reject(closedError());
      return;
    }
    const now = Date.now();
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const w of writes) {
        const r = w.record;
        this.insert.run(r.topic, r.key, r.value, JSON.stringify(r.headers), now);
      }
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      this._writeFailure = (err as Error).message;
      const failure = new BridgeError(
        `could not write to the local spool: ${(err as Error).message}`,
        {
          status: 503,
          reason: 'kafka_unavailable',
          retriable: true,
          cause: err,
        },
      );
      for (const w of writes) w.reject(failure);
      return;
    }
    this._writeFailure = undefined;
    this._records += writes.length;
    for (const w of writes) this._bytes += w.bytes;
    this._oldestAt ??= now;
    for (const w of writes) w.resolve();
    for (const listener of this.listeners) listener();
  }

  /** The oldest committed records, in the order they were appended. */
  oldest(limit: number): SpooledRecord[] {
    const rows = this.selectOldest.all(limit) as {
      id: number;
      topic: string;
      key: string | null;
      value: Uint8Array;
      headers: string;
      spooled_at: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      topic: r.topic,
      key: r.key,
      value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
      headers: JSON.parse(r.headers) as Record<string, string>,
      spooledAt: r.spooled_at,
    }));
  }

  /** Deletes the given records (the oldest ones, acknowledged by Kafka). */
  remove(records: SpooledRecord[]): void {
    if (records.length === 0) return;
    const last = records[records.length - 1] as SpooledRecord;
    this.deleteUpTo.run(last.id);
    this._records -= records.length;
    for (const r of records) this._bytes -= r.value.length;
    if (this._records <= 0) {
      this._records = 0;
      this._bytes = 0;
      this._oldestAt = undefined;
    } else {
      this._oldestAt = this.oldest(1)[0]?.spooledAt;
    }
  }

  /** The topics of the records held, with their counts (for the drain tool's status). */
  topics(): Record<string, number> {
    const rows = this.db
      .prepare('SELECT topic, count(*) AS n FROM records GROUP BY topic ORDER BY topic')
      .all() as { topic: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.topic, r.n]));
  }

  /** Records that neither their topic nor the dead-letter topic accepts, kept aside. */
  get quarantined(): number {
    return this._quarantined;
  }

  /**
   * Moves the oldest record out of the way, into the `quarantine` table of the same file (with
   * the reason), when Kafka refuses it for itself and the dead-letter topic refuses it too.
   */
  quarantine(record: SpooledRecord, reason: string): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.moveToQuarantine.run(reason, Date.now(), record.id);
      this.db.exec('COMMIT');
    } catch (err) {
      // SQLite may have rolled back already (a disk full or an I/O error)
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
    this._quarantined++;
    this.remove([record]);
  }

  /** Puts the quarantined records back at the end of the spool (after the topics were fixed). */
  requeueQuarantined(): number {
    const n = this._quarantined;
    if (n === 0) return 0;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.db.exec(`INSERT INTO records (topic, key, value, headers, spooled_at)
        SELECT topic, key, value, headers, spooled_at FROM quarantine ORDER BY id;
        DELETE FROM quarantine;`);
      this.db.exec('COMMIT');
    } catch (err) {
      // SQLite may have rolled back already (a disk full or an I/O error)
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw err;
    }
    this.loadCounts();
    for (const listener of this.listeners) listener();
    return n;
  }

  /** The schema id remembered for a subject and schema (fingerprint), if any. */
  schemaId(subject: string, fingerprint: string): number | undefined {
    const row = this.selectSchemaId.get(subject, fingerprint) as { id: number } | undefined;
    return row?.id;
  }

  /** Remembers a subject's schema id, so that a start without the registry can use it. */
  rememberSchemaId(subject: string, fingerprint: string, id: number): void {
    this.upsertSchemaId.run(subject, fingerprint, id);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Writes what is pending, then closes the database; later appends are refused (503). */
  close(): void {
    if (this.closed) return;
    this.commit();
    this.closed = true;
    this.db.close();
  }
}

function closedError(): BridgeError {
  return new BridgeError('the bridge is shutting down (the spool is closed)', {
    status: 503,
    reason: 'shutting_down',
    retriable: true,
  });
}
