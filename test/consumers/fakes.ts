import type { Registry } from 'prom-client';

/**
 * Fakes shared by the consumers' unit tests (src/consumers/**): pure, no stack. They live here,
 * not beside the code, so that the build (src/, tests excluded) never ships them.
 */

/** Time moves only when the test says so; sleeps are recorded and return at once. */
export function manualClock() {
  const clock = {
    t: 0,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: (ms: number) => {
      clock.sleeps.push(ms);
      clock.t += ms;
      return Promise.resolve();
    },
  };
  return clock;
}

export type Reply = { status?: number; json?: unknown; text?: string } | Error;

/** A `fetch` that answers the scripted replies in turn (the last one from then on). */
export function scriptedFetch(replies: Reply[]) {
  const urls: URL[] = [];
  const bodies: unknown[] = [];
  const fetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    urls.push(new URL(String(input)));
    bodies.push(JSON.parse(String(init?.body)));
    const reply = replies.length > 1 ? replies.shift() : replies[0];
    if (reply === undefined) throw new Error('no reply scripted');
    if (reply instanceof Error) return Promise.reject(reply);
    const text = reply.text ?? JSON.stringify(reply.json);
    return Promise.resolve(new Response(text, { status: reply.status ?? 200 }));
  };
  return { fetch: fetch as typeof globalThis.fetch, urls, bodies };
}

/** The value of a metric's series with (at least) these labels; undefined when there is none. */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}
