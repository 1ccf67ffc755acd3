import express from 'express';
import type { Registry } from 'prom-client';

export interface HealthCheck {
  name: string;
  /** undefined when healthy, otherwise what is wrong */
  check(): string | undefined;
}

export interface AdminAppDeps {
  registry: Registry;
  /** Called before each scrape, to set gauges read from elsewhere (the spool's depth). */
  collectors?: (() => void)[];
  /** Readiness checks, all of which must pass for /readyz to answer 200. */
  readiness: HealthCheck[];
  /** Called when the answer of /readyz changes (a log line per change, not per probe). */
  onReadinessChange?(ready: boolean, checks: Record<string, string>): void;
}

/** The admin server: liveness, readiness and Prometheus metrics, on a port of its own. */
export function createAdminApp(deps: AdminAppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  let lastReady: boolean | undefined;
  // `?ignore=kafka` leaves named checks out of the answer's status (still reported): a
  // Kubernetes readiness probe that should keep a replica in service while its spool takes the
  // callbacks of a Kafka outage uses it; the log and the ready gauge follow the full answer.
  app.get('/readyz', (req, res) => {
    const ignored = new Set(
      String(req.query.ignore ?? '')
        .split(',')
        .filter(Boolean),
    );
    const checks: Record<string, string> = {};
    let ready = true;
    let readyIgnoring = true;
    for (const c of deps.readiness) {
      const problem = c.check();
      checks[c.name] = problem ?? 'ok';
      if (problem === undefined) continue;
      ready = false;
      if (!ignored.has(c.name)) readyIgnoring = false;
    }
    if (lastReady !== undefined && lastReady !== ready) deps.onReadinessChange?.(ready, checks);
    lastReady = ready;
    res
      .status(readyIgnoring ? 200 : 503)
      .json({ status: readyIgnoring ? 'ready' : 'not ready', checks });
  });

  app.get('/metrics', async (_req, res) => {
    for (const collect of deps.collectors ?? []) collect();
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });

  app.use((req, res) => {
    res.status(404).json({ error: `no route for ${req.method} ${req.path}` });
  });

  return app;
}
