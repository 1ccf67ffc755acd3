import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, matchesGlob } from 'node:path';
import { parse } from 'yaml';
import type { Config } from '../../src/config';
import type { RunnerConfig } from '../../src/consumers/config';
import { dockerCompose, PROCESSES, processOf, ROOT, valueOf, type ProcessKind } from './support';

/**
 * docker-compose.yml checked by `docker compose config` (Compose v2 from
 * scripts/tools/install-deploy-tools.sh) and against the code: the services' environments use
 * the config schemas' names and load, the commands are package.json's, Prometheus scrapes the
 * admin ports, every published port is on loopback, and the start order holds.
 */

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | null;
  environment?: Record<string, string | null>;
  ports?: { host_ip?: string; target: number; published: string }[];
  volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  user?: string;
}
interface Compose {
  services: Record<string, Service>;
}

let tmp: string;
let compose: Compose;

/** `docker compose config` with only these variables: neither the caller's environment nor a local .env count. */
function composeConfig(vars: string): string {
  const envFile = join(tmp, 'test.env');
  writeFileSync(envFile, vars);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return dockerCompose(
    [
      '--project-directory',
      ROOT,
      '-f',
      join(ROOT, 'docker-compose.yml'),
      '--env-file',
      envFile,
      'config',
      '--format',
      'json',
    ],
    env,
  );
}

/** The values an operator must give (.env), one per line. */
const REQUIRED: Record<string, string> = {
  TENCENT_SDKAPPIDS: '1400000001',
  TENCENT_CALLBACK_TOKEN: 'compose-test-token',
  GRAFANA_ADMIN_PASSWORD: 'compose-test-grafana',
};
const vars = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tim-compose-'));
  compose = JSON.parse(composeConfig(vars(REQUIRED))) as Compose;
});

test.each(Object.keys(REQUIRED))(
  'docker compose config refuses to render without %s, naming it',
  (name) => {
    const others = Object.fromEntries(Object.entries(REQUIRED).filter(([k]) => k !== name));
    expect(() => composeConfig(vars(others))).toThrow(new RegExp(`set ${name} \\(`));
    // nor with it empty
    expect(() => composeConfig(vars({ ...others, [name]: '' }))).toThrow(
      new RegExp(`set ${name} \\(`),
    );
  },
);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The image's default command: the Dockerfile's CMD. */
function imageCmd(): string[] {
  const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
  return JSON.parse(cmd ?? '[]') as string[];
}

function apps(): {
  name: string;
  svc: Service;
  process: ProcessKind;
  env: Record<string, string>;
}[] {
  return Object.entries(compose.services)
    .filter(([, svc]) => svc.build !== undefined || svc.image === compose.services.bridge?.image)
    .map(([name, svc]) => {
      const process = processOf(svc.command ?? imageCmd());
      if (!process) throw new Error(`service ${name} runs no process of package.json's scripts`);
      const env = Object.fromEntries(
        Object.entries(svc.environment ?? {}).map(([k, v]) => [k, v ?? '']),
      );
      return { name, svc, process, env };
    });
}

const app = (name: ProcessKind['name']) => {
  const a = apps().find((x) => x.process.name === name);
  if (!a) throw new Error(`no service runs the ${name}`);
  return a;
};

function load(a: ReturnType<typeof app>): Config | RunnerConfig {
  const env = { ...a.env };
  if (a.process.name === 'moderation') {
    // the rules file the container reads is a bind mount: load its source
    const path = valueOf(env, a.process.spec, 'MODERATION_RULES_FILE');
    const mount = a.svc.volumes?.find((v) => v.target === path);
    if (!mount) throw new Error(`MODERATION_RULES_FILE ${path} is not mounted`);
    env.MODERATION_RULES_FILE = mount.source;
  }
  return a.process.load(env) as Config | RunnerConfig;
}

test('docker compose config accepts the file; the image runs the bridge and both consumers', () => {
  expect(
    apps()
      .map((a) => a.process.name)
      .sort(),
  ).toEqual(['analytics', 'bridge', 'moderation']);
  expect(Object.keys(compose.services).sort()).toEqual(
    [
      'analytics',
      'bridge',
      'grafana',
      'kafka',
      'moderation',
      'prometheus',
      'schema-registry',
      'topics',
    ].sort(),
  );
});

