import express from 'express';
import type { Registry } from 'prom-client';
import { evaluateReadiness, ignoredChecks, type HealthCheck } from './readiness';

export type { HealthCheck } from './readiness';

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
  // callbacks of a Kafka outage uses it; the log follows the strict answer (no check ignored).
  app.get('/readyz', (req, res) => {
    const { ready, strict, checks } = evaluateReadiness(
      deps.readiness,
      ignoredChecks(req.query.ignore),
    );
    if (lastReady !== undefined && lastReady !== strict) deps.onReadinessChange?.(strict, checks);
    lastReady = strict;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks });
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
