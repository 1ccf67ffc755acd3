import { CATALOGUE, OTHER_COMMAND, familyOf } from '../../src/catalogue/catalogue';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { loadCommandFixtures, loadFixtures } from '../support/fixtures';
import { freePort } from '../support/process';
import { scrape, waitFor } from '../support/wait';
import {
  EXTERNAL_JOINS,
  EXTERNAL_METRICS,
  FAMILY_MATCHER,
  FAMILY_VARIABLE,
  allPanels,
  applyVariableRegex,
  dashboardExprs,
  externalMetricsOf,
  loadDashboard,
  loadRuleGroups,
  metricNames,
  rowPanels,
  ruleExprs,
  selectors,
  startObservedConsumers,
  substituteVariables,
} from './support';

/**
 * The Grafana dashboard is a valid dashboard model (what Grafana needs to load and provision
 * it), filtered by its variables everywhere, and names only metrics a real bridge and the real consumers export.
 */
const dashboard = loadDashboard();
const panels = allPanels(dashboard);
const queryPanels = panels.filter((p) => p.type !== 'row');
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

describe('the dashboard model', () => {
  test('is a provisionable dashboard: uid, title, schemaVersion, no __inputs', () => {
    expect(dashboard.uid).toBe('tim-kafka-bridge');
    expect(dashboard.title).toBe('tim-kafka-bridge');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.schemaVersion).toBeLessThanOrEqual(41);
    expect(dashboard.__inputs).toBeUndefined();
    expect(JSON.stringify(dashboard)).not.toMatch(/\$\{DS_[A-Z_]+\}/);
  });

  test('has the datasource, namespace, job, instance and family variables', () => {
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect([...vars.keys()]).toEqual(['datasource', 'namespace', 'job', 'instance', 'family']);
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const name of ['namespace', 'job', 'instance']) {
      const v = vars.get(name)!;
      expect(v).toMatchObject({ type: 'query', includeAll: true, allValue: '.*' });
      expect(v.datasource).toEqual(DATASOURCE);
      // label_values(<a bridge metric, or the bridge's and the consumers' ready>, <its label>)
      expect(v.definition).toMatch(
        new RegExp(
          `^label_values\\((tim_bridge_\\w+|\\{__name__=~"tim_bridge_ready\\|tim_consumer_ready").*, ${name}\\)$`,
        ),
      );
      expect(v.query).toMatchObject({ query: v.definition });
    }
  });

  test('the family variable lists the command families, filtered like the panels', () => {
    const v = dashboard.templating.list.find((x) => x.name === FAMILY_VARIABLE)!;
    // every family, each repeating the row (no allValue: "All" means each of them, not .*)
    expect(v).toMatchObject({ type: 'query', includeAll: true, multi: true });
    expect(v.allValue).toBeUndefined();
    expect(v.datasource).toEqual(DATASOURCE);
    expect(v.definition).toBe(
      'label_values(tim_bridge_command_records_total{namespace=~"$namespace", job=~"$job", instance=~"$instance"}, command)',
    );
    expect(v.query).toMatchObject({ query: v.definition });
    // its regex turns the command labels into their families (the part before the dot), and
    // `other` (an unknown command) into itself
    const commands = [...CATALOGUE.map((e) => e.command), OTHER_COMMAND];
    for (const c of commands) expect([c, applyVariableRegex(v, [c])]).toEqual([c, [familyOf(c)]]);
    expect(applyVariableRegex(v, commands)).toEqual(
      [
        'Alert',
        'Bot',
        'C2C',
        'Chatbot',
        'ContentCallback',
        'Follow',
        'Group',
        'OfficialAccount',
        'Profile',
        'Push',
        'Sns',
        'State',
        'other',
      ].sort(),
    );
  });

  test('one row repeats by family; each of its panels filters its commands by the family', () => {
    const repeated = dashboard.panels.filter((p) => p.repeat !== undefined);
    expect(repeated.map((p) => [p.type, p.repeat, p.title])).toEqual([
      ['row', FAMILY_VARIABLE, 'Commands: $family'],
    ]);
    const inRow = rowPanels(dashboard, repeated[0]!);
    expect(inRow.map((p) => p.title)).toEqual([
      'Records by command and outcome',
      'Before-callback decisions',
      'Decision service latency p99',
      'Decision service failures by problem',
    ]);
    for (const p of inRow)
      for (const t of p.targets!)
        for (const s of selectors(t.expr)) {
          if (!s.matchers?.includes(FAMILY_MATCHER))
            throw new Error(`panel "${p.title}" ${t.refId}: ${s.name} not filtered by family`);
        }
    // the family (a multi-value variable) only inside its repeated row
    const outside = queryPanels.filter((p) => !inRow.includes(p));
    for (const p of outside)
      for (const t of p.targets!)
        expect([p.title, t.expr.includes('$family')]).toEqual([p.title, false]);
  });

  test('every panel has a unique id, a gridPos inside 24 columns, and no two overlap', () => {
    const ids = panels.map((p) => p.id);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      const { x, y, w, h } = p.gridPos;
      expect([x, y, w, h].every((n) => Number.isInteger(n) && n >= 0)).toBe(true);
      expect(w).toBeGreaterThan(0);
      expect(h).toBeGreaterThan(0);
      expect(x + w).toBeLessThanOrEqual(24);
    }
    for (const [i, a] of panels.entries()) {
      for (const b of panels.slice(i + 1)) {
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        if (overlap) throw new Error(`panels "${a.title}" and "${b.title}" overlap`);
      }
    }
  });

  test('every panel queries the ${datasource} variable, with refIds unique per panel', () => {
    expect(queryPanels.length).toBeGreaterThanOrEqual(15);
    for (const p of queryPanels) {
      expect(p.title).toBeTruthy();
      expect(p.datasource).toEqual(DATASOURCE);
      expect(p.targets?.length).toBeGreaterThan(0);
      const refIds = p.targets!.map((t) => t.refId);
      expect(new Set(refIds).size).toBe(refIds.length);
      for (const t of p.targets!) {
        expect(t.refId).toMatch(/^[A-Z]$/);
        expect(t.expr.trim()).not.toBe('');
        expect(t.datasource).toEqual(DATASOURCE);
      }
    }
  });

  test('has the panels operators need', () => {
    const all = dashboardExprs().map((e) => e.expr);
    const has = (re: RegExp) => expect(all.some((e) => re.test(e))).toBe(true);
    has(/sum by \(outcome\) \(rate\(tim_bridge_callbacks_accepted_total/);
    has(/sum by \(reason\) \(rate\(tim_bridge_callbacks_refused_total/);
    for (const q of ['0.5', '0.95', '0.99'])
      has(new RegExp(`histogram_quantile\\(${q}, .*tim_bridge_reply_duration_seconds_bucket`));
    has(/tim_bridge_kafka_ack_duration_seconds_bucket/);
    has(/tim_bridge_producer_batch_records_(bucket|sum)/);
    for (const m of [
      'spool_records',
      'spool_bytes',
      'spool_oldest_record_age_seconds',
      'spool_usage_ratio',
    ])
      has(new RegExp(`tim_bridge_${m}\\{`));
    has(/outcome="dlq"/);
    has(/nodejs_eventloop_lag_p99_seconds/);
    has(/process_resident_memory_bytes/);
    has(/nodejs_heap_size_used_bytes/);
    has(/^sum\(tim_bridge_ready\{/);
    has(/tim_bridge_kafka_connected/);
    // requests to other paths or methods than POST /callback
    has(/^sum by \(reason\) \(rate\(tim_bridge_requests_unrouted_total\{/);
    // the consumers: batch duration, what the analytics windows did not count
    has(
      /^histogram_quantile\(0\.99, sum by \(consumer, le\) \(rate\(tim_consumer_batch_duration_seconds_bucket\{/,
    );
    for (const p of ['tim_analytics_', 'tim_analytics_group_'])
      for (const m of ['dropped_late_events_total', 'out_of_range_events_total'])
        has(new RegExp(`^sum\\(rate\\(${p}${m}\\{`));
    // Kubernetes: restarts, CPU throttling, the HPA's replicas against its bounds
    has(/^sum by \(pod\) \(increase\(kube_pod_container_status_restarts_total\{/);
    has(
      /^sum by \(pod\) \(rate\(container_cpu_cfs_throttled_periods_total\{.* \/ sum by \(pod\) \(rate\(container_cpu_cfs_periods_total\{/,
    );
    for (const m of ['status_current_replicas', 'spec_min_replicas', 'spec_max_replicas'])
      has(
        new RegExp(`^max by \\(horizontalpodautoscaler\\) \\(kube_horizontalpodautoscaler_${m}\\{`),
      );
    // "Ready replicas": in service for the Kubernetes probe, and the strict view beside it
    const readyPanel = queryPanels.find((p) => p.title === 'Ready replicas')!;
    expect(readyPanel.targets!.map((t) => t.expr.replace(/\{.*$/, ''))).toEqual([
      'sum(tim_bridge_ready',
      'sum(tim_bridge_ready_strict',
    ]);
    // per command family: records, before-callback decisions, the decision service
    has(/sum by \(command, outcome\) \(rate\(tim_bridge_command_records_total\{/);
    has(/sum by \(outcome, decided_by\) \(rate\(tim_bridge_before_callback_decisions_total\{/);
    has(
      /^histogram_quantile\(0\.99, sum by \(command, le\) \(rate\(tim_bridge_before_callback_upstream_duration_seconds_bucket\{/,
    );
    has(/sum by \(problem\) \(rate\(tim_bridge_before_callback_upstream_failures_total\{/);
    // the reply latency panel draws Tencent's 2 s limit
    const latency = queryPanels.find((p) =>
      p.targets!.some((t) => t.expr.includes('tim_bridge_reply_duration_seconds_bucket')),
    ) as unknown as {
      fieldConfig: {
        defaults: {
          unit: string;
          thresholds: { steps: { value: number | null }[] };
          custom: { thresholdsStyle: { mode: string } };
        };
      };
    };
    expect(latency.fieldConfig.defaults.unit).toBe('s');
    expect(latency.fieldConfig.defaults.thresholds.steps.map((s) => s.value)).toContain(2);
    expect(latency.fieldConfig.defaults.custom.thresholdsStyle.mode).not.toBe('off');
  });

  test('every metric selector is filtered by namespace, job and instance', () => {
    for (const { where, expr } of dashboardExprs()) {
      const sels = selectors(expr);
      expect(sels.length).toBeGreaterThan(0);
      for (const s of sels) {
        if (s.matchers === undefined) throw new Error(`${where}: ${s.name} without matchers`);
        const external = EXTERNAL_METRICS[s.name];
        if (external && external.scope !== 'target') {
          // a Kubernetes exporter's series (no job or instance of ours): the namespace, and
          // joined to the selected targets, once per such selector
          expect(s.matchers).toContain('namespace=~"$namespace"');
          const scoped = sels.filter((x) => EXTERNAL_METRICS[x.name]?.scope === external.scope);
          // the alerts' objects (statefulset, pvc) have no join for panels: none may use them
          const join = (EXTERNAL_JOINS as Record<string, string | undefined>)[external.scope];
          if (join === undefined) throw new Error(`${where}: ${s.name} is for alerts only`);
          const joins = expr.split(join).length - 1;
          if (joins < scoped.length)
            throw new Error(
              `${where}: ${s.name} (${external.source}) not kept to the selected targets by ${join}`,
            );
          continue;
        }
        for (const v of ['namespace', 'job', 'instance'])
          expect(s.matchers).toContain(`${v}=~"$${v}"`);
      }
      expect(() => substituteVariables(expr)).not.toThrow();
    }
  });

  test('counters are drawn as rates or increases, never raw', () => {
    const raw: string[] = [];
    for (const { where, expr } of dashboardExprs())
      for (const m of expr.matchAll(/\b\w+_(?:total|bucket|sum|count)\b(?=\s*\{)/g))
        if (!/\b(?:rate|irate|increase)\(\s*$/.test(expr.slice(0, m.index)))
          raw.push(`${where}: ${m[0]}`);
    expect(raw).toEqual([]);
  });

  test("legends name pods, not their addresses (the ServiceMonitor's pod label)", () => {
    const byAddress = queryPanels.flatMap((p) =>
      p
        .targets!.filter((t) =>
          /\{\{\s*instance\s*\}\}|by \([^)]*\binstance\b/.test(`${t.legendFormat ?? ''} ${t.expr}`),
        )
        .map((t) => `panel "${p.title}" ${t.refId}`),
    );
    expect(byAddress).toEqual([]);
  });
});

describe('against a real scrape', () => {
  let bridge: TestBridge;
  let consumers: Awaited<ReturnType<typeof startObservedConsumers>> | undefined;
  let exposition: string;
  beforeAll(async () => {
    // before-callbacks forwarded to a decision service that is not there (a port nobody
    // listens on): decided fail-open, timed and counted as failures (network)
    bridge = await startTestBridge('obs-dashboard', {
      BODY_LIMIT_BYTES: '4096',
      BEFORE_CALLBACK_UPSTREAM_URL: `http://127.0.0.1:${await freePort()}/decide`,
      BEFORE_CALLBACK_FORWARD: 'C2C.*',
    });
    consumers = await startObservedConsumers(bridge.kafka, bridge.topic);
    const text = loadFixtures().find((f) => f.name === 'text.json')!.text;
    // an OK, a refusal and a dead letter, so that labelled series exist
    const ok = await postCallback(bridge.callbackUrl, text);
    expect(await ok.text()).toBe(OK_REPLY);
    expect((await postCallback(bridge.callbackUrl, '{')).status).toBe(400);
    const dlq = await postCallback(bridge.callbackUrl, text.replace('"MsgSeq":', '"MsgSeq":"x",'));
    expect(dlq.status).toBe(400);
    const before = loadCommandFixtures().find(
      (f) => f.command === 'C2C.CallbackBeforeSendMsg' && f.name === 'sample.json',
    )!;
    const decided = await postCallback(bridge.callbackUrl, before.text, { query: before.query });
    expect(await decided.text()).toBe(OK_REPLY); // fail-open: allowed
    // the consumers' too, once they processed the OK'd callback (their per-record series exist)
    const scrapes = await waitFor('both consumers to process the callback', async () => {
      const texts = await Promise.all(consumers!.consumers.map((c) => scrape(c.adminUrl)));
      const done = (t: string) =>
        t.includes('tim_consumer_batch_duration_seconds_count{') &&
        t.includes('tim_consumer_lag_records{');
      return texts.every(done) && texts;
    });
    exposition = [await scrape(bridge.adminUrl), ...scrapes].join('\n');
  });
  afterAll(async () => {
    await consumers?.dispose();
    await bridge?.dispose();
  });

  test('every metric the dashboard and the alert rules name is in it', () => {
    const exported = new Set(
      exposition
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.replace(/[{ ].*$/, '')),
    );
    expect(exported.has('tim_bridge_callbacks_accepted_total')).toBe(true);
    expect(exported.has('tim_bridge_before_callback_upstream_failures_total')).toBe(true);
    const missing: string[] = [];
    // a rule may read only recorded series (tim:...), `up` or other exporters' metrics
    // (EXTERNAL_METRICS); the recorded ones must have their recording rule
    const recorded = new Set(
      loadRuleGroups()
        .flatMap((g) => g.rules)
        .map((r) => r.record),
    );
    for (const { where, expr } of [...dashboardExprs(), ...ruleExprs()]) {
      const names = metricNames(expr);
      const reads = [...expr.matchAll(/\btim:[a-z0-9_:]+/g)].map((m) => m[0]);
      for (const r of reads) if (!recorded.has(r)) missing.push(`${where}: ${r} (not recorded)`);
      const others = /\bup\{/.test(expr) || externalMetricsOf(expr).external.length > 0;
      expect({ where, selects: names.length + reads.length > 0 || others }).toEqual({
        where,
        selects: true,
      });
      // Prometheus' and Kubernetes exporters' series: named, with their source, in EXTERNAL_METRICS
      for (const n of names)
        if (!exported.has(n) && !(n in EXTERNAL_METRICS)) missing.push(`${where}: ${n}`);
    }
    // and none of those is ours
    expect(Object.keys(EXTERNAL_METRICS).filter((n) => exported.has(n))).toEqual([]);
    // the variables' label_values queries too
    for (const v of loadDashboard().templating.list)
      for (const n of metricNames(v.definition ?? '')) if (!exported.has(n)) missing.push(n);
    expect(missing).toEqual([]);
  });
});
