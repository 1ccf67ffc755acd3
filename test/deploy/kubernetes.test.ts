import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Registry } from 'prom-client';
import { routedTopics, routingOptionsOf } from '../../src/catalogue/routes';
import { configSpec, type Config } from '../../src/config';
import { analyticsConsumer } from '../../src/consumers/analytics/main';
import {
  analyticsSpec,
  type AnalyticsConfig,
  type GroupInputConfig,
  type ModerationConfig,
  type RunnerConfig,
} from '../../src/consumers/config';
import { moderationConsumer } from '../../src/consumers/moderation/main';
import type { ConsumerDefinition } from '../../src/consumers/start';
import { createAdminApp } from '../../src/http/admin-app';
import {
  BRIDGE_PROBE_IGNORES,
  BRIDGE_READINESS_PROBE_PATH,
  evaluateReadiness,
  type HealthCheck,
} from '../../src/http/readiness';
import {
  find,
  kubeconform,
  kustomize,
  parseManifests,
  PROCESSES,
  processOf,
  ROOT,
  secretNames,
  selects,
  valueOf,
  workloads,
  type Container,
  type K8sObject,
  type ProcessKind,
  type Workload,
} from './support';

/**
 * The Kubernetes manifests (k8s/, kustomize) checked against the code: they render, they pass
 * the Kubernetes and CRD JSON schemas, and every container runs a process of the image with an
 * environment its config schema accepts, probes the admin server serves, the hardening and the
 * resources a platform team expects. Needs the tools of scripts/tools/install-deploy-tools.sh.
 */

const OVERLAYS = ['prod', 'dev'] as const;
type Overlay = (typeof OVERLAYS)[number];

const rendered = new Map<Overlay, { text: string; objs: K8sObject[] }>();
function render(overlay: Overlay): K8sObject[] {
  let r = rendered.get(overlay);
  if (!r) {
    const text = kustomize(join(ROOT, 'k8s', 'overlays', overlay));
    r = { text, objs: parseManifests(text) };
    rendered.set(overlay, r);
  }
  return r.objs;
}

const decode = (o: K8sObject): Record<string, string> => ({
  ...Object.fromEntries(
    Object.entries(o.data ?? {}).map(([k, v]) =>
      o.kind === 'Secret' ? [k, Buffer.from(v, 'base64').toString('utf8')] : [k, v],
    ),
  ),
  ...(o.stringData ?? {}),
});

/**
 * A Secret production creates by hand (docs/deploy.md): the dev overlay's example, same name
 * and keys, each filled in.
 */
function createdSecret(name: string): Record<string, string> {
  const example = decode(find(render('dev'), 'Secret', name));
  return Object.fromEntries(Object.keys(example).map((k) => [k, 'filled-in']));
}

interface Resolved {
  workload: Workload;
  container: Container;
  process: ProcessKind;
  /** every variable the container gets, by where it comes from */
  env: Record<string, string>;
  fromConfigMaps: string[];
  fromSecrets: string[];
}

/** The containers that run a process of the image, with their whole environment resolved. */
function appContainers(overlay: Overlay): Resolved[] {
  const objs = render(overlay);
  const out: Resolved[] = [];
  for (const w of workloads(objs)) {
    for (const c of w.spec.template.spec.containers) {
      const process = processOf([...(c.command ?? []), ...(c.args ?? [])]);
      if (!process) continue;
      const env: Record<string, string> = {};
      const fromConfigMaps: string[] = [];
      const fromSecrets: string[] = [];
      for (const src of c.envFrom ?? []) {
        if (src.configMapRef) {
          const data = decode(find(objs, 'ConfigMap', src.configMapRef.name));
          Object.assign(env, data);
          fromConfigMaps.push(...Object.keys(data));
        }
        if (src.secretRef) {
          const name = src.secretRef.name;
          const present = objs.find((o) => o.kind === 'Secret' && o.metadata.name === name);
          const data = present ? decode(present) : createdSecret(name);
          Object.assign(env, data);
          fromSecrets.push(...Object.keys(data));
        }
      }
      for (const e of c.env ?? []) {
        if (e.value === undefined) throw new Error(`${c.name}: env ${e.name} has no plain value`);
        env[e.name] = e.value;
      }
      out.push({ workload: w, container: c, process, env, fromConfigMaps, fromSecrets });
    }
  }
  return out;
}

