/**
 * Readiness: a process's checks, and the two answers made of them. `/readyz` and the bridge's
 * ready gauges both use `evaluateReadiness`, so that what Kubernetes is told and what Prometheus
 * records cannot drift apart.
 */

export interface HealthCheck {
  name: string;
  /** undefined when healthy, otherwise what is wrong */
  check(): string | undefined;
}

export interface ReadinessAnswer {
  /** Every check passes except, at most, the ignored ones: what a probe with `?ignore=` decides. */
  ready: boolean;
  /** Every check passes, the ignored ones included: what `/readyz` decides. */
  strict: boolean;
  /** Each check's problem, or 'ok' (the ignored ones too). */
  checks: Record<string, string>;
}

export function evaluateReadiness(
  checks: readonly HealthCheck[],
  ignored: ReadonlySet<string> = new Set(),
): ReadinessAnswer {
  const answer: ReadinessAnswer = { ready: true, strict: true, checks: {} };
  for (const c of checks) {
    const problem = c.check();
    answer.checks[c.name] = problem ?? 'ok';
    if (problem === undefined) continue;
    answer.strict = false;
    if (!ignored.has(c.name)) answer.ready = false;
  }
  return answer;
}

/** The `?ignore=` of a readiness path: the check names it leaves out. */
export function ignoredChecks(query: unknown): Set<string> {
  return new Set(
    String(query ?? '')
      .split(',')
      .filter(Boolean),
  );
}

/**
 * The checks the bridge's Kubernetes readiness probe leaves out: while Kafka is away, a replica's
 * spool takes the callbacks, so the replica stays in the Service. Defined here only: the probe's
 * path (k8s/base/bridge/statefulset.yaml, checked against it by test/deploy/kubernetes.test.ts)
 * and the gauge `tim_bridge_ready` both follow it; `tim_bridge_ready_strict` ignores nothing.
 */
export const BRIDGE_PROBE_IGNORES: readonly string[] = ['kafka'];

/** The path of the bridge's Kubernetes readiness probe, on the admin port. */
export const BRIDGE_READINESS_PROBE_PATH = `/readyz?ignore=${BRIDGE_PROBE_IGNORES.join(',')}`;
