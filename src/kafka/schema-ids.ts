import type { Logger } from '../observability/logger';
import { SUBJECT_COMPATIBILITY, type AvroSchemaJson } from '../schemas';
import { avroType } from './codec';
import type { Registry } from './registry';

/** A subject and the schema its records are written with. */
export interface SchemaSubject {
  subject: string;
  schema: AvroSchemaJson;
}

/** Where ids are remembered between runs (the spool file), so a start can do without the registry. */
export interface SchemaIdStore {
  schemaId(subject: string, fingerprint: string): number | undefined;
  rememberSchemaId(subject: string, fingerprint: string, id: number): void;
}

export interface SchemaIdsOptions {
  registry: Registry;
  store: SchemaIdStore | undefined;
  /** Register the schema (true) or only look up the id it already has (false). */
  autoRegister: boolean;
  logger: Logger;
  /** One registry request done, by result. */
  onRequest?(result: 'ok' | 'error'): void;
  retryMinMs?: number;
  retryMaxMs?: number;
}

type Source = 'registry' | 'remembered';

interface Entry extends SchemaSubject {
  fingerprint: string;
  id: number | undefined;
  source: Source | undefined;
  remembered: number | undefined;
  /** Why the last attempt gave no id (undefined before the first answer and once one came). */
  error: string | undefined;
}

/**
 * The schema id of each subject the bridge writes: registered (or looked up) at start, remembered
 * in the spool file, and taken from there when the registry cannot be reached, so that a bridge
 * never crash-loops on the registry. A subject without any id yet keeps being retried in the
 * background (with backoff); so does a remembered id until the registry confirms it (a registry
 * whose data was reset gives another id: the bridge then switches to it).
 */
export class SchemaIds {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private backoff: number;

  constructor(private readonly opts: SchemaIdsOptions) {
    this.backoff = opts.retryMinMs ?? 1000;
  }

  /** The id to write records of `subject` with, or undefined while none is known. */
  id(subject: string): number | undefined {
    return this.entries.get(subject)?.id;
  }

  /** Subjects without an id yet (readiness names them). */
  missing(): string[] {
    return [...this.entries.values()].filter((e) => e.id === undefined).map((e) => e.subject);
  }

  /** Why the registry gave a subject without an id none the last time it was asked, if it was. */
  failure(): string | undefined {
    return [...this.entries.values()].find((e) => e.id === undefined && e.error !== undefined)
      ?.error;
  }

  /**
   * Asks the registry for every subject's id, waiting at most `waitMs` for its answers; subjects
   * it has not answered by then take their remembered id, if any. Never throws.
   */
  async start(subjects: SchemaSubject[], waitMs: number): Promise<void> {
    for (const s of subjects) {
      const fingerprint = avroType(s.schema).fingerprint('sha256').toString('hex');
      this.entries.set(s.subject, {
        ...s,
        fingerprint,
        id: undefined,
        source: undefined,
        remembered: this.opts.store?.schemaId(s.subject, fingerprint),
        error: undefined,
      });
    }
    let timer: NodeJS.Timeout | undefined;
    const round = this.round();
    await Promise.race([round, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    for (const e of this.entries.values()) {
      if (e.id === undefined && e.remembered !== undefined) {
        e.id = e.remembered;
        e.source = 'remembered';
        this.opts.logger.warn(
          { subject: e.subject, schemaId: e.id },
          'schema registry unreachable: writing with the schema id remembered in the spool',
        );
      }
    }
    void round.then(() => this.schedule());
  }

  /** One attempt for every subject the registry has not answered yet. */
  private async round(): Promise<void> {
    const pending = [...this.entries.values()].filter((e) => e.source !== 'registry');
    await Promise.all(pending.map((e) => this.resolve(e)));
  }

  private async resolve(e: Entry): Promise<void> {
    const { registry, autoRegister, logger } = this.opts;
    let id: number;
    try {
      id = autoRegister
        ? await registry.register(e.subject, e.schema, SUBJECT_COMPATIBILITY)
        : await registry.lookup(e.subject, e.schema);
      this.opts.onRequest?.('ok');
    } catch (err) {
      this.opts.onRequest?.('error');
      e.error = (err as Error).message;
      logger.warn(
        { subject: e.subject, err: (err as Error).message, known: e.id },
        autoRegister
          ? 'could not register the schema; retrying'
          : 'could not look up the schema (SCHEMA_REGISTRY_AUTO_REGISTER=false: it must be registered beforehand); retrying',
      );
      return;
    }
    if (e.id !== undefined && e.id !== id) {
      logger.warn(
        { subject: e.subject, was: e.id, schemaId: id },
        'the registry gives another schema id than the one remembered: writing with its id',
      );
    }
    e.id = id;
    e.source = 'registry';
    e.error = undefined;
    if (e.remembered !== id) {
      this.opts.store?.rememberSchemaId(e.subject, e.fingerprint, id);
      e.remembered = id;
    }
    logger.info(
      { subject: e.subject, schemaId: id },
      autoRegister ? 'schema registered' : 'schema found',
    );
  }

  private schedule(): void {
    if (this.stopped || [...this.entries.values()].every((e) => e.source === 'registry')) return;
    this.timer = setTimeout(() => {
      void this.round().then(() => this.schedule());
    }, this.backoff);
    this.timer.unref();
    this.backoff = Math.min(this.backoff * 2, this.opts.retryMaxMs ?? 30000);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
