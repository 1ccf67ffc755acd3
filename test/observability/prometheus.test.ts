import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { OK_REPLY } from '../../src/tencent/reply';
import { sign } from '../../src/tencent/signature';
import { postCallback, startTestBridge, uniqueTopic, type TestBridge } from '../support/bridge';
import { loadCommandFixtures, loadFixtures } from '../support/fixtures';
import { freePort } from '../support/process';
import { sampleValue, scrape, waitFor } from '../support/wait';
import {
  FAMILY_VARIABLE,
  RULES_FILE,
  TEMPLATE_VALUES,
  alertSignals,
  applyVariableRegex,
  dashboardExprs,
  EXTERNAL_METRICS,
  ensurePrometheusInstalled,
  externalExposition,
  loadDashboard,
  loadRuleGroups,
  rowPanels,
  ruleExprs,
  startObservedConsumers,
  substituteVariables,
  withoutOffsets,
} from './support';

/**
 * A real Prometheus (Debian's package) scrapes two real bridges and both consumers every second, with the alert
 * rules loaded, after traffic that exercises every outcome. Then every PromQL expression of the
 * dashboard and of the rules must parse and return at least one series (alert conditions: their
 * signals, see support.ts), and the alerts that the traffic makes true must be pending or firing.
 *
 *   bridge "main":   signed callbacks of one SdkAppid, a spool of 5 records, 4 KiB bodies; its
 *                    topic deleted halfway (Kafka cannot acknowledge): kafka, dlq, spooled,
 *                    spool_full, unauthenticated, foreign_app, too_large, malformed_json,
 *                    invalid, a command routed off. Before-callbacks (C2C.CallbackBeforeSendMsg)
 *                    forwarded to a fake decision service that allows, blocks and fails (HTTP
 *                    500), stored in a topic of their own; after the spool filled up, answered
 *                    but lost. Scraped with namespace="obs-test".
 *   bridge "nospool": no spool, topic deleted: kafka, then publish_timeout. No namespace label
 *                    (as without Kubernetes).
 * main and the consumers get a `pod` label the way the Prometheus Operator's ServiceMonitor gives
 * it (relabeled from __meta_kubernetes_pod_name); nospool none. The jobs are named as the
 * ServiceMonitor in k8s/ names them (the Services' names): tim-kafka-bridge, tim-analytics and
 * tim-moderation, which the absent() and up alerts select. A stand-in exporter serves the
 * Kubernetes series the dashboard and the alerts read (EXTERNAL_METRICS: kube-state-metrics,
 * cAdvisor, the kubelet's volume stats) for those pods, for the bridge's StatefulSet, HPA and
 * spool claim, and for a pod and an HPA of another app in the namespace, which the dashboard must
 * leave out.
 */
const TOKEN = 'obs-token';
const APP = '1400000001';
const JOB = 'tim-kafka-bridge';
const NAMESPACE = 'obs-test';
const text = loadFixtures().find((f) => f.name === 'text.json')!.text;
let seq = 0;
const body = (): string => text.replace('"MsgSeq":48374', `"MsgSeq":${++seq}`);
const BEFORE = 'C2C.CallbackBeforeSendMsg';
const beforeText = loadCommandFixtures().find(
  (f) => f.command === BEFORE && f.name === 'sample.json',
)!.text;
const beforeBody = (): string => beforeText.replace('"MsgSeq":48374', `"MsgSeq":${++seq}`);
const MAIN_TOPIC = uniqueTopic('obs-prom-main');
const BEFORE_TOPIC = `${MAIN_TOPIC}.before`;
const signed = (extra: Record<string, string | undefined> = {}) => {
  const t = Math.floor(Date.now() / 1000);
  return { RequestTime: String(t), Sign: sign(TOKEN, t), ...extra };
};

