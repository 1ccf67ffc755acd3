import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { deleteTopics, startTestConsumer, type TestConsumer } from '../support/consumers';
import { ensureTopic } from '../../src/kafka/admin';
import type { Kafka } from '../../src/kafka/client';
import { ROOT } from '../support/stack';

/** The observability deliverables, and what the tests read out of them. */

export const OBS_DIR = join(ROOT, 'observability');
export const DASHBOARD_FILE = join(OBS_DIR, 'grafana', 'tim-kafka-bridge.json');
export const CONFIGMAP_FILE = join(OBS_DIR, 'grafana', 'dashboard-configmap.yaml');
export const RULES_FILE = join(OBS_DIR, 'prometheus', 'tim-kafka-bridge.rules.yml');
export const RULES_TEST_FILE = join(OBS_DIR, 'prometheus', 'tim-kafka-bridge.rules.test.yml');
/** The unit tests that need days of samples (evaluated every 5 minutes). */
export const RULES_LONG_TEST_FILE = join(
  OBS_DIR,
  'prometheus',
  'tim-kafka-bridge.rules.long.test.yml',
);
export const RULES_TEST_FILES = [RULES_TEST_FILE, RULES_LONG_TEST_FILE];
export const INHIBIT_RULES_FILE = join(OBS_DIR, 'alertmanager', 'inhibit-rules.yaml');
export const ALERTMANAGER_CONFIG_FILE = join(
  ROOT,
  'k8s',
  'base',
  'observability',
  'alertmanagerconfig.yaml',
);
export const GENERATE_SCRIPT = join(OBS_DIR, 'generate.sh');
export const PROMETHEUS_RULE_FILE = join(OBS_DIR, 'prometheus', 'prometheusrule.yaml');
export const INSTALL_SCRIPT = join(ROOT, 'scripts', 'tools', 'install-prometheus.sh');

/**
 * The dashboard's template variables, as the tests substitute them (all values, 1 m rates).
 * `family` repeats the "Commands: $family" row: Grafana gives each repetition one value, so the
 * tests take one family, C2C (the test traffic has C2C after- and before-callbacks), not `.*`:
 * a filter that mismatches the family's commands then returns nothing.
 */
export const TEMPLATE_VALUES: Record<string, string> = {
  namespace: '.*',
  job: '.*',
  instance: '.*',
  family: 'C2C',
  __rate_interval: '1m',
  __interval: '15s',
  __range: '5m',
};

/** The variable that repeats the per-family row, and the command filter its panels use. */
export const FAMILY_VARIABLE = 'family';
export const FAMILY_MATCHER = 'command=~"$family(\\\\..*)?"';

export interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}
export interface Panel {
  id: number;
  type: string;
  title: string;
  repeat?: string;
  collapsed?: boolean;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
export interface Variable {
  name: string;
  type: string;
  query: unknown;
  definition?: string;
  includeAll?: boolean;
  multi?: boolean;
  allValue?: string;
  regex?: string;
  datasource?: { type?: string; uid?: string };
}
export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
  __inputs?: unknown;
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/**
 * The panels of a row: those below it and above the next row (an expanded row's panels follow it
 * in the dashboard; a collapsed one keeps them in its `panels`).
 */
export function rowPanels(d: Dashboard, row: Panel): Panel[] {
  if (row.collapsed) return row.panels ?? [];
  const next = Math.min(
    ...d.panels
      .filter((p) => p.type === 'row' && p.gridPos.y > row.gridPos.y)
      .map((p) => p.gridPos.y),
  );
  return d.panels.filter(
    (p) => p.type !== 'row' && p.gridPos.y > row.gridPos.y && p.gridPos.y < next,
  );
}

/** A variable's regex (`/.../flags`, as Grafana writes it) as a JavaScript RegExp. */
export function variableRegex(v: Variable): RegExp {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(v.regex ?? '');
  if (!m) throw new Error(`variable ${v.name}: regex ${v.regex} is not /.../`);
  return new RegExp(m[1]!, m[2]);
}

/**
 * What Grafana makes of label values through a variable's regex: the first capture group of each
 * value that matches (the whole match without one), deduplicated, sorted.
 */
export function applyVariableRegex(v: Variable, values: string[]): string[] {
  const re = variableRegex(v);
  const out = new Set<string>();
  for (const value of values) {
    const m = re.exec(value);
    if (m) out.add(m[1] ?? m[0]);
  }
  return [...out].sort();
}

export interface NamedExpr {
  /** where the expression comes from, for failure messages */
  where: string;
  expr: string;
}

export function dashboardExprs(d: Dashboard = loadDashboard()): NamedExpr[] {
  return allPanels(d).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr })),
  );
}

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface RuleGroup {
  name: string;
  rules: Rule[];
}

