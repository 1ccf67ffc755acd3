/**
 * Work started after a reply (a before-callback's record, stored once Tencent has its answer):
 * tracked so that shutdown waits for it before it closes the spool and the producer, instead of
 * losing what it already answered.
 */
export class PendingWork {
  private readonly running = new Set<Promise<unknown>>();

  get size(): number {
    return this.running.size;
  }

  track<T>(work: Promise<T>): Promise<T> {
    // settles either way, never rejects (the caller handles `work`'s failure)
    const p: Promise<unknown> = work.then(
      () => this.running.delete(p),
      () => this.running.delete(p),
    );
    this.running.add(p);
    return work;
  }

  /** Resolves when everything tracked has settled, or after `waitMs`; true if all settled. */
  async settled(waitMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), waitMs)));
    while (this.running.size > 0) {
      const all = Promise.allSettled([...this.running]).then(() => true);
      if (!(await Promise.race([all, timeout]))) return false;
    }
    clearTimeout(timer);
    return true;
  }
}
