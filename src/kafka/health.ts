import type { Admin, Kafka } from 'kafkajs';

export interface KafkaProbeOptions {
  kafka: Kafka;
  /** A topic whose metadata is asked for (the bridge's own). */
  topic: string;
  intervalMs: number;
  /** A probe not answered within this is a failure. */
  timeoutMs: number;
  onChange?(problem: string | undefined): void;
}

/**
 * Asks the cluster for the topic's metadata every `intervalMs`, so that readiness sees a broker
 * that is gone even while no callback is being published.
 */
export class KafkaProbe {
  private admin: Admin | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private _problem: string | undefined = 'not probed yet';

  constructor(private readonly opts: KafkaProbeOptions) {}

  /** What is wrong with Kafka, or undefined when the last probe answered. */
  get problem(): string | undefined {
    return this._problem;
  }

  start(): void {
    this.tick();
  }

  private tick(): void {
    if (!this.running) {
      this.running = this.probe().finally(() => {
        this.running = undefined;
      });
    }
    this.timer = setTimeout(() => this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      this.admin ??= this.opts.kafka.admin();
      const admin = this.admin;
      await Promise.race([
        (async () => {
          await admin.connect();
          await admin.fetchTopicMetadata({ topics: [this.opts.topic] });
        })(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${this.opts.timeoutMs} ms`)),
            this.opts.timeoutMs,
          );
        }),
      ]);
      this.set(undefined);
    } catch (err) {
      this.set(`Kafka unreachable: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private set(problem: string | undefined): void {
    const changed = (problem === undefined) !== (this._problem === undefined);
    this._problem = problem;
    if (changed) this.opts.onChange?.(problem);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.admin?.disconnect().catch(() => undefined);
  }
}