const byProcess = (overlay: Overlay, name: ProcessKind['name']): Resolved => {
  const r = appContainers(overlay).find((x) => x.process.name === name);
  if (!r) throw new Error(`no container runs the ${name} (npm run ${name}) in ${overlay}`);
  return r;
};

const portNumber = (c: Container, port: number | string): number => {
  if (typeof port === 'number') return port;
  const p = c.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`${c.name} has no port named ${port}`);
  return p.containerPort;
};

/** Loads the process's config as the container would (rules file: the mounted ConfigMap's). */
function loadAs(
  r: Resolved,
  overlay: Overlay,
  tmp: string,
): Config | AnalyticsConfig | ModerationConfig {
  const env = { ...r.env };
  if (r.process.name === 'moderation') env.MODERATION_RULES_FILE = mountedFile(r, overlay, tmp);
  return r.process.load(env) as Config | AnalyticsConfig | ModerationConfig;
}

/** MODERATION_RULES_FILE must be a key of a ConfigMap mounted at its directory: copy it out. */
function mountedFile(r: Resolved, overlay: Overlay, tmp: string): string {
  const path = valueOf(r.env, r.process.spec, 'MODERATION_RULES_FILE');
  const mount = r.container.volumeMounts?.find((m) => m.mountPath === dirname(path));
  if (!mount) throw new Error(`nothing is mounted at ${dirname(path)} (MODERATION_RULES_FILE)`);
  const volume = r.workload.spec.template.spec.volumes?.find((v) => v.name === mount.name);
  if (!volume?.configMap) throw new Error(`volume ${mount.name} is not a ConfigMap`);
  const content = decode(find(render(overlay), 'ConfigMap', volume.configMap.name))[basename(path)];
  if (content === undefined) {
    throw new Error(`ConfigMap ${volume.configMap.name} has no key ${basename(path)}`);
  }
  const file = join(tmp, `${overlay}-${basename(path)}`);
  writeFileSync(file, content);
  return file;
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tim-deploy-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(OVERLAYS)('k8s/overlays/%s', (overlay) => {
  test('renders with kustomize and passes the Kubernetes and CRD JSON schemas (kubeconform -strict)', () => {
    const objs = render(overlay);
    expect(objs.length).toBeGreaterThan(20);
    const file = join(tmp, `${overlay}.yaml`);
    writeFileSync(file, rendered.get(overlay)?.text ?? '');
    const { status, output } = kubeconform(file);
    const summary = JSON.parse(output) as {
      summary: { valid: number; invalid: number; errors: number; skipped: number };
    };
    expect({
      status,
      output: summary.summary.invalid + summary.summary.errors ? output : '',
    }).toEqual({
      status: 0,
      output: '',
    });
    expect(summary.summary).toEqual({ valid: objs.length, invalid: 0, errors: 0, skipped: 0 });
  });

  test('the bridge and both consumers run from the image, with the commands of package.json', () => {
    const found = appContainers(overlay);
    expect(found.map((r) => r.process.name).sort()).toEqual(['analytics', 'bridge', 'moderation']);
    for (const r of found) {
      // the image's entrypoint (tini, which forwards SIGTERM) is kept: args only
      expect({ container: r.container.name, command: r.container.command }).toEqual({
        container: r.container.name,
        command: undefined,
      });
      // `node [--flags] dist/src/X.js` is compiled from src/X.ts
      const js = r.container.args?.at(-1) ?? '';
      expect(js).toMatch(/^dist\/src\/.+\.js$/);
      expect(() =>
        readFileSync(join(ROOT, js.replace(/^dist\//, '').replace(/\.js$/, '.ts'))),
      ).not.toThrow();
    }
    // one image for all three
    expect(new Set(found.map((r) => r.container.image)).size).toBe(1);
  });

  test.each(PROCESSES.map((p) => p.name))(
    '%s: every variable set is one its config schema knows, secrets come from Secrets, and the config loads',
    (name) => {
      const r = byProcess(overlay, name);
      const known = Object.keys(r.process.spec);
      expect(Object.keys(r.env).filter((k) => !known.includes(k))).toEqual([]);
      const secret = secretNames(r.process.spec);
      expect(r.fromConfigMaps.filter((k) => secret.includes(k))).toEqual([]);
      expect(r.fromSecrets.filter((k) => !secret.includes(k))).toEqual([]);
      expect(() => loadAs(r, overlay, tmp)).not.toThrow();
    },
  );

  test('ports and probes match the admin server; probe paths are ones it serves', async () => {
    for (const r of appContainers(overlay)) {
      const config = loadAs(r, overlay, tmp) as RunnerConfig & { PORT?: number };
      const c = r.container;
      expect({ c: c.name, admin: portNumber(c, 'admin') }).toEqual({
        c: c.name,
        admin: config.ADMIN_PORT,
      });
      if (r.process.name === 'bridge') expect(portNumber(c, 'http')).toBe(config.PORT);
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
        if (!probe) continue;
        expect(probe.httpGet).toBeDefined();
        expect(portNumber(c, probe.httpGet?.port ?? -1)).toBe(config.ADMIN_PORT);
      }
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      expect(new URL(c.readinessProbe?.httpGet?.path ?? '', 'http://x').pathname).toBe('/readyz');
    }
    // the bridge's readiness probe is the one tim_bridge_ready reports (its ignored checks are
    // defined once, in src/http/readiness.ts)
    const bridge = byProcess(overlay, 'bridge').container;
    expect(bridge.readinessProbe?.httpGet?.path).toBe(BRIDGE_READINESS_PROBE_PATH);
    // the paths, asked of the real admin app with one check failing at a time: liveness 200; the
    // bridge's readiness (?ignore=kafka keeps the replica in service) what the gauge computes
    for (const failing of ['kafka', 'spool']) {
      const readiness: HealthCheck[] = ['shutdown', 'kafka', 'spool'].map((name) => ({
        name,
        check: () => (name === failing ? `${name} is away` : undefined),
      }));
      const gauge = evaluateReadiness(readiness, new Set(BRIDGE_PROBE_IGNORES));
      // with only Kafka away, the replica stays in service; the strict answer takes it out
      if (failing === 'kafka') expect(gauge).toMatchObject({ ready: true, strict: false });
      const admin = await serve(createAdminApp({ registry: new Registry(), readiness }));
      try {
        const status = async (path: string | undefined) =>
          (await fetch(`${admin.url}${path}`)).status;
        expect(await status(bridge.livenessProbe?.httpGet?.path)).toBe(200);
        expect(await status(bridge.startupProbe?.httpGet?.path)).toBe(200);
        expect({ failing, probe: await status(bridge.readinessProbe?.httpGet?.path) }).toEqual({
          failing,
          probe: gauge.ready ? 200 : 503,
        });
        expect(await status('/readyz')).toBe(gauge.strict ? 200 : 503);
      } finally {
        admin.server.close();
      }
    }
  });

  test('every container has requests and limits and the restricted security context', () => {
    for (const w of workloads(render(overlay))) {
      const pod = w.spec.template.spec;
      expect({ w: w.metadata.name, pod: pod.securityContext }).toMatchObject({
        w: w.metadata.name,
        pod: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      });
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const where = `${w.metadata.name}/${c.name}`;
        expect({ where, resources: c.resources }).toEqual({
          where,
          resources: {
            requests: { cpu: expect.any(String), memory: expect.any(String) },
            limits: { cpu: expect.any(String), memory: expect.any(String) },
          },
        });
        expect({ where, sc: c.securityContext }).toEqual({
          where,
          sc: {
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
          },
        });
      }
    }
  });

  test('termination grace exceeds the preStop delay plus SHUTDOWN_GRACE_MS; the bridge drains first', () => {
    for (const r of appContainers(overlay)) {
      const grace = Number(valueOf(r.env, r.process.spec, 'SHUTDOWN_GRACE_MS')) / 1000;
      const preStop = r.container.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const period = r.workload.spec.template.spec.terminationGracePeriodSeconds ?? 30;
      expect({ c: r.container.name, ok: period > grace + preStop }).toEqual({
        c: r.container.name,
        ok: true,
      });
    }
    // endpoints drain during the preStop delay, before SIGTERM reaches the bridge
    expect(
      byProcess(overlay, 'bridge').container.lifecycle?.preStop?.sleep?.seconds,
    ).toBeGreaterThanOrEqual(3);
  });

  test('the bridge: StatefulSet with its spool on a claim, HPA, PDB, topology spread', () => {
    const objs = render(overlay);
    const r = byProcess(overlay, 'bridge');
    const config = loadAs(r, overlay, tmp) as Config;
    expect(r.workload.kind).toBe('StatefulSet');
    expect(config.SPOOL_ENABLED).toBe(true);
    const claim = r.workload.spec.volumeClaimTemplates?.[0]?.metadata.name;
    expect(r.container.volumeMounts).toContainEqual({ name: claim, mountPath: config.SPOOL_DIR });
    // the HorizontalPodAutoscaler owns the replica count
    expect(r.workload.spec.replicas).toBeUndefined();
    const hpa = find(objs, 'HorizontalPodAutoscaler', 'tim-kafka-bridge').spec as {
      scaleTargetRef: { kind: string; name: string };
      minReplicas: number;
    };
    expect(hpa.scaleTargetRef).toMatchObject({
      kind: 'StatefulSet',
      name: r.workload.metadata.name,
    });
    expect(hpa.minReplicas).toBeGreaterThanOrEqual(1);
    const pdb = find(objs, 'PodDisruptionBudget', 'tim-kafka-bridge').spec as {
      selector: { matchLabels: Record<string, string> };
    };
    expect(selects(pdb.selector.matchLabels, r.workload.spec.template.metadata.labels)).toBe(true);
    expect(r.workload.spec.template.spec.topologySpreadConstraints?.length).toBeGreaterThan(0);
    expect(config.KAFKA_CREATE_TOPIC).toBe(false);
  });

  test('the analytics consumer runs as a single instance (Recreate, no HPA)', () => {
    const r = byProcess(overlay, 'analytics');
    expect(r.workload.kind).toBe('Deployment');
    expect(r.workload.spec.replicas).toBe(1);
    expect(r.workload.spec.strategy?.type).toBe('Recreate');
    const hpas = render(overlay).filter((o) => o.kind === 'HorizontalPodAutoscaler');
    expect(
      hpas.filter(
        (h) =>
          (h.spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name ===
          r.workload.metadata.name,
      ),
    ).toEqual([]);
  });

  test('the ServiceMonitor scrapes /metrics on the admin port of all three', () => {
    const objs = render(overlay);
    const sm = find(objs, 'ServiceMonitor', 'tim-kafka-bridge').spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string }[];
    };
    const services = objs.filter(
      (o) => o.kind === 'Service' && selects(sm.selector.matchLabels, o.metadata.labels ?? {}),
    );
    const scraped = new Set<string>();
    for (const svc of services) {
      const spec = svc.spec as {
        selector: Record<string, string>;
        ports: { name: string; port: number; targetPort: string | number }[];
      };
      for (const ep of sm.endpoints) {
        expect(ep.path).toBe('/metrics');
        const port = spec.ports.find((p) => p.name === ep.port);
        expect({ svc: svc.metadata.name, port: port?.name }).toEqual({
          svc: svc.metadata.name,
          port: ep.port,
        });
        for (const r of appContainers(overlay)) {
          if (!selects(spec.selector, r.workload.spec.template.metadata.labels)) continue;
          const config = loadAs(r, overlay, tmp) as RunnerConfig;
          expect(portNumber(r.container, port?.targetPort ?? -1)).toBe(config.ADMIN_PORT);
          scraped.add(r.process.name);
        }
      }
    }
    expect([...scraped].sort()).toEqual(['analytics', 'bridge', 'moderation']);
    // the alert rules and the dashboard (sidecar label) are part of the rendering
    find(objs, 'PrometheusRule', 'tim-kafka-bridge');
    expect(find(objs, 'ConfigMap', 'tim-kafka-bridge-dashboard').metadata.labels).toMatchObject({
      grafana_dashboard: '1',
    });
  });

  test('the Ingress routes /callback only, over TLS, to the callback port (never the admin port)', () => {
    const objs = render(overlay);
    const ingresses = objs.filter((o) => o.kind === 'Ingress');
    expect(ingresses).toHaveLength(1);
    const spec = ingresses[0]?.spec as {
      defaultBackend?: unknown;
      tls: { hosts: string[]; secretName: string }[];
      rules: {
        host: string;
        http: {
          paths: {
            path: string;
            pathType: string;
            backend: { service: { name: string; port: { name?: string; number?: number } } };
          }[];
        };
      }[];
    };
    expect(spec.defaultBackend).toBeUndefined();
    const bridge = byProcess(overlay, 'bridge');
    const config = loadAs(bridge, overlay, tmp) as Config;
    for (const rule of spec.rules) {
      expect(spec.tls.some((t) => t.hosts.includes(rule.host) && t.secretName)).toBe(true);
      expect(rule.http.paths).toHaveLength(1);
      const [p] = rule.http.paths;
      expect({ path: p?.path, pathType: p?.pathType }).toEqual({
        path: '/callback',
        pathType: 'Exact',
      });
      const svc = find(objs, 'Service', p?.backend.service.name ?? '').spec as {
        selector: Record<string, string>;
        ports: { name: string; port: number; targetPort: string | number }[];
      };
      expect(selects(svc.selector, bridge.workload.spec.template.metadata.labels)).toBe(true);
      const port = svc.ports.find(
        (x) => x.name === p?.backend.service.port.name || x.port === p?.backend.service.port.number,
      );
      expect(portNumber(bridge.container, port?.targetPort ?? -1)).toBe(config.PORT);
    }
  });

  test('NetworkPolicies: default deny, and each workload allowed only its own ports', () => {
    const objs = render(overlay);
    const policies = objs
      .filter((o) => o.kind === 'NetworkPolicy')
      .map((o) => ({
        name: o.metadata.name,
        spec: o.spec as {
          podSelector: { matchLabels?: Record<string, string> };
          policyTypes: string[];
          ingress?: { from?: unknown[]; ports?: { port: string | number }[] }[];
        },
      }));
    const deny = policies.find(
      (p) => Object.keys(p.spec.podSelector.matchLabels ?? {}).length === 0,
    );
    expect(deny?.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    for (const w of workloads(objs)) {
      const labels = w.spec.template.metadata.labels;
      const own = policies.filter(
        (p) => p !== deny && selects(p.spec.podSelector.matchLabels, labels),
      );
      expect({ w: w.metadata.name, policies: own.length }).toEqual({
        w: w.metadata.name,
        policies: 1,
      });
      const allowedPorts = own.flatMap((p) =>
        (p.spec.ingress ?? []).flatMap((rule) => {
          expect(rule.from?.length).toBeGreaterThan(0); // from somewhere named, never from anywhere
          return (rule.ports ?? []).map((x) => x.port);
        }),
      );
      const r = appContainers(overlay).find((x) => x.workload === w);
      const expected = !r ? [] : r.process.name === 'bridge' ? ['admin', 'http'] : ['admin'];
      expect({ w: w.metadata.name, ports: allowedPorts.sort() }).toEqual({
        w: w.metadata.name,
        ports: expected,
      });
      for (const p of own) expect(p.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
    }
  });

  test('the topics Job creates every topic the code uses, with the partitions the code would use', () => {
    const objs = render(overlay);
    const job = workloads(objs).find((w) => w.kind === 'Job');
    if (!job) throw new Error('no topics Job');
    const jobEnv = Object.fromEntries(
      (job.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? '']),
    );
    const rf = Number(jobEnv.TOPIC_REPLICATION_FACTOR);
    const minIsr = Number(jobEnv.TOPIC_MIN_INSYNC_REPLICAS);
    expect([rf, minIsr]).toEqual(overlay === 'prod' ? [3, 2] : [1, 1]);
    const scriptsVolume = job.spec.template.spec.volumes?.find((v) => v.configMap)?.configMap?.name;
    const files = decode(find(objs, 'ConfigMap', scriptsVolume ?? ''));
    expect(Object.keys(files).sort()).toEqual(['create-topics.sh', 'topics.conf']);
    const topics = parseTopics(files['topics.conf'] ?? '');

    const expected: { topic: string; partitions: number; configs: Record<string, string> }[] = [];
    const bridge = loadAs(byProcess(overlay, 'bridge'), overlay, tmp) as Config;
    // what the bridge would create: every routed command's topic, unknown commands', dead letters
    const routed = routedTopics(routingOptionsOf(bridge));
    expect(routed).toEqual(expect.arrayContaining(['c2c.after-send-msg', 'group.after-send-msg']));
    for (const topic of [...routed, bridge.KAFKA_DLQ_TOPIC]) {
      expected.push({ topic, partitions: bridge.KAFKA_TOPIC_PARTITIONS, configs: {} });
    }
    const consumers: [RunnerConfig & GroupInputConfig, ConsumerDefinition][] = [];
    const analytics = loadAs(byProcess(overlay, 'analytics'), overlay, tmp) as AnalyticsConfig;
    consumers.push([analytics, analyticsConsumer(analytics)]);
    const moderation = loadAs(byProcess(overlay, 'moderation'), overlay, tmp) as ModerationConfig;
    consumers.push([moderation, moderationConsumer(moderation)]);
    for (const [config, def] of consumers) {
      expect(config.KAFKA_CREATE_TOPICS).toBe(false);
      expect(topics.get(config.KAFKA_TOPIC)).toBeDefined();
      // the group messages they also read
      expect(topics.get(config.GROUP_KAFKA_TOPIC ?? '')).toBeDefined();
      // what startConsumer would create: outputs and dead letters, then the extra (state) topics
      for (const topic of [...def.outputs.map((o) => o.topic), config.CONSUMER_DLQ_TOPIC]) {
        expected.push({ topic, partitions: config.OUTPUT_TOPIC_PARTITIONS, configs: {} });
      }
      for (const t of def.extraTopics ?? []) {
        expected.push({
          topic: t.topic,
          partitions: t.numPartitions,
          configs: Object.fromEntries((t.configEntries ?? []).map((e) => [e.name, e.value])),
        });
      }
    }
    for (const e of expected) {
      const t = topics.get(e.topic);
      expect({ topic: e.topic, partitions: t?.partitions }).toEqual({
        topic: e.topic,
        partitions: e.partitions,
      });
      expect(t?.configs).toMatchObject(e.configs);
      // explicit retention (or compaction) on every topic
      expect(t?.configs['retention.ms'] ?? t?.configs['cleanup.policy']).toBeDefined();
    }
    // nothing created that no code uses
    expect([...topics.keys()].sort()).toEqual([...new Set(expected.map((e) => e.topic))].sort());
  });

  test('copies of files outside k8s/ are current (observability/generate.sh, k8s/sync-files.sh)', () => {
    const same = (copy: string, source: string) =>
      expect({
        copy,
        same: readFileSync(join(ROOT, copy), 'utf8') === readFileSync(join(ROOT, source), 'utf8'),
      }).toEqual({
        copy,
        same: true,
      });
    same(
      'k8s/base/observability/prometheusrule.yaml',
      'observability/prometheus/prometheusrule.yaml',
    );
    same(
      'k8s/base/observability/dashboard-configmap.yaml',
      'observability/grafana/dashboard-configmap.yaml',
    );
    same('k8s/base/consumers/moderation-rules.yaml', 'config/moderation-rules.example.yaml');
  });
});

test('Secrets: the dev overlay holds placeholders only; the prod overlay holds none', () => {
  const secrets = render('dev').filter((o) => o.kind === 'Secret');
  expect(secrets.length).toBeGreaterThan(0);
  const all = [configSpec, analyticsSpec, ...PROCESSES.map((p) => p.spec)].flatMap(secretNames);
  for (const s of secrets) {
    for (const [key, value] of Object.entries(decode(s))) {
      expect({ key, known: all.includes(key) }).toEqual({ key, known: true });
      expect({ key, value }).toEqual({ key, value: expect.stringMatching(/^(|change-me)$/) });
    }
  }
  // applying prod can never overwrite real credentials
  expect(render('prod').filter((o) => o.kind === 'Secret')).toEqual([]);
});

function parseTopics(
  conf: string,
): Map<string, { partitions: number; configs: Record<string, string> }> {
  const out = new Map<string, { partitions: number; configs: Record<string, string> }>();
  for (const line of conf.split('\n')) {
    const [name, partitions, ...configs] = line.trim().split(/\s+/);
    if (!name || name.startsWith('#')) continue;
    out.set(name, {
      partitions: Number(partitions),
      configs: Object.fromEntries(configs.map((c) => c.split('=') as [string, string])),
    });
  }
  return out;
}

async function serve(
  app: Parameters<typeof createServer>[1],
): Promise<{ server: Server; url: string }> {
  const server = createServer(app);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
