/**
 * The last `max` keys seen, oldest forgotten first: enough to skip the duplicates that an
 * at-least-once producer (the bridge, on a publish timeout or a spool drain) makes, which arrive
 * close to their first copy. Memory is bounded by `max`.
 */
export class RecentKeys {
  private readonly keys = new Set<string>();

  constructor(private readonly max: number) {}

  has(key: string): boolean {
    return this.max > 0 && this.keys.has(key);
  }

  add(key: string): void {
    if (this.max === 0) return;
    this.keys.delete(key); // re-inserting moves it to the newest end
    this.keys.add(key);
    if (this.keys.size > this.max) {
      const oldest = this.keys.values().next().value as string;
      this.keys.delete(oldest);
    }
  }

  clear(): void {
    this.keys.clear();
  }

  get size(): number {
    return this.keys.size;
  }
}