let main: TestBridge;
let nospool: TestBridge;
let consumers: Awaited<ReturnType<typeof startObservedConsumers>> | undefined;
/** The consumers' jobs, in startObservedConsumers' order (analytics, moderation). */
const CONSUMER_JOBS = ['tim-analytics', 'tim-moderation'];
let prometheus: ChildProcess | undefined;
/** The app's decision service for main's before-callbacks: answers `decision` (status, body). */
let decisionService: Server | undefined;
let decision = { status: 200, body: OK_REPLY };
/** Stand-in for kube-state-metrics and the kubelet's cAdvisor. */
let exporter: Server | undefined;
/** The pods' names, as the StatefulSet and the Deployments of k8s/ would have them. */
const MAIN_POD = 'tim-kafka-bridge-0';
const CONSUMER_PODS = ['tim-analytics-7d4b9c6f5-qx2lm', 'tim-moderation-5c8f7d9b4-h7k2p'];
/** Another app's pod and HPA in the same namespace: no panel may show them. */
const OTHER_APP = 'other-app';
/** The relabeling the Prometheus Operator generates for a ServiceMonitor's `pod` label. */
const POD_RELABEL = [{ source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' }];
const BLOCK = '{"ActionStatus":"OK","ErrorInfo":"spam","ErrorCode":1}';
let promUrl: string;
let promDir: string;
let promLog = '';

interface QueryResult {
  status: string;
  error?: string;
  data?: {
    resultType: string;
    result: { metric: Record<string, string>; value?: [number, string] }[];
  };
}
async function query(expr: string): Promise<QueryResult> {
  const res = await fetch(`${promUrl}/api/v1/query`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }).toString(),
  });
  return (await res.json()) as QueryResult;
}
const seriesOf = async (expr: string) => {
  const r = await query(expr);
  if (r.status !== 'success') throw new Error(`${expr}: ${r.error}`);
  return r.data!.result;
};

/** Replies (other than 4xx) the bridge itself measured slower than 1 s, from its /metrics text. */
function slowReplies(metrics: string): number {
  let all = 0;
  let fast = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith('#') || line.includes('status_class="4xx"')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('tim_bridge_reply_duration_seconds_count')) all += value;
    else if (line.startsWith('tim_bridge_reply_duration_seconds_bucket') && line.includes('le="1"'))
      fast += value;
  }
  return all - fast;
}

