import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { REFUSAL_FAULT, refusalReasons } from '../../src/errors';
import { LATENCY_BUCKETS } from '../../src/observability/metrics';
import { headingAnchors } from '../docs/markdown';
import {
  CONFIGMAP_FILE,
  GENERATE_SCRIPT,
  OBS_DIR,
  PROMETHEUS_RULE_FILE,
  RULES_FILE,
  RULES_TEST_FILES,
  alertSignals,
  ensurePrometheusInstalled,
  externalMetricsOf,
  loadDashboard,
  loadRuleGroups,
  splitSetOperators,
  stripComments,
  stripComparison,
  withoutOffsets,
  type Rule,
  type RuleGroup,
} from './support';

/**
 * The alert and recording rules: valid for Prometheus (promtool check), right on synthetic series
 * (promtool test: each alert fires on a bad series and stays quiet on a healthy one), complete,
 * labelled and annotated for routing, and the Kubernetes forms (PrometheusRule, dashboard
 * ConfigMap) equal to their sources.
 */
const promtool = (...args: string[]) => {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
};
/** promtool, not waited for: the mutation tests run theirs side by side. */
const promtoolAsync = (...args: string[]) =>
  new Promise<{ status: number | null; output: string }>((resolve, reject) => {
    const p = spawn('promtool', args);
    let output = '';
    p.stdout.on('data', (c: Buffer) => (output += c.toString()));
    p.stderr.on('data', (c: Buffer) => (output += c.toString()));
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, output }));
  });

const ALERTS = [
  'TimBridgeAvailabilityBurnRateHigh',
  'TimBridgeAvailabilityBurnRateElevated',
  'TimBridgeLatencyBurnRateHigh',
  'TimBridgeLatencyBurnRateElevated',
  'TimBridgeNoCallbacks',
  'TimBridgeClientFaultRefusals',
  'TimBridgeUnauthenticated',
  'TimBridgeSpoolNotEmpty',
  'TimBridgeSpoolAlmostFull',
  'TimBridgeSpoolDrainFailing',
  'TimBridgeProduceFailures',
  'TimBridgeSchemaRegistryErrors',
  'TimBridgeRecordsRefusedByKafka',
  'TimBridgeRecordsQuarantined',
  'TimBridgeDeadLettersGrowing',
  'TimBridgeNotReady',
  'TimBridgeNotReadyStrict',
  'TimBridgeKafkaDisconnected',
  'TimBridgeDecisionServiceFailing',
  'TimBridgeBeforeCallbacksLost',
  'TimBridgeAbsent',
  'TimConsumerAbsent',
  'TimBridgeTargetDown',
  'TimConsumerTargetDown',
  'TimBridgeReplicasBelowMinimum',
  'TimBridgeSpoolVolumeFull',
  'TimConsumerNotReady',
  'TimConsumerLagging',
  'TimConsumerDeadLetters',
  'TimConsumerCrashing',
  'TimConsumerCommitFailures',
];
/** The multiwindow, multi-burn-rate alerts: each `or` operand is one pair of windows. */
const BURN_RATE_ALERTS = ALERTS.filter((a) => a.includes('BurnRate'));
const WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'];

/** The defaults generate.sh replaces (the rules file carries them), read from the script. */
function generateDefaults(): { runbook: string; grafana: string; team: string } {
  const script = readFileSync(GENERATE_SCRIPT, 'utf8');
  const value = (name: string) => new RegExp(`^${name}=(.+)$`, 'm').exec(script)![1]!;
  return {
    runbook: value('DEFAULT_RUNBOOK_BASE_URL'),
    grafana: value('DEFAULT_GRAFANA_URL'),
    team: value('DEFAULT_ALERT_TEAM'),
  };
}

const alertRules = (groups: RuleGroup[] = loadRuleGroups()): Rule[] =>
  groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
const recordingRules = (): Rule[] =>
  loadRuleGroups()
    .flatMap((g) => g.rules)
    .filter((r) => r.record !== undefined);

interface TestFile {
  evaluation_interval?: string;
  tests: {
    name: string;
    alert_rule_test: { alertname: string; eval_time: string; exp_alerts: unknown[] }[];
  }[];
}
const loadTests = (file: string) => parse(readFileSync(file, 'utf8')) as TestFile;

beforeAll(() => ensurePrometheusInstalled());

test('promtool check rules passes', () => {
  const r = promtool('check', 'rules', RULES_FILE);
  expect(r.output).toContain(`SUCCESS: ${ALERTS.length + recordingRules().length} rules found`);
  expect(r.status).toBe(0);
});

