import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort } from '../support/process';
import { waitFor } from '../support/wait';
import {
  ALERTMANAGER_CONFIG_FILE,
  INHIBIT_RULES_FILE,
  ensurePrometheusInstalled,
  loadRuleGroups,
} from './support';

/**
 * The Alertmanager inhibition rules (observability/alertmanager/inhibit-rules.yaml, and the same
 * as an AlertmanagerConfig for the Prometheus Operator): they name alerts that exist, amtool
 * accepts them, and a real Alertmanager (Debian's prometheus-alertmanager) mutes what a Kafka
 * outage implies, for the replica (or namespace) that lost Kafka only, and never what pages.
 */

interface InhibitRule {
  source_matchers: string[];
  target_matchers: string[];
  equal: string[];
}
interface Matcher {
  name: string;
  matchType: '=' | '=~' | '!=' | '!~';
  value: string;
}
interface OperatorInhibitRule {
  sourceMatch: Matcher[];
  targetMatch: Matcher[];
  equal: string[];
}

const fragment = () =>
  (parse(readFileSync(INHIBIT_RULES_FILE, 'utf8')) as { inhibit_rules: InhibitRule[] })
    .inhibit_rules;

/** `alertname=~"A|B"` as the operator's matcher. */
function matcher(text: string): Matcher {
  const m = /^(\w+)(=~|!~|!=|=)"(.*)"$/.exec(text);
  if (!m) throw new Error(`not a matcher: ${text}`);
  return { name: m[1]!, matchType: m[2] as Matcher['matchType'], value: m[3]! };
}

const alerts = () =>
  new Map(
    loadRuleGroups()
      .flatMap((g) => g.rules)
      .filter((r) => r.alert !== undefined)
      .map((r) => [r.alert!, r]),
  );

/** The alert names a list of `alertname` matchers selects, of the rules file's alerts. */
function selected(matchers: string[]): string[] {
  const ms = matchers.map(matcher).filter((m) => m.name === 'alertname');
  expect(ms).toHaveLength(1);
  const m = ms[0]!;
  return [...alerts().keys()].filter((a) =>
    m.matchType === '=' ? a === m.value : new RegExp(`^(?:${m.value})$`).test(a),
  );
}

beforeAll(() => ensurePrometheusInstalled());

test('the AlertmanagerConfig carries exactly the inhibition rules of the fragment', () => {
  const resource = parse(readFileSync(ALERTMANAGER_CONFIG_FILE, 'utf8')) as {
    apiVersion: string;
    kind: string;
    metadata: { name: string };
    spec: { inhibitRules: OperatorInhibitRule[] };
  };
  expect(resource.apiVersion).toBe('monitoring.coreos.com/v1alpha1');
  expect(resource.kind).toBe('AlertmanagerConfig');
  expect(resource.spec.inhibitRules).toEqual(
    fragment().map((r) => ({
      sourceMatch: r.source_matchers.map(matcher),
      targetMatch: r.target_matchers.map(matcher),
      equal: r.equal,
    })),
  );
});

test('the rules name alerts that exist; TimBridgeKafkaDisconnected mutes no page and nothing of the SLOs', () => {
  const all = alerts();
  for (const rule of fragment()) {
    expect(selected(rule.source_matchers)).toEqual(['TimBridgeKafkaDisconnected']);
    const names = rule.target_matchers
      .map(matcher)
      .flatMap((m) => m.value.split('|'))
      .sort();
    // every name in a regex is an alert (a typo would silently mute nothing)
    expect(selected(rule.target_matchers).sort()).toEqual(names);
    for (const name of names) {
      expect({ name, severity: all.get(name)?.labels?.severity }).toEqual({
        name,
        severity: expect.stringMatching(/^(ticket|warning)$/),
      });
    }
  }
  const muted = fragment().flatMap((r) => selected(r.target_matchers));
  for (const kept of [
    'TimBridgeAvailabilityBurnRateHigh',
    'TimBridgeSpoolAlmostFull',
    'TimBridgeNotReady',
    'TimBridgeBeforeCallbacksLost',
  ])
    expect(muted).not.toContain(kept);
  expect(muted.sort()).toEqual(
    [
      'TimBridgeNotReadyStrict',
      'TimBridgeProduceFailures',
      'TimBridgeSpoolDrainFailing',
      'TimBridgeSpoolNotEmpty',
      'TimConsumerCommitFailures',
      'TimConsumerCrashing',
      'TimConsumerLagging',
      'TimConsumerNotReady',
    ].sort(),
  );
});