async function send(
  b: TestBridge,
  payload: string | Uint8Array,
  query: Record<string, string | undefined>,
  status: number,
  expectedReply = OK_REPLY,
): Promise<void> {
  const res = await postCallback(b.callbackUrl, payload, { query });
  const reply = await res.text();
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status} ${reply}`);
  if (status === 200) expect(reply).toBe(expectedReply);
}

/** A before-callback to main, the decision service answering `answer`; main replies `reply`. */
async function sendBefore(answer: typeof decision, reply: string): Promise<void> {
  decision = answer;
  await send(main, beforeBody(), signed({ CallbackCommand: BEFORE }), 200, reply);
}

/** One round of every outcome that does not need Kafka to be away. */
async function round(): Promise<void> {
  for (let i = 0; i < 5; i++) await send(main, body(), signed({ OptPlatform: 'IOS' }), 200);
  await send(main, body(), signed({ OptPlatform: 'Android' }), 200);
  await send(main, body(), {}, 401); // unauthenticated: unsigned
  await send(main, body(), signed({ Sign: sign('wrong', 1) }), 401);
  await send(main, body(), signed({ SdkAppid: '1400009999' }), 403); // foreign_app
  await send(main, 'x'.repeat(5000), signed(), 413); // too_large
  await send(main, '{"CallbackCommand": ', signed(), 400); // malformed_json
  await send(main, body().replace('"MsgSeq":', '"MsgSeq":"x","_":'), signed(), 400); // invalid, dlq
  // a command routed off (the tests route only C2C): answered OK, counted, not stored
  await send(main, body(), signed({ CallbackCommand: 'Group.CallbackAfterSendMsg' }), 200);
  // before-callbacks: allowed and blocked by the decision service, then one it fails (fail-open)
  await sendBefore({ status: 200, body: OK_REPLY }, OK_REPLY);
  await sendBefore({ status: 200, body: BLOCK }, BLOCK);
  await sendBefore({ status: 500, body: 'oops' }, OK_REPLY);
  await send(nospool, body(), {}, 200);
  // no callback: another path (not_found), another method (method_not_allowed)
  expect((await fetch(main.callbackUrl.replace(/\/callback$/, '/wp-login.php'))).status).toBe(404);
  expect((await fetch(main.callbackUrl)).status).toBe(405);
}

/** A before-callback main answers but cannot store (Kafka away, spool full): the nth lost. */
async function loseBefore(n: number): Promise<void> {
  await sendBefore({ status: 200, body: OK_REPLY }, OK_REPLY);
  await waitFor(
    `before-callback ${n} to be counted lost`,
    async () =>
      (sampleValue(await scrape(main.adminUrl), 'tim_bridge_command_records_total', {
        command: BEFORE,
        outcome: 'lost',
      }) ?? 0) >= n,
    15000,
  );
}

/** The newest scrape of every target is after `t` (ms). */
async function scrapedAfter(t: number): Promise<void> {
  await waitFor(
    `two scrapes of both bridges after ${new Date(t).toISOString()}`,
    async () => {
      const r = await seriesOf(
        `up{job="${JOB}"} == 1 and timestamp(up{job="${JOB}"}) > ${t / 1000 + 1.5}`,
      );
      return r.length === 2;
    },
    30000,
    250,
  );
}

beforeAll(async () => {
  ensurePrometheusInstalled();
  decisionService = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(decision.status, { 'Content-Type': 'application/json' }).end(decision.body);
    });
  });
  await new Promise<void>((r) => decisionService!.listen(0, '127.0.0.1', r));
  const decisionPort = (decisionService.address() as AddressInfo).port;
  main = await startTestBridge('obs-prom-main', {
    TENCENT_SDKAPPIDS: APP,
    TENCENT_CALLBACK_TOKEN: TOKEN,
    BODY_LIMIT_BYTES: '4096',
    PUBLISH_TIMEOUT_MS: '300',
    SPOOL_MAX_RECORDS: '5',
    KAFKA_TOPIC: MAIN_TOPIC,
    COMMAND_ROUTES: `*=off,C2C.CallbackAfterSendMsg=on,${BEFORE}=${BEFORE_TOPIC}`,
    BEFORE_CALLBACK_UPSTREAM_URL: `http://127.0.0.1:${decisionPort}/decide`,
    BEFORE_CALLBACK_FORWARD: 'C2C.*',
  });
  nospool = await startTestBridge('obs-prom-nospool', {
    PUBLISH_TIMEOUT_MS: '300',
    SPOOL_ENABLED: 'false',
  });
  consumers = await startObservedConsumers(main.kafka, main.topic);

  promDir = mkdtempSync(join(tmpdir(), 'tim-prometheus-'));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const target = (b: TestBridge) => b.adminUrl.replace('http://', '');
  exporter = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(
      externalExposition(
        [
          { namespace: NAMESPACE, pod: MAIN_POD, container: 'bridge' },
          { namespace: NAMESPACE, pod: CONSUMER_PODS[0]!, container: 'analytics' },
          { namespace: NAMESPACE, pod: CONSUMER_PODS[1]!, container: 'moderation' },
          { namespace: NAMESPACE, pod: `${OTHER_APP}-0`, container: 'app' },
        ],
        [
          { namespace: NAMESPACE, horizontalpodautoscaler: JOB },
          { namespace: NAMESPACE, horizontalpodautoscaler: OTHER_APP },
        ],
        Date.now(),
        {
          statefulsets: [{ namespace: NAMESPACE, statefulset: JOB }],
          pvcs: [{ namespace: NAMESPACE, persistentvolumeclaim: `spool-${MAIN_POD}` }],
        },
      ),
    );
  });
  await new Promise<void>((r) => exporter!.listen(0, '127.0.0.1', r));
  const exporterTarget = `127.0.0.1:${(exporter.address() as AddressInfo).port}`;
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    JSON.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [RULES_FILE],
      scrape_configs: [
        {
          job_name: JOB,
          static_configs: [
            {
              targets: [target(main)],
              labels: { namespace: NAMESPACE, __meta_kubernetes_pod_name: MAIN_POD },
            },
            { targets: [target(nospool)] },
          ],
          relabel_configs: POD_RELABEL,
        },
        ...consumers.consumers.map((c, i) => ({
          job_name: CONSUMER_JOBS[i],
          static_configs: [
            {
              targets: [c.adminUrl.replace('http://', '')],
              labels: { namespace: NAMESPACE, __meta_kubernetes_pod_name: CONSUMER_PODS[i] },
            },
          ],
          relabel_configs: POD_RELABEL,
        })),
        {
          // their own labels (namespace, pod, ...) kept, as kube-prometheus-stack scrapes them
          job_name: 'kube-state-metrics',
          honor_labels: true,
          static_configs: [{ targets: [exporterTarget] }],
        },
      ],
    }),
  );
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => {
    promLog = (promLog + chunk.toString()).slice(-20000);
  };
  prometheus.stdout!.on('data', keep);
  prometheus.stderr!.on('data', keep);
  await waitFor(
    'Prometheus to be ready',
    async () => {
      if (prometheus?.exitCode !== null) throw new Error(`prometheus exited:\n${promLog}`);
      return (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200;
    },
    30000,
    200,
  );

  // round 1, a scrape, round 2: counters exist and have risen between two scrapes
  await round();
  await scrapedAfter(Date.now());
  await round();
  // both consumers processed records (their batch series exist; the lag's exist from the join)
  // and were scraped since
  await waitFor(
    'the consumers to process records and be scraped',
    async () =>
      (
        await seriesOf(
          `tim_consumer_batch_duration_seconds_count{job=~"tim-analytics|tim-moderation"}`,
        )
      ).length >= 2 &&
      (await seriesOf(`tim_consumer_lag_records{job=~"tim-analytics|tim-moderation"}`)).length >= 2,
    30000,
    250,
  );

  // Kafka unable to acknowledge either bridge's records
  await deleteTopics(main.kafka, [main.topic, BEFORE_TOPIC, nospool.topic]);
  for (let i = 0; i < 5; i++) await send(main, body(), signed(), 200); // spooled
  await send(main, body(), signed(), 503); // spool_full
  await send(nospool, body(), {}, 503); // publish_timeout
  // before-callbacks answered, then neither Kafka nor the full spool takes them: lost, one
  // before and one after a scrape (so that the counter rises in Prometheus' eyes)
  await loseBefore(1);
  await scrapedAfter(Date.now());
  await loseBefore(2);
  await scrapedAfter(Date.now());
}, 120000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    prometheus.kill('SIGTERM');
    const exited = once(prometheus, 'exit');
    const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }
  if (promDir) rmSync(promDir, { recursive: true, force: true });
  await consumers?.dispose();
  // topics back, so that the producers can flush and close
  for (const b of [main, nospool]) {
    if (!b) continue;
    const topics = b === main ? [b.topic, BEFORE_TOPIC] : [b.topic];
    for (const topic of topics)
      await ensureTopic(b.kafka, { topic, numPartitions: 6, replicationFactor: 1 }).catch(
        () => undefined,
      );
    await b.dispose();
    if (b === main) await deleteTopics(b.kafka, [BEFORE_TOPIC]).catch(() => undefined);
  }
  for (const server of [decisionService, exporter]) {
    if (!server) continue;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}, 60000);