test('promtool test rules passes: every alert fires on its bad series, and is quiet at another time', () => {
  const r = promtool('test', 'rules', ...RULES_TEST_FILES);
  if (r.status !== 0) throw new Error(r.output);
  expect(r.output).toContain('SUCCESS');
  const evaluations = RULES_TEST_FILES.flatMap((f) =>
    loadTests(f).tests.flatMap((t) => t.alert_rule_test),
  );
  const firing = new Set(
    evaluations.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
  );
  const quiet = new Set(
    evaluations.filter((a) => a.exp_alerts.length === 0).map((a) => a.alertname),
  );
  expect([...firing].sort()).toEqual([...ALERTS].sort());
  expect([...quiet].sort()).toEqual([...ALERTS].sort());
});

describe('the unit tests catch a broken rule', () => {
  // each alert replaced by one that never fires, then by one that always does: promtool test
  // must fail both times (it would not, if the tests did not pin the alert down). Only the test
  // groups that evaluate the alert run (each in a file with its own evaluation interval).
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tim-rules-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  let runs = 0;
  /** promtool test of the groups that evaluate `alert`, the rule's expression replaced. */
  function testWith(
    alert: string,
    expr: string,
  ): Promise<{ status: number | null; output: string }> {
    const run = join(dir, String(++runs));
    mkdirSync(run);
    const doc = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: RuleGroup[] };
    alertRules(doc.groups).find((r) => r.alert === alert)!.expr = expr;
    writeFileSync(join(run, basename(RULES_FILE)), stringify(doc));
    const files: string[] = [];
    for (const file of RULES_TEST_FILES) {
      const tests = loadTests(file);
      tests.tests = tests.tests.filter((t) => t.alert_rule_test.some((a) => a.alertname === alert));
      if (tests.tests.length === 0) continue;
      files.push(join(run, basename(file)));
      writeFileSync(files.at(-1)!, stringify(tests));
    }
    return promtoolAsync('test', 'rules', ...files);
  }

  test.each(ALERTS)('%s', async (alert) => {
    const results = await Promise.all(
      ['vector(1) < 0', 'vector(1)'].map((expr) => testWith(alert, expr)),
    );
    for (const r of results) {
      expect(r.status).not.toBe(0);
      expect(r.output).toContain(alert);
    }
  });

  // both pairs of windows of each burn-rate alert are needed: without either, a test fails
  test.each(BURN_RATE_ALERTS)('%s without one pair of windows', async (alert) => {
    const rule = alertRules().find((r) => r.alert === alert)!;
    const pairs = splitSetOperators(stripComments(rule.expr));
    expect(pairs).toHaveLength(2);
    const results = await Promise.all(
      pairs.map((pair) => testWith(alert, pairs.filter((p) => p !== pair).join('\n'))),
    );
    pairs.forEach((pair, i) =>
      expect({ without: pair, failed: results[i]!.status !== 0 }).toEqual({
        without: pair,
        failed: true,
      }),
    );
  });

  test('TimBridgeNoCallbacks without its usual-traffic condition fires on a quiet night', async () => {
    const rule = alertRules().find((r) => r.alert === 'TimBridgeNoCallbacks')!;
    const expr = stripComments(rule.expr);
    const at = expr.indexOf('\nand on (namespace, job)\n');
    expect(at).toBeGreaterThan(0);
    const r = await testWith('TimBridgeNoCallbacks', expr.slice(0, at));
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('job="night"');
  });
});

test('every alert has for, severity, team, service, summary, description, a runbook anchor in docs/operate.md and the dashboard', () => {
  const operate = readFileSync(join(__dirname, '..', '..', 'docs', 'operate.md'), 'utf8');
  const runbooks = headingAnchors(operate);
  const { runbook, grafana, team } = generateDefaults();
  const rules = alertRules();
  expect(rules.map((r) => r.alert)).toEqual(ALERTS);
  for (const r of rules) {
    const where = { alert: r.alert };
    expect({ ...where, for: r.for }).toEqual({
      ...where,
      for: expect.stringMatching(/^\d+[smh]$/),
    });
    expect({ ...where, labels: r.labels }).toEqual({
      ...where,
      labels: {
        severity: expect.stringMatching(/^(page|ticket|warning)$/),
        team,
        service: r.alert!.startsWith('TimConsumer')
          ? 'tim-kafka-bridge-consumers'
          : 'tim-kafka-bridge',
      },
    });
    expect({ ...where, annotations: r.annotations }).toEqual({
      ...where,
      annotations: {
        summary: expect.any(String),
        description: expect.any(String),
        runbook_url: `${runbook}#runbook-${r.alert!.toLowerCase()}`,
        dashboard: `${grafana}/d/${loadDashboard().uid}/tim-kafka-bridge`,
      },
    });
    expect(runbooks).toContain(`runbook-${r.alert!.toLowerCase()}`);
  }
});