export function loadRuleGroups(): RuleGroup[] {
  return (parse(readFileSync(RULES_FILE, 'utf8')) as { groups: RuleGroup[] }).groups;
}

export function ruleExprs(groups: RuleGroup[] = loadRuleGroups()): NamedExpr[] {
  return groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr.trim() })),
  );
}

/** `$var`, `${var}` and `[[var]]` replaced by TEMPLATE_VALUES. */
export function substituteVariables(expr: string, values = TEMPLATE_VALUES): string {
  return expr.replace(
    /\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]/g,
    (all, a?: string, b?: string, c?: string) => {
      const name = (a ?? b ?? c)!;
      if (!(name in values)) throw new Error(`unknown template variable ${all} in ${expr}`);
      return values[name]!;
    },
  );
}

/**
 * Metrics an expression may name that no process of ours exports, each with where it comes from
 * and how the dashboard keeps it to the selected jobs (the check that every metric is exported
 * leaves these out, by name, here and nowhere else):
 *   target: Prometheus' own series per scrape target, filtered like ours (namespace, job, instance);
 *   pod:    per pod, from a Kubernetes exporter: filtered by namespace and joined
 *           `on (namespace, pod)` to `up` of the selected targets (the `pod` label the
 *           Prometheus Operator's ServiceMonitor gives every target);
 *   hpa:    per HorizontalPodAutoscaler: filtered by namespace and joined
 *           `on (namespace, horizontalpodautoscaler)` to the selected jobs (each HPA of k8s/ is
 *           named like its Service, which is the job).
 *   statefulset, pvc: per StatefulSet, per PersistentVolumeClaim: read by alerts only (the
 *           bridge's StatefulSet and its spool claims, selected by name).
 * A cluster with kube-prometheus-stack has them; a local test cannot (no kubelet, no
 * kube-state-metrics). The real-Prometheus test serves them from a stand-in exporter with the
 * labels the real one gives (`labels`), so that every expression still has to return data.
 */
export const EXTERNAL_METRICS: Record<
  string,
  {
    source: string;
    scope: 'target' | 'pod' | 'hpa' | 'statefulset' | 'pvc';
    type: 'counter' | 'gauge';
    labels: string[];
  }
> = {
  up: { source: 'Prometheus (each scrape target)', scope: 'target', type: 'gauge', labels: [] },
  kube_pod_container_status_restarts_total: {
    source: 'kube-state-metrics',
    scope: 'pod',
    type: 'counter',
    labels: ['namespace', 'pod', 'container'],
  },
  container_cpu_cfs_periods_total: {
    source: 'cAdvisor (kubelet /metrics/cadvisor)',
    scope: 'pod',
    type: 'counter',
    labels: ['namespace', 'pod', 'container'],
  },
  container_cpu_cfs_throttled_periods_total: {
    source: 'cAdvisor (kubelet /metrics/cadvisor)',
    scope: 'pod',
    type: 'counter',
    labels: ['namespace', 'pod', 'container'],
  },
  kube_horizontalpodautoscaler_status_current_replicas: {
    source: 'kube-state-metrics',
    scope: 'hpa',
    type: 'gauge',
    labels: ['namespace', 'horizontalpodautoscaler'],
  },
  kube_horizontalpodautoscaler_spec_min_replicas: {
    source: 'kube-state-metrics',
    scope: 'hpa',
    type: 'gauge',
    labels: ['namespace', 'horizontalpodautoscaler'],
  },
  kube_horizontalpodautoscaler_spec_max_replicas: {
    source: 'kube-state-metrics',
    scope: 'hpa',
    type: 'gauge',
    labels: ['namespace', 'horizontalpodautoscaler'],
  },
  kube_statefulset_status_replicas_ready: {
    source: 'kube-state-metrics (TimBridgeReplicasBelowMinimum)',
    scope: 'statefulset',
    type: 'gauge',
    labels: ['namespace', 'statefulset'],
  },
  kubelet_volume_stats_available_bytes: {
    source: "the kubelet's volume stats (TimBridgeSpoolVolumeFull)",
    scope: 'pvc',
    type: 'gauge',
    labels: ['namespace', 'persistentvolumeclaim'],
  },
  kubelet_volume_stats_capacity_bytes: {
    source: "the kubelet's volume stats (TimBridgeSpoolVolumeFull)",
    scope: 'pvc',
    type: 'gauge',
    labels: ['namespace', 'persistentvolumeclaim'],
  },
};