test('Prometheus scrapes both bridges and loaded every rule, healthy', async () => {
  expect(await seriesOf(`up{job="${JOB}"} == 1`)).toHaveLength(2);
  const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
    data: {
      groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[];
    };
  };
  // the API lists the groups by name, each group's rules in the file's order
  const byName = <T extends { name: string }>(groups: T[]) =>
    [...groups].sort((a, b) => a.name.localeCompare(b.name));
  const loaded = byName(rules.data.groups).flatMap((g) => g.rules);
  expect(loaded.map((r) => r.name)).toEqual(
    byName(loadRuleGroups()).flatMap((g) => g.rules.map((r) => r.alert ?? r.record)),
  );
  for (const r of loaded)
    expect({ name: r.name, health: r.health }).toEqual({ name: r.name, health: 'ok' });
});

test('the traffic produced every outcome and refusal reason', async () => {
  const values = async (expr: string, label: string) =>
    (await seriesOf(expr)).map((s) => s.metric[label]).sort();
  // series start at 0 (so that increase() sees the first event): count the ones that moved
  expect(
    await values('sum by (outcome) (tim_bridge_callbacks_accepted_total) > 0', 'outcome'),
  ).toEqual(['dlq', 'kafka', 'spooled']);
  expect(
    await values('sum by (reason) (tim_bridge_callbacks_refused_total) > 0', 'reason'),
  ).toEqual([
    'foreign_app',
    'invalid',
    'malformed_json',
    'publish_timeout',
    'spool_full',
    'too_large',
    'unauthenticated',
  ]);
  expect(
    await values('sum by (outcome) (tim_bridge_command_records_total) > 0', 'outcome'),
  ).toEqual(['dlq', 'kafka', 'lost', 'off', 'spooled']);
  expect(
    await values(
      'sum by (command) (tim_bridge_command_records_total{outcome="lost"}) > 0',
      'command',
    ),
  ).toEqual([BEFORE]);
  // before-callbacks: allowed and blocked by the decision service, allowed when it failed
  expect(
    (
      await seriesOf(
        'sum by (outcome, decided_by) (tim_bridge_before_callback_decisions_total) > 0',
      )
    )
      .map((s) => `${s.metric.outcome} by ${s.metric.decided_by}`)
      .sort(),
  ).toEqual(['allow by fail-open', 'allow by upstream', 'block by upstream']);
  expect(
    await values(
      'sum by (problem) (tim_bridge_before_callback_upstream_failures_total) > 0',
      'problem',
    ),
  ).toEqual(['status']);
  expect(
    await values(
      'sum by (command) (tim_bridge_command_records_total{outcome="off"}) > 0',
      'command',
    ),
  ).toEqual(['Group.CallbackAfterSendMsg']);
  expect(
    await values('sum by (platform) (tim_bridge_callbacks_received_total)', 'platform'),
  ).toEqual(['Android', 'iOS']);
  expect(
    await values('sum by (reason) (tim_bridge_requests_unrouted_total) > 0', 'reason'),
  ).toEqual(['method_not_allowed', 'not_found']);
});

