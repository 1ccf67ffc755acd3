/**
 * A per-key rate limit for log lines (refusals come from the internet: a flood of them must not
 * flood the logs). At most `perWindow` lines per key in each window of `windowMs`; the first line
 * of a later window carries how many were left out before it.
 */
export interface LogLimiter {
  /** Whether to log this line; `suppressed` counts the lines left out since the last one logged. */
  take(key: string): { log: boolean; suppressed: number };
}

export function createLogLimiter(opts: {
  perWindow: number;
  windowMs: number;
  now?: () => number;
}): LogLimiter {
  const now = opts.now ?? Date.now;
  const windows = new Map<string, { start: number; logged: number; suppressed: number }>();
  return {
    take(key) {
      const t = now();
      let w = windows.get(key);
      if (w === undefined || t - w.start >= opts.windowMs) {
        const suppressed = w?.suppressed ?? 0;
        w = { start: t, logged: 1, suppressed: 0 };
        windows.set(key, w);
        return { log: true, suppressed };
      }
      if (w.logged < opts.perWindow) {
        w.logged++;
        return { log: true, suppressed: 0 };
      }
      w.suppressed++;
      return { log: false, suppressed: 0 };
    },
  };
}

/** A value from a request, bounded for a log line: at most `max` characters, printable ASCII. */
export function boundedLogValue(value: string, max = 64): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return cut.replace(/[^\x20-\x7e…]/g, '?');
}