/** The joins that keep an external metric to the selected targets (see EXTERNAL_METRICS). */
export const EXTERNAL_JOINS = {
  pod: 'on (namespace, pod) group_left () group by (namespace, pod) (up{namespace=~"$namespace", job=~"$job", instance=~"$instance"})',
  hpa: 'on (namespace, horizontalpodautoscaler) group_left () label_join(group by (namespace, job) (up{namespace=~"$namespace", job=~"$job", instance=~"$instance"}), "horizontalpodautoscaler", "", "job")',
} as const;

/**
 * A Prometheus text exposition of the external metrics (but `up`), as kube-state-metrics and
 * cAdvisor would give them for these pods (each with one container) and HPAs, for a scrape with
 * `honor_labels` (as kube-prometheus-stack scrapes them). Counters grow with `nowMs`, so that
 * their rates are not 0/0.
 */
export function externalExposition(
  pods: { namespace: string; pod: string; container: string }[],
  hpas: { namespace: string; horizontalpodautoscaler: string }[],
  nowMs: number,
  objects: {
    statefulsets?: { namespace: string; statefulset: string }[];
    pvcs?: { namespace: string; persistentvolumeclaim: string }[];
  } = {},
): string {
  const lines: string[] = [];
  const t = Math.floor(nowMs / 1000);
  const value: Record<string, number> = {
    kube_pod_container_status_restarts_total: Math.floor(t / 60),
    container_cpu_cfs_periods_total: t * 10,
    container_cpu_cfs_throttled_periods_total: t,
    kube_horizontalpodautoscaler_status_current_replicas: 3,
    kube_horizontalpodautoscaler_spec_min_replicas: 3,
    kube_horizontalpodautoscaler_spec_max_replicas: 12,
    kube_statefulset_status_replicas_ready: 3,
    kubelet_volume_stats_available_bytes: 9e9,
    kubelet_volume_stats_capacity_bytes: 1e10,
  };
  const subjects = {
    pod: pods,
    hpa: hpas,
    statefulset: objects.statefulsets ?? [],
    pvc: objects.pvcs ?? [],
  };
  for (const [name, m] of Object.entries(EXTERNAL_METRICS)) {
    if (m.scope === 'target') continue;
    lines.push(`# TYPE ${name} ${m.type}`);
    for (const subject of subjects[m.scope]) {
      const labels = m.labels
        .map((l) => `${l}="${(subject as Record<string, string>)[l] ?? ''}"`)
        .join(',');
      lines.push(`${name}{${labels}} ${value[name] ?? 0}`);
    }
  }
  return lines.join('\n') + '\n';
}

const METRIC_NAME = new RegExp(
  '(?:' +
    [
      // ours, prom-client's, and Kubernetes exporters' (so that one missing from
      // EXTERNAL_METRICS is noticed)
      '\\b(?:tim_bridge|tim_consumer|tim_analytics|tim_moderation|nodejs|process|kube|kubelet|container)_[a-zA-Z0-9_]*[a-zA-Z0-9]\\b',
      // Prometheus' own, by their exact names
      ...Object.entries(EXTERNAL_METRICS)
        .filter(([, m]) => m.scope === 'target')
        .map(([n]) => `\\b${n}\\b`),
    ].join('|') +
    ')',
  'g',
);

