import { readFileSync } from 'node:fs';

/**
 * CPU time and memory of a process and its descendants (the bridge's workers, when it runs
 * several) from Linux's /proc: the same measure for Node, the JVM and Go.
 * CPU is utime + stime in clock ticks (USER_HZ, 100 on Linux).
 */
const TICKS_PER_SECOND = 100;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // a process that just exited
  }
}

/** The process and its live descendants. */
export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    const children = read(`/proc/${all[i]}/task/${all[i]}/children`) ?? '';
    for (const c of children.split(' ')) if (c.trim() !== '') all.push(Number(c));
  }
  return all;
}

/** User + system CPU seconds the process used so far (without its descendants). */
function ownCpuSeconds(pid: number): number {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === undefined) return 0;
  // fields after "pid (comm) ": comm may hold spaces, so split after its closing parenthesis
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** User + system CPU seconds the process and its live descendants used so far. */
export function cpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + ownCpuSeconds(p), 0);
}

/**
 * Resident set size now, and the peak over each process's life (VmHWM), summed over the process
 * and its descendants, in MiB (for several processes, the sum of peaks bounds the tree's peak).
 */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  let rss = 0;
  let peak = 0;
  for (const p of processTree(pid)) {
    const status = read(`/proc/${p}/status`) ?? '';
    const kib = (name: string): number =>
      Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    rss += kib('VmRSS');
    peak += kib('VmHWM');
  }
  return { rss: rss / 1024, peak: peak / 1024 };
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