test('the dashboard variables find the bridges (namespace present on one, absent on the other)', async () => {
  const labelValues = async (label: string) => {
    const url = `${promUrl}/api/v1/label/${label}/values?${new URLSearchParams({ 'match[]': 'tim_bridge_ready' })}`;
    return ((await (await fetch(url)).json()) as { data: string[] }).data.sort();
  };
  expect(await labelValues('namespace')).toEqual([NAMESPACE]);
  expect(await labelValues('job')).toEqual([JOB]);
  expect(await labelValues('instance')).toEqual(
    [main, nospool].map((b) => b.adminUrl.replace('http://', '')).sort(),
  );
  // with "All" (.*), a selector matches the bridge without a namespace label too
  expect(
    await seriesOf(substituteVariables('tim_bridge_ready{namespace=~"$namespace"}')),
  ).toHaveLength(2);
  expect(loadDashboard().templating.list.find((v) => v.name === 'namespace')?.allValue).toBe('.*');
});

test('the family variable finds the families of the traffic; each row shows its own commands', async () => {
  const dashboard = loadDashboard();
  const variable = dashboard.templating.list.find((v) => v.name === FAMILY_VARIABLE)!;
  // the variable's query as Grafana sends it (label values of a series selector), then its regex
  const selector = /^label_values\((.*), command\)$/.exec(variable.definition!)![1]!;
  const url = `${promUrl}/api/v1/label/command/values?${new URLSearchParams({ 'match[]': substituteVariables(selector) })}`;
  const commands = ((await (await fetch(url)).json()) as { data: string[] }).data;
  const families = applyVariableRegex(variable, commands);
  expect(families).toEqual(['C2C', 'Group']);
  // each repetition of the row, with its family: every series it draws is of that family
  const row = dashboard.panels.find((p) => p.repeat === FAMILY_VARIABLE)!;
  const records = rowPanels(dashboard, row).find((p) =>
    p.targets!.some((t) => t.expr.includes('tim_bridge_command_records_total')),
  )!;
  for (const family of families) {
    const promql = substituteVariables(records.targets![0]!.expr, { ...TEMPLATE_VALUES, family });
    const shown = (await seriesOf(promql)).map((s) => s.metric.command!);
    expect(shown.length).toBeGreaterThan(0);
    for (const c of shown) expect(c.startsWith(`${family}.`)).toBe(true);
  }
  // a family as the prefix of another's name ("C2" of "C2C") selects nothing
  const partial = substituteVariables(records.targets![0]!.expr, {
    ...TEMPLATE_VALUES,
    family: 'C2',
  });
  expect(await seriesOf(partial)).toEqual([]);
});