/** The metric names an expression selects (the project's, prom-client's default ones, EXTERNAL_METRICS). */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(METRIC_NAME) ?? [])];
}

/** Each `name{matchers}` of an expression, and names used without braces (matchers ''). */
export function selectors(expr: string): { name: string; matchers: string | undefined }[] {
  const out: { name: string; matchers: string | undefined }[] = [];
  for (const m of expr.matchAll(new RegExp(METRIC_NAME.source + '(\\s*\\{([^}]*)\\})?', 'g'))) {
    out.push({ name: m[0].replace(/\s*\{.*$/s, ''), matchers: m[2] });
  }
  return out;
}

/* ------------------------------------------------------------------------------------------
 * Alert conditions without their thresholds.
 *
 * An alert expression returns series only while it fires, so against a healthy bridge it
 * returns nothing even when it is right. What the test evaluates instead is its *signals*:
 *   1. split the expression at its top-level set operators (`and`, `or`, `unless`, with their
 *      `on (...)` / `ignoring (...)`): each operand is a signal of its own;
 *   2. from each operand, remove enclosing parentheses and one trailing top-level comparison
 *      with a number (`> 0.8`, `== 0`, `> bool 1`), then enclosing parentheses again.
 * Each signal must return at least one series: the metrics, labels and functions the alert
 * compares exist in the real data. (The full expression is also sent, and must parse.)
 * Comments (`# ...`) are removed first; an operand in parentheses that holds set operators of
 * its own is split in turn; `absent(X)` (and `absent_over_time`) gives X: what must be there.
 * ------------------------------------------------------------------------------------------ */

/** The expression without its `# ...` comments (outside string literals). */
export function stripComments(expr: string): string {
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i]!;
    if (quote) {
      out += ch;
      if (ch === '\\') out += expr[++i] ?? '';
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '#') {
      while (i < expr.length && expr[i] !== '\n') i++;
      out += '\n';
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') quote = ch;
    out += ch;
  }
  return out
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .join('\n')
    .trim();
}

/** Positions at parenthesis/bracket/brace depth 0, outside string literals. */
function topLevelMask(expr: string): boolean[] {
  const mask: boolean[] = [];
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i]!;
    if (quote) {
      mask.push(false);
      if (ch === '\\') {
        mask.push(false);
        i++;
      } else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
      mask.push(false);
      continue;
    }
    if ('([{'.includes(ch)) depth++;
    mask.push(depth === 0 && !')]}'.includes(ch));
    if (')]}'.includes(ch)) depth--;
  }
  return mask;
}

export function unwrapParens(expr: string): string {
  let e = expr.trim();
  while (e.startsWith('(') && e.endsWith(')')) {
    const inner = e.slice(1, -1);
    // only when the outer pair encloses everything: the inner part is balanced on its own
    let depth = 0;
    let balanced = true;
    for (const ch of inner) {
      if (ch === '(') depth++;
      if (ch === ')' && --depth < 0) {
        balanced = false;
        break;
      }
    }
    if (!balanced || depth !== 0) break;
    e = inner.trim();
  }
  return e;
}

export function splitSetOperators(expr: string): string[] {
  const mask = topLevelMask(expr);
  const parts: string[] = [];
  let start = 0;
  const op = /(^|[\s)])(and|or|unless)(\s+(on|ignoring)\s*\([^)]*\))?(?=[\s(])/g;
  for (const m of expr.matchAll(op)) {
    const at = m.index + m[1]!.length;
    if (!mask[at]) continue;
    parts.push(expr.slice(start, at));
    start = m.index + m[0].length;
  }
  parts.push(expr.slice(start));
  return parts.map((p) => p.trim());
}

