import { readFileSync } from 'node:fs';

/**
 * CPU time and memory of a process from Linux's /proc (the same measure for Node and the JVM).
 * CPU is utime + stime in clock ticks (USER_HZ, 100 on Linux).
 */
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds the process used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // fields after "pid (comm) ": comm may hold spaces, so split after its closing parenthesis
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Resident set size now, and its peak over the process's life (VmHWM), in MiB. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** Samples a process's RSS while a run lasts; gives the run's CPU seconds and peak RSS. */
export class ProcessMeter {
  private cpuAtStart = 0;
  private peakRss = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly samples: { atMs: number; rssMiB: number }[] = [];

  constructor(
    private readonly pid: number,
    private readonly everyMs = 250,
  ) {}

  start(): void {
    this.cpuAtStart = cpuSeconds(this.pid);
    this.peakRss = 0;
    this.samples.length = 0;
    const started = Date.now();
    const sample = (): void => {
      const { rss } = memoryMiB(this.pid);
      if (rss > this.peakRss) this.peakRss = rss;
      this.samples.push({ atMs: Date.now() - started, rssMiB: rss });
    };
    sample();
    this.timer = setInterval(sample, this.everyMs);
  }

  stop(): { cpuSeconds: number; peakRssMiB: number } {
    clearInterval(this.timer);
    const { rss } = memoryMiB(this.pid);
    return {
      cpuSeconds: cpuSeconds(this.pid) - this.cpuAtStart,
      peakRssMiB: Math.max(this.peakRss, rss),
    };
  }
}