test("docs/operate.md's table of alerts lists every alert with its severity", () => {
  const operate = readFileSync(join(__dirname, '..', '..', 'docs', 'operate.md'), 'utf8');
  const rows = [
    ...operate.matchAll(/^\| \[`(Tim\w+)`\]\(#runbook-(\w+)\) +\| `(page|ticket|warning)` +\|/gm),
  ];
  expect(rows.map((m) => [m[1], m[2], m[3]])).toEqual(
    alertRules().map((r) => [r.alert, r.alert!.toLowerCase(), r.labels!.severity]),
  );
});

/** Rule groups with the deployment-specific values (runbook base, Grafana, team) taken out. */
function withoutDeploymentValues(groups: RuleGroup[]): RuleGroup[] {
  return groups.map((g) => ({
    ...g,
    rules: g.rules.map((r) => {
      if (r.alert === undefined) return r;
      const labels = { ...r.labels };
      delete labels.team;
      return {
        ...r,
        labels,
        annotations: {
          ...r.annotations,
          runbook_url: r.annotations!.runbook_url!.replace(/^[^#]*/, ''),
          dashboard: r.annotations!.dashboard!.replace(/^.*(?=\/d\/)/, ''),
        },
      };
    }),
  }));
}

test('the PrometheusRule carries exactly the rules file groups (but for the runbook base, Grafana and team)', () => {
  const resource = parse(readFileSync(PROMETHEUS_RULE_FILE, 'utf8')) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string; labels: Record<string, string> };
    spec: { groups: RuleGroup[] };
  };
  expect(resource.apiVersion).toBe('monitoring.coreos.com/v1');
  expect(resource.kind).toBe('PrometheusRule');
  expect(resource.metadata.name).toBe('tim-kafka-bridge');
  expect(resource.metadata.labels.release).toBe('prometheus');
  expect(withoutDeploymentValues(resource.spec.groups)).toEqual(
    withoutDeploymentValues(loadRuleGroups()),
  );
});

describe('generate.sh sets where the alerts point for a deployment', () => {
  let dir: string;
  beforeAll(() => {
    // a copy of observability/ and the k8s folder it writes into
    dir = mkdtempSync(join(tmpdir(), 'tim-generate-'));
    cpSync(OBS_DIR, join(dir, 'observability'), { recursive: true });
    mkdirSync(join(dir, 'k8s', 'base', 'observability'), { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const generate = (env: Record<string, string>) =>
    spawnSync('bash', [join(dir, 'observability', 'generate.sh')], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });

  test('RUNBOOK_BASE_URL, GRAFANA_URL and ALERT_TEAM in the PrometheusRule and in RULES_OUT', () => {
    const out = join(dir, 'rules.yml');
    const r = generate({
      RUNBOOK_BASE_URL: 'https://wiki.example.com/sre/tim-kafka-bridge',
      GRAFANA_URL: 'https://grafana.example.com/',
      ALERT_TEAM: 'messaging',
      RULES_OUT: out,
    });
    expect(r.status).toBe(0);
    const resource = parse(
      readFileSync(join(dir, 'k8s', 'base', 'observability', 'prometheusrule.yaml'), 'utf8'),
    ) as { spec: { groups: RuleGroup[] } };
    const plain = (parse(readFileSync(out, 'utf8')) as { groups: RuleGroup[] }).groups;
    expect(resource.spec.groups).toEqual(plain);
    expect(promtool('check', 'rules', out).status).toBe(0);
    for (const rule of alertRules(plain)) {
      expect(rule.annotations?.runbook_url).toBe(
        `https://wiki.example.com/sre/tim-kafka-bridge#runbook-${rule.alert!.toLowerCase()}`,
      );
      expect(rule.annotations?.dashboard).toBe(
        'https://grafana.example.com/d/tim-kafka-bridge/tim-kafka-bridge',
      );
      expect(rule.labels?.team).toBe('messaging');
    }
    // and nothing else changed
    expect(withoutDeploymentValues(plain)).toEqual(withoutDeploymentValues(loadRuleGroups()));
  });

  test('without them, the defaults: the rules file as it is', () => {
    const out = join(dir, 'default.yml');
    expect(generate({ RULES_OUT: out }).status).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(RULES_FILE, 'utf8'));
  });

  test.each([
    ['RUNBOOK_BASE_URL', 'https://wiki.example.com/page#section'],
    ['RUNBOOK_BASE_URL', 'wiki.example.com'],
    ['GRAFANA_URL', 'https://grafana.example.com/x y'],
    ['ALERT_TEAM', 'team: x'],
  ])('a value YAML or the link cannot take is refused: %s=%s', (name, value) => {
    const r = generate({ [name]: value });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(name);
  });
});

describe('the SLOs', () => {
  const OURS = refusalReasons('ours').join('|');

  test('the recording rules: an availability and a latency error ratio per window', () => {
    expect(recordingRules().map((r) => r.record)).toEqual([
      ...WINDOWS.map((w) => `tim:bridge_availability_errors:ratio_rate${w}`),
      ...WINDOWS.map((w) => `tim:bridge_latency_slow:ratio_rate${w}`),
    ]);
    for (const r of recordingRules()) {
      const window = /ratio_rate(\w+)$/.exec(r.record!)![1]!;
      // every range of the rule is its window
      expect([...r.expr.matchAll(/\[(\w+)\]/g)].map((m) => m[1])).toEqual(
        expect.arrayContaining([window]),
      );
      expect(new Set([...r.expr.matchAll(/\[(\w+)\]/g)].map((m) => m[1]))).toEqual(
        new Set([window]),
      );
    }
  });

  test('bad events are the refusals of our fault, exactly as src/errors.ts classifies them', () => {
    // every selection of refusals in the SLO rules is of the `ours` reasons
    for (const r of recordingRules().filter((x) => x.record!.includes('availability'))) {
      const selectors = [...r.expr.matchAll(/tim_bridge_callbacks_refused_total\{([^}]*)\}/g)];
      expect(selectors).toHaveLength(2);
      for (const s of selectors) expect(s[1]).toBe(`reason=~"${OURS}"`);
    }
    // the client-fault warning names client faults only
    const warning = alertRules().find((r) => r.alert === 'TimBridgeClientFaultRefusals')!;
    const reasons = /reason=~"([^"]*)"/.exec(warning.expr)![1]!.split('|');
    for (const reason of reasons) {
      expect({ reason, fault: REFUSAL_FAULT[reason as keyof typeof REFUSAL_FAULT] }).toEqual({
        reason,
        fault: 'client',
      });
    }
  });

  test("docs/operate.md's table of refusal reasons agrees with src/errors.ts", () => {
    const operate = readFileSync(join(__dirname, '..', '..', 'docs', 'operate.md'), 'utf8');
    const rows = [
      ...operate.matchAll(/^\| `(\w+)` +\| (our fault|client's fault|no callback) +\|/gm),
    ];
    const fault = { 'our fault': 'ours', "client's fault": 'client', 'no callback': 'unrouted' };
    expect(Object.fromEntries(rows.map((m) => [m[1], fault[m[2] as keyof typeof fault]]))).toEqual(
      REFUSAL_FAULT,
    );
  });

  test('the latency SLI reads the 1 s bucket the bridge has', () => {
    expect(LATENCY_BUCKETS).toContain(1);
    for (const r of recordingRules().filter((x) => x.record!.includes('latency'))) {
      expect(r.expr).toContain('le=~"1(\\\\.0)?"');
    }
  });
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

  test('comments go, parenthesised set operations are split too, absent(X) gives X', () => {
    expect(stripComments('# or this\na > 0 # and that\nor b{x="#"}')).toBe('a > 0\nor b{x="#"}');
    expect(alertSignals('(a > 1 and b > 2)\nor\n(c > 3 and d > 4)')).toEqual(['a', 'b', 'c', 'd']);
    expect(alertSignals('x unless (y >= 1) and (z >= 60 or w >= 60)')).toEqual([
      'x',
      'y',
      'z',
      'w',
    ]);
    expect(alertSignals('absent(up{job="a"} == 1) or absent(up{job="b"})')).toEqual([
      'up{job="a"}',
      'up{job="b"}',
    ]);
    expect(withoutOffsets('sum(increase(x[1h] offset 1d)) + y[5m] offset 1w2d')).toBe(
      'sum(increase(x[1h])) + y[5m]',
    );
    expect(externalMetricsOf('max(kube_a_b{x="y"}) < max(kubelet_c)')).toEqual({
      external: [],
      others: false,
    });
    expect(
      externalMetricsOf(
        'max by (namespace) (kube_statefulset_status_replicas_ready) < tim_bridge_ready',
      ),
    ).toEqual({ external: ['kube_statefulset_status_replicas_ready'], others: true });
  });

  test('every alert has at least one signal, none of them a comparison with a number', () => {
    for (const r of alertRules()) {
      const signals = alertSignals(r.expr);
      expect(signals.length).toBeGreaterThan(0);
      for (const s of signals) expect(s).not.toMatch(/(==|!=|>=|<=|>|<)\s*[\d.]+\s*$/);
    }
  });
});