describe('on a real Alertmanager', () => {
  let dir: string;
  let alertmanager: ChildProcess | undefined;
  let url: string;
  let log = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tim-alertmanager-'));
    // the fragment in a minimal configuration: one receiver that sends nothing
    writeFileSync(
      join(dir, 'alertmanager.yml'),
      stringify({
        route: { receiver: 'null', group_wait: '1h' },
        receivers: [{ name: 'null' }],
        inhibit_rules: fragment(),
      }),
    );
    const check = spawnSync('amtool', ['check-config', join(dir, 'alertmanager.yml')], {
      encoding: 'utf8',
    });
    expect({ status: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({
      status: 0,
      output: expect.stringContaining(`${fragment().length} inhibit rules`),
    });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    alertmanager = spawn(
      'prometheus-alertmanager',
      [
        `--config.file=${join(dir, 'alertmanager.yml')}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-20000);
    };
    alertmanager.stdout!.on('data', keep);
    alertmanager.stderr!.on('data', keep);
    await waitFor(
      'Alertmanager to be ready',
      async () => {
        if (alertmanager?.exitCode !== null) throw new Error(`alertmanager exited:\n${log}`);
        return (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200;
      },
      30000,
      200,
    );
  }, 60000);

  afterAll(async () => {
    if (alertmanager && alertmanager.exitCode === null) {
      alertmanager.kill('SIGTERM');
      await once(alertmanager, 'exit');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const bridge = (instance: string, namespace = 'chat') => ({
    namespace,
    job: 'tim-kafka-bridge',
    instance,
    team: 'chat',
    service: 'tim-kafka-bridge',
  });

  test('a Kafka outage of one replica mutes what it implies for that replica and its namespace, not the pages', async () => {
    const post = (alerts: Record<string, string>[]) =>
      fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(
          alerts.map((labels) => ({
            labels,
            startsAt: new Date().toISOString(),
            endsAt: new Date(Date.now() + 3600_000).toISOString(),
          })),
        ),
      });
    const sent: Record<string, string>[] = [
      // replica a lost Kafka
      { alertname: 'TimBridgeKafkaDisconnected', severity: 'ticket', ...bridge('a') },
      { alertname: 'TimBridgeSpoolNotEmpty', severity: 'warning', ...bridge('a') },
      { alertname: 'TimBridgeNotReadyStrict', severity: 'warning', ...bridge('a') },
      { alertname: 'TimBridgeSpoolDrainFailing', severity: 'ticket', ...bridge('a') },
      // what users lose pages all the same
      { alertname: 'TimBridgeSpoolAlmostFull', severity: 'page', ...bridge('a') },
      {
        alertname: 'TimBridgeAvailabilityBurnRateHigh',
        severity: 'page',
        namespace: 'chat',
        job: 'tim-kafka-bridge',
        team: 'chat',
        service: 'tim-kafka-bridge',
      },
      // replica b did not lose Kafka: its spool is another matter
      { alertname: 'TimBridgeSpoolNotEmpty', severity: 'warning', ...bridge('b') },
      // the same replica name in another namespace
      { alertname: 'TimBridgeSpoolNotEmpty', severity: 'warning', ...bridge('a', 'other') },
      // the consumers of the namespace, and of another one
      {
        alertname: 'TimConsumerNotReady',
        severity: 'ticket',
        namespace: 'chat',
        job: 'tim-analytics',
        instance: 'c',
        consumer: 'analytics',
      },
      {
        alertname: 'TimConsumerNotReady',
        severity: 'ticket',
        namespace: 'other',
        job: 'tim-analytics',
        instance: 'c',
        consumer: 'analytics',
      },
    ];
    expect((await post(sent)).status).toBe(200);

    const key = (l: Record<string, string>) => `${l.alertname} ${l.namespace}/${l.instance ?? '-'}`;
    const expected = {
      'TimBridgeKafkaDisconnected chat/a': 'active',
      'TimBridgeSpoolNotEmpty chat/a': 'suppressed',
      'TimBridgeNotReadyStrict chat/a': 'suppressed',
      'TimBridgeSpoolDrainFailing chat/a': 'suppressed',
      'TimBridgeSpoolAlmostFull chat/a': 'active',
      'TimBridgeAvailabilityBurnRateHigh chat/-': 'active',
      'TimBridgeSpoolNotEmpty chat/b': 'active',
      'TimBridgeSpoolNotEmpty other/a': 'active',
      'TimConsumerNotReady chat/c': 'suppressed',
      'TimConsumerNotReady other/c': 'active',
    };
    let states: Record<string, string> = {};
    await waitFor(
      'the inhibitions to apply',
      async () => {
        const got = (await (await fetch(`${url}/api/v2/alerts`)).json()) as {
          labels: Record<string, string>;
          status: { state: string; inhibitedBy: string[] };
        }[];
        states = Object.fromEntries(got.map((a) => [key(a.labels), a.status.state]));
        return JSON.stringify(states, Object.keys(expected).sort()) ===
          JSON.stringify(expected, Object.keys(expected).sort())
          ? true
          : false;
      },
      10000,
      200,
    ).catch(() => undefined);
    expect(states).toEqual(expected);
  });
});