export function stripComparison(expr: string): string {
  const e = unwrapParens(expr);
  const m = /(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/.exec(e);
  if (!m || !topLevelMask(e)[m.index]) return e;
  return unwrapParens(e.slice(0, m.index));
}

/** `absent(X)` / `absent_over_time(X)` as X, with its own signals; anything else as is. */
function unwrapAbsent(expr: string): string | undefined {
  const m = /^absent(_over_time)?\((.*)\)$/s.exec(expr);
  if (!m || unwrapParens(`(${m[2]!})`) !== m[2]!.trim()) return undefined;
  return m[2]!;
}

export function alertSignals(expr: string): string[] {
  const parts = splitSetOperators(stripComments(expr));
  if (parts.length > 1) return parts.flatMap(alertSignals);
  const e = unwrapParens(parts[0]!);
  if (splitSetOperators(e).length > 1) return alertSignals(e);
  const signal = stripComparison(e);
  const absent = unwrapAbsent(signal);
  return absent === undefined ? [signal] : alertSignals(absent);
}

/**
 * A signal without its `offset` modifiers: in a Prometheus that has run for minutes, `[1h]
 * offset 1d` selects nothing, though the metric and its labels are there (the test asks the same
 * selection now; promtool's unit tests check the offsets' meaning).
 */
export function withoutOffsets(signal: string): string {
  return signal.replace(/\s+offset\s+-?(\d+[smhdwy])+/g, '');
}

/** The metric names a signal selects that are EXTERNAL_METRICS, and whether it selects others. */
export function externalMetricsOf(signal: string): { external: string[]; others: boolean } {
  const names = [...signal.matchAll(/\b(kube_[a-z_]+|kubelet_[a-z_]+)\b/g)].map((m) => m[1]!);
  const external = [...new Set(names)].filter((n) => n in EXTERNAL_METRICS);
  const rest = signal.replace(/\b(kube_[a-z_]+|kubelet_[a-z_]+)\b(\{[^}]*\})?/g, '');
  return { external, others: /\b(tim_|up\b|nodejs_|process_)/.test(rest) };
}

/* ------------------------------------------------------------------------------------------ */

/**
 * Makes prometheus, promtool, prometheus-alertmanager and amtool available through the project's
 * script (idempotent).
 */
export function ensurePrometheusInstalled(): void {
  if (
    spawnSync(
      'sh',
      [
        '-c',
        'command -v promtool && command -v prometheus && command -v amtool && command -v prometheus-alertmanager',
      ],
      { stdio: 'ignore' },
    ).status !== 0
  ) {
    execFileSync('bash', [INSTALL_SCRIPT], { stdio: 'inherit' });
  }
}

/**
 * Both example consumers on `topic`, so that their metrics exist: moderation with a rule that
 * matches the text fixture ("red packet") and asks for a recall (disabled: RECALL_DISABLED);
 * analytics also on an (empty) topic of group messages, so that its `tim_analytics_group_*`
 * series exist too.
 */
export async function startObservedConsumers(
  kafka: Kafka,
  topic: string,
): Promise<{ consumers: TestConsumer[]; dispose(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tim-obs-rules-'));
  const rules = join(dir, 'rules.yaml');
  writeFileSync(
    rules,
    'rules:\n  - { id: red-packet, kind: word, action: recall, words: [red packet] }\n',
  );
  const groupTopic = `${topic}.group-in`;
  await ensureTopic(kafka, { topic: groupTopic, numPartitions: 1, replicationFactor: 1 });
  const consumers = [
    await startTestConsumer('analytics', topic, { GROUP_KAFKA_TOPIC: groupTopic }),
    await startTestConsumer('moderation', topic, { MODERATION_RULES_FILE: rules }),
  ];
  return {
    consumers,
    async dispose() {
      for (const c of consumers) {
        await Promise.race([c.dispose(), new Promise((r) => setTimeout(r, 15000))]);
        const e = c.env;
        await deleteTopics(
          kafka,
          [
            e.ANALYTICS_TOPIC,
            e.ANALYTICS_STATE_TOPIC,
            e.ANALYTICS_GROUP_TOPIC,
            e.MODERATION_VERDICTS_TOPIC,
            e.CONSUMER_DLQ_TOPIC,
          ].filter((t): t is string => t !== undefined),
        ).catch(() => undefined);
      }
      await deleteTopics(kafka, [groupTopic]).catch(() => undefined);
    },
  };
}