test.each(PROCESSES.map((p) => p.name))(
  '%s: the environment uses only its config schema names, and the config loads',
  (name) => {
    const a = app(name);
    const known = Object.keys(a.process.spec);
    expect(Object.keys(a.env).filter((k) => !known.includes(k))).toEqual([]);
    expect(() => load(a)).not.toThrow();
  },
);

test('the processes are hardened and stop gracefully before a SIGKILL', () => {
  for (const a of apps()) {
    expect({ s: a.name, read_only: a.svc.read_only, cap_drop: a.svc.cap_drop }).toEqual({
      s: a.name,
      read_only: true,
      cap_drop: ['ALL'],
    });
    expect(a.svc.security_opt).toContain('no-new-privileges:true');
    expect(a.svc.user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const grace = Number(valueOf(a.env, a.process.spec, 'SHUTDOWN_GRACE_MS')) / 1000;
    expect(seconds(a.svc.stop_grace_period ?? '10s')).toBeGreaterThan(grace);
  }
  const bridge = load(app('bridge')) as Config;
  // the spool on a named volume, where the bridge looks for it
  expect(app('bridge').svc.volumes).toContainEqual(
    expect.objectContaining({ type: 'volume', target: bridge.SPOOL_DIR }),
  );
});

test("Prometheus scrapes every process's admin port and loads the alert rules", () => {
  const prom = compose.services.prometheus;
  const configMount = prom?.volumes?.find((v) => v.target === '/etc/prometheus/prometheus.yml');
  if (!configMount) throw new Error('no Prometheus configuration mounted');
  const config = parse(readFileSync(configMount.source, 'utf8')) as {
    rule_files: string[];
    scrape_configs: {
      job_name: string;
      metrics_path?: string;
      static_configs: { targets: string[]; labels?: Record<string, string> }[];
    }[];
  };
  const scraped = new Set<string>();
  for (const job of config.scrape_configs) {
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    for (const target of job.static_configs.flatMap((s) => s.targets)) {
      const [host, port] = target.split(':');
      const a = apps().find((x) => x.name === host);
      if (!a) throw new Error(`scrape target ${target} is no service of the image`);
      expect({ target, port: Number(port) }).toEqual({
        target,
        port: (load(a) as RunnerConfig).ADMIN_PORT,
      });
      scraped.add(a.process.name);
    }
    // the dashboard's legends name pods: here, the service
    for (const s of job.static_configs)
      expect(s.labels?.pod).toBe(s.targets.length === 1 ? s.targets[0]!.split(':')[0] : undefined);
  }
  expect([...scraped].sort()).toEqual(['analytics', 'bridge', 'moderation']);
  // the repo's rules file is mounted where rule_files looks
  const rules = prom?.volumes?.find((v) =>
    v.source.endsWith('observability/prometheus/tim-kafka-bridge.rules.yml'),
  );
  expect(config.rule_files.some((g) => rules && matchesGlob(rules.target, g))).toBe(true);
});

test('Grafana gets the Prometheus data source and the repo dashboard, provisioned', () => {
  const grafana = compose.services.grafana;
  const provisioning = grafana?.volumes?.find((v) => v.target === '/etc/grafana/provisioning');
  if (!provisioning) throw new Error('no provisioning folder mounted');
  const ds = parse(
    readFileSync(join(provisioning.source, 'datasources', 'prometheus.yml'), 'utf8'),
  ) as { datasources: { type: string; url: string }[] };
  expect(ds.datasources).toEqual([
    expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090' }),
  ]);
  const providers = parse(
    readFileSync(join(provisioning.source, 'dashboards', 'tim-kafka-bridge.yml'), 'utf8'),
  ) as { providers: { options: { path: string } }[] };
  const dashboard = grafana?.volumes?.find((v) =>
    v.source.endsWith('observability/grafana/tim-kafka-bridge.json'),
  );
  expect(dashboard && dirname(dashboard.target)).toBe(providers.providers[0]?.options.path);
});

const published = (c: Compose) =>
  Object.entries(c.services).flatMap(([name, s]) =>
    (s.ports ?? []).map((p) => ({ name, target: p.target, host_ip: p.host_ip })),
  );

test('published ports are bound to loopback by default', () => {
  const ports = published(compose);
  expect(ports.length).toBeGreaterThan(0);
  for (const p of ports) expect(p).toEqual({ ...p, host_ip: '127.0.0.1' });
});

test('only the callback port can be published beyond loopback (TIM_CALLBACK_BIND_ADDRESS); Kafka, the registry, admin ports, Prometheus and Grafana never', () => {
  const wide = JSON.parse(
    composeConfig(
      // the former all-ports knob, TIM_BIND_ADDRESS, publishes nothing any more
      vars({ ...REQUIRED, TIM_CALLBACK_BIND_ADDRESS: '0.0.0.0', TIM_BIND_ADDRESS: '0.0.0.0' }),
    ),
  ) as Compose;
  const bridge = load(app('bridge')) as Config;
  const ports = published(wide);
  expect(ports.filter((p) => p.host_ip !== '127.0.0.1')).toEqual([
    { name: 'bridge', target: bridge.PORT, host_ip: '0.0.0.0' },
  ]);
  expect(ports.length).toBe(published(compose).length);
});

test('Grafana: no default admin password (the one given), anonymous visitors read only', () => {
  const env = compose.services.grafana?.environment ?? {};
  expect(env.GF_SECURITY_ADMIN_PASSWORD).toBe(REQUIRED.GRAFANA_ADMIN_PASSWORD);
  expect({
    anonymous: env.GF_AUTH_ANONYMOUS_ENABLED,
    role: env.GF_AUTH_ANONYMOUS_ORG_ROLE,
  }).toEqual({ anonymous: 'true', role: 'Viewer' });
  expect(env.GF_USERS_ALLOW_SIGN_UP).toBe('false');
});

test('health checks and depends_on conditions bring it up in order; bind mounts exist', () => {
  const s = compose.services;
  for (const name of [
    'kafka',
    'schema-registry',
    'bridge',
    'analytics',
    'moderation',
    'prometheus',
    'grafana',
  ]) {
    expect({ name, healthcheck: (s[name]?.healthcheck?.test.length ?? 0) > 0 }).toEqual({
      name,
      healthcheck: true,
    });
  }
  expect(s['schema-registry']?.depends_on?.kafka?.condition).toBe('service_healthy');
  expect(s.topics?.depends_on?.kafka?.condition).toBe('service_healthy');
  for (const a of apps()) {
    expect(a.svc.depends_on?.['schema-registry']?.condition).toBe('service_healthy');
    expect(a.svc.depends_on?.topics?.condition).toBe('service_completed_successfully');
  }
  expect(s.grafana?.depends_on?.prometheus?.condition).toBe('service_healthy');
  // the bridge's health check asks its own admin port
  const bridge = load(app('bridge')) as Config;
  expect(s.bridge?.healthcheck?.test.join(' ')).toContain(`:${bridge.ADMIN_PORT}/readyz`);
  // a missing bind source would silently become an empty directory
  for (const [name, svc] of Object.entries(s)) {
    for (const v of svc.volumes ?? []) {
      if (v.type === 'bind')
        expect({ name, source: v.source, exists: existsSync(v.source) }).toEqual({
          name,
          source: v.source,
          exists: true,
        });
    }
  }
});

test('the topics service runs the Kubernetes Job script on a single broker; the apps create none', () => {
  const topics = compose.services.topics;
  expect(topics?.command).toEqual(['/bin/sh', '/opt/tim-kafka-topics/create-topics.sh']);
  expect(topics?.volumes).toContainEqual(
    expect.objectContaining({
      source: join(ROOT, 'k8s', 'base', 'topics'),
      target: '/opt/tim-kafka-topics',
    }),
  );
  expect(topics?.environment).toMatchObject({
    TOPIC_REPLICATION_FACTOR: '1',
    TOPIC_MIN_INSYNC_REPLICAS: '1',
  });
  expect((load(app('bridge')) as Config).KAFKA_CREATE_TOPIC).toBe(false);
  expect((load(app('analytics')) as RunnerConfig).KAFKA_CREATE_TOPICS).toBe(false);
  expect((load(app('moderation')) as RunnerConfig).KAFKA_CREATE_TOPICS).toBe(false);
});

function seconds(duration: string): number {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  if (!m) throw new Error(`unexpected duration ${duration}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
}
