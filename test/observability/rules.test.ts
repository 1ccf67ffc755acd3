import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { headingAnchors } from '../docs/markdown';
import {
  CONFIGMAP_FILE,
  PROMETHEUS_RULE_FILE,
  RULES_FILE,
  RULES_TEST_FILE,
  alertSignals,
  ensurePrometheusInstalled,
  loadDashboard,
  loadRuleGroups,
  splitSetOperators,
  stripComparison,
} from './support';

/**
 * The alert rules: valid for Prometheus (promtool check), right on synthetic series (promtool
 * test: each alert fires on a bad series and stays quiet on a healthy one), complete, and the
 * Kubernetes forms (PrometheusRule, dashboard ConfigMap) equal to their sources.
 */
const promtool = (...args: string[]) => {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
};

const ALERTS = [
  'TimBridgeNoCallbacks',
  'TimBridgeHighRefusalRatio',
  'TimBridgeSlowReplies',
  'TimBridgeSpoolNotEmpty',
  'TimBridgeSpoolAlmostFull',
  'TimBridgeRecordsRefusedByKafka',
  'TimBridgeRecordsQuarantined',
  'TimBridgeDeadLettersGrowing',
  'TimBridgeNotReady',
  'TimBridgeKafkaDisconnected',
  'TimBridgeDecisionServiceFailing',
  'TimBridgeBeforeCallbacksLost',
  'TimConsumerNotReady',
  'TimConsumerLagging',
  'TimConsumerDeadLetters',
];

beforeAll(() => ensurePrometheusInstalled());

test('promtool check rules passes', () => {
  const r = promtool('check', 'rules', RULES_FILE);
  expect(r.output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
  expect(r.status).toBe(0);
});

test('promtool test rules passes: every alert fires on its bad series, none on the healthy ones', () => {
  const r = promtool('test', 'rules', RULES_TEST_FILE);
  if (r.status !== 0) throw new Error(r.output);
  expect(r.output).toContain('SUCCESS');
  // each alert has a test group with a firing expectation
  const tests = parse(readFileSync(RULES_TEST_FILE, 'utf8')) as {
    tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const firing = new Set(
    tests.tests.flatMap((t) =>
      t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
    ),
  );
  expect([...firing].sort()).toEqual([...ALERTS].sort());
});

describe('the unit tests catch a broken rule', () => {
  // each alert replaced by one that never fires, then by one that always does: promtool test
  // must fail both times (it would not, if the tests did not pin the alert down)
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tim-rules-'));
    copyFileSync(RULES_TEST_FILE, join(dir, basename(RULES_TEST_FILE)));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each(ALERTS)('%s', (alert) => {
    for (const expr of ['vector(1) < 0', 'vector(1)']) {
      const doc = parse(readFileSync(RULES_FILE, 'utf8')) as {
        groups: { rules: { alert: string; expr: string }[] }[];
      };
      const rule = doc.groups.flatMap((g) => g.rules).find((r) => r.alert === alert)!;
      rule.expr = expr;
      writeFileSync(join(dir, basename(RULES_FILE)), stringify(doc));
      const r = promtool('test', 'rules', join(dir, basename(RULES_TEST_FILE)));
      expect(r.status).not.toBe(0);
      expect(r.output).toContain(alert);
    }
  });
});

test('every alert has for, severity, summary, description and a runbook anchor in docs/operate.md', () => {
  const runbooks = headingAnchors(
    readFileSync(join(__dirname, '..', '..', 'docs', 'operate.md'), 'utf8'),
  );
  const rules = loadRuleGroups().flatMap((g) => g.rules);
  expect(rules.map((r) => r.alert)).toEqual(ALERTS);
  for (const r of rules) {
    expect(r.for).toMatch(/^\d+[smh]$/);
    expect(['warning', 'critical']).toContain(r.labels?.severity);
    expect(r.annotations?.summary).toBeTruthy();
    expect(r.annotations?.description).toBeTruthy();
    expect(r.annotations?.runbook_url).toBe(
      `https://github.com/tim-kafka-bridge/tim-kafka-bridge/blob/main/docs/operate.md#runbook-${r.alert!.toLowerCase()}`,
    );
    expect(runbooks).toContain(`runbook-${r.alert!.toLowerCase()}`);
  }
});

test('the PrometheusRule carries exactly the rules file groups', () => {
  const resource = parse(readFileSync(PROMETHEUS_RULE_FILE, 'utf8')) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string; labels: Record<string, string> };
    spec: { groups: unknown };
  };
  expect(resource.apiVersion).toBe('monitoring.coreos.com/v1');
  expect(resource.kind).toBe('PrometheusRule');
  expect(resource.metadata.name).toBe('tim-kafka-bridge');
  expect(resource.metadata.labels.release).toBe('prometheus');
  expect(resource.spec.groups).toEqual(loadRuleGroups());
});

test('the dashboard ConfigMap carries exactly the dashboard JSON', () => {
  const cm = parse(readFileSync(CONFIGMAP_FILE, 'utf8')) as {
    apiVersion: string;
    kind: string;
    metadata: { labels: Record<string, string> };
    data: Record<string, string>;
  };
  expect(cm.apiVersion).toBe('v1');
  expect(cm.kind).toBe('ConfigMap');
  expect(cm.metadata.labels.grafana_dashboard).toBe('1');
  expect(Object.keys(cm.data)).toEqual(['tim-kafka-bridge.json']);
  expect(JSON.parse(cm.data['tim-kafka-bridge.json']!)).toEqual(loadDashboard());
});

describe('alert signals (what prometheus.test.ts evaluates instead of a firing condition)', () => {
  test('a trailing comparison with a number is removed, with its parentheses', () => {
    expect(stripComparison('max by (job) (tim_bridge_ready) == 0')).toBe(
      'max by (job) (tim_bridge_ready)',
    );
    expect(stripComparison('(sum(rate(a[5m])) / sum(rate(b[5m]))) > bool 0.05')).toBe(
      'sum(rate(a[5m])) / sum(rate(b[5m]))',
    );
    expect(stripComparison('histogram_quantile(0.99, x) > 1e0')).toBe(
      'histogram_quantile(0.99, x)',
    );
    // not at the top level, or not against a number: kept
    expect(stripComparison('sum(x > 1)')).toBe('sum(x > 1)');
    expect(stripComparison('a > b')).toBe('a > b');
  });

  test('set operators split an expression into its operands', () => {
    expect(splitSetOperators('(a > 0) unless on (job) (b > 0)')).toEqual(['(a > 0)', '(b > 0)']);
    expect(splitSetOperators('a and b or c')).toEqual(['a', 'b', 'c']);
    expect(splitSetOperators('sum(x{mode="and"}) / sum(y)')).toEqual([
      'sum(x{mode="and"}) / sum(y)',
    ]);
    expect(splitSetOperators('sum by (namespace, job) (tim_bridge_ready)')).toHaveLength(1);
  });

  test('every alert has at least one signal, none of them a comparison with a number', () => {
    for (const r of loadRuleGroups().flatMap((g) => g.rules)) {
      const signals = alertSignals(r.expr);
      expect(signals.length).toBeGreaterThan(0);
      for (const s of signals) expect(s).not.toMatch(/(==|!=|>=|<=|>|<)\s*[\d.]+\s*$/);
    }
  });
});