test('every dashboard expression parses and returns at least one series', async () => {
  const empty: string[] = [];
  const exprs = dashboardExprs();
  expect(exprs.length).toBeGreaterThanOrEqual(30);
  for (const { where, expr } of exprs) {
    const promql = substituteVariables(expr);
    const r = await query(promql);
    if (r.status !== 'success') throw new Error(`${where} does not parse: ${r.error}\n${promql}`);
    if (r.data!.result.length === 0) empty.push(`${where}: ${promql}`);
  }
  expect(empty).toEqual([]);
});

test("every legend's labels are labels of the series its expression returns", async () => {
  const missing: string[] = [];
  for (const p of loadDashboard().panels.flatMap((x) => [x, ...(x.panels ?? [])]))
    for (const t of p.targets ?? []) {
      const labels = [...(t.legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!);
      if (labels.length === 0) continue;
      const series = await seriesOf(substituteVariables(t.expr));
      for (const l of labels)
        if (!series.some((x) => x.metric[l])) missing.push(`panel "${p.title}" ${t.refId}: ${l}`);
    }
  expect(missing).toEqual([]);
});

test("the Kubernetes panels show the selected jobs' pods and HPA only", async () => {
  const shown = async (title: string, label: string) => {
    const panel = loadDashboard().panels.find((p) => p.title === title)!;
    const values = new Set<string>();
    for (const t of panel.targets!)
      for (const x of await seriesOf(substituteVariables(t.expr))) values.add(x.metric[label]!);
    return [...values].sort();
  };
  const ours = [MAIN_POD, ...CONSUMER_PODS].sort();
  expect(await shown('Container restarts (last hour)', 'pod')).toEqual(ours);
  expect(await shown('CPU throttling', 'pod')).toEqual(ours);
  expect(await shown('HPA replicas', 'horizontalpodautoscaler')).toEqual([JOB]);
  // the stand-in serves exactly the external metrics the tests know of
  const served = await seriesOf(`{job="kube-state-metrics", __name__!~"up|scrape_.*"}`);
  expect([...new Set(served.map((x) => x.metric.__name__))].sort()).toEqual(
    Object.keys(EXTERNAL_METRICS)
      .filter((n) => EXTERNAL_METRICS[n]!.scope !== 'target')
      .sort(),
  );
});

test('every rule expression parses, and each of its signals returns at least one series', async () => {
  // Signals are asked without their `offset`s (a Prometheus that has run for minutes has nothing
  // a day back); the Kubernetes exporters' series come from the stand-in exporter.
  const empty: string[] = [];
  for (const { where, expr } of ruleExprs()) {
    const full = await query(expr);
    if (full.status !== 'success') throw new Error(`${where} does not parse: ${full.error}`);
    for (const signal of alertSignals(expr).map(withoutOffsets)) {
      if ((await seriesOf(signal)).length === 0) empty.push(`${where}: ${signal}`);
    }
  }
  expect(empty).toEqual([]);
});

test('the alerts the traffic makes true are pending or firing, for the right bridge', async () => {
  const expected = [
    ['TimBridgeSpoolNotEmpty', main],
    ['TimBridgeSpoolAlmostFull', main],
    // main: its spool is full, so even the probe that ignores Kafka says not ready (nospool: below)
    ['TimBridgeNotReady', main],
    // spool_full and publish_timeout against a few callbacks answered OK
    ['TimBridgeAvailabilityBurnRateHigh', undefined],
    // too_large and malformed_json of signed callbacks
    ['TimBridgeClientFaultRefusals', undefined],
    ['TimBridgeUnauthenticated', nospool],
    ['TimBridgeDeadLettersGrowing', undefined],
    ['TimBridgeDecisionServiceFailing', undefined],
    ['TimBridgeBeforeCallbacksLost', main],
  ] as const;
  await waitFor(
    'the alerts to be pending or firing',
    async () => {
      const alerts = (
        (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
          data: { alerts: { labels: Record<string, string>; state: string }[] };
        }
      ).data.alerts;
      return expected.every(([name, bridge]) =>
        alerts.some(
          (a) =>
            a.labels.alertname === name &&
            ['pending', 'firing'].includes(a.state) &&
            (bridge === undefined || a.labels.instance === bridge.adminUrl.replace('http://', '')),
        ),
      );
    },
    15000,
    500,
  );
  // and the quiet ones are quiet: callbacks flow, replies are fast, every target is scraped (the
  // absent() and up alerts see the jobs they select)
  const alerts = (
    (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string> }[] };
    }
  ).data.alerts.map((a) => a.labels.alertname);
  // a reply slower than the SLO's 1 s makes the latency alert rightly pending: on a busy machine
  // one can be (the bridge's own histogram says so), and then its absence proves nothing
  const slow = (
    await Promise.all([main, nospool].map(async (b) => slowReplies(await scrape(b.adminUrl))))
  ).reduce((a, b) => a + b, 0);
  for (const quiet of [
    'TimBridgeNoCallbacks',
    ...(slow === 0 ? ['TimBridgeLatencyBurnRateHigh'] : []),
    'TimBridgeAbsent',
    'TimConsumerAbsent',
    'TimBridgeTargetDown',
    'TimConsumerTargetDown',
  ])
    expect(alerts).not.toContain(quiet);
});

test("a bridge whose only failing check is Kafka's stays in service: ready 1, strict 0", async () => {
  // nospool's produce requests are stuck (its topic deleted): /readyz says not ready, the
  // Kubernetes probe (/readyz?ignore=kafka) keeps it in service, and the gauges say both
  const instance = nospool.adminUrl.replace('http://', '');
  const value = async (metric: string) =>
    (await seriesOf(`${metric}{job="${JOB}", instance="${instance}"}`)).map((s) => s.value?.[1]);
  expect(await value('tim_bridge_ready_strict')).toEqual(['0']);
  expect(await value('tim_bridge_ready')).toEqual(['1']);
  // so TimBridgeNotReady, which follows tim_bridge_ready, does not fire for it
  const alerts = (
    (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string> }[] };
    }
  ).data.alerts;
  expect(
    alerts.filter(
      (a) => a.labels.alertname === 'TimBridgeNotReady' && a.labels.instance === instance,
    ),
  ).toEqual([]);
});
