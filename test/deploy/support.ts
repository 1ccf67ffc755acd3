import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { configSpec, loadConfig, type VarSpec } from '../../src/config';
import {
  analyticsSpec,
  loadAnalyticsConfig,
  loadModerationConfig,
  moderationSpec,
} from '../../src/consumers/config';

/**
 * Helpers of the deploy tests: the pinned tools installed by scripts/tools/install-deploy-tools.sh
 * (kustomize, kubeconform and its schemas, docker compose), the rendered manifests as typed
 * objects, and the processes of the image with their config specs.
 */

export const ROOT = join(__dirname, '..', '..');
export const TOOLS = join(ROOT, '.tools');
const INSTALL = 'bash scripts/tools/install-deploy-tools.sh';

function missing(what: string): Error {
  return new Error(`${what} is missing: run \`${INSTALL}\` (installs it into .tools/)`);
}

const onPath = (cmd: string): boolean =>
  spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

/** `kubectl kustomize` when kubectl carries kustomize v5+, else the pinned .tools/bin/kustomize. */
export function kustomize(dir: string): string {
  if (onPath('kubectl')) {
    const version = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
    const major = /Kustomize Version: v(\d+)\./.exec(version)?.[1];
    if (major !== undefined && Number(major) >= 5) return run('kubectl', ['kustomize', dir]);
  }
  const bin = join(TOOLS, 'bin', 'kustomize');
  if (!existsSync(bin))
    throw missing('kustomize v5 (neither kubectl 1.27+ nor .tools/bin/kustomize)');
  return run(bin, ['build', dir]);
}

// ---- the kustomizations, rendered as an operator would ---------------------------------------------

/** What the tests render: the two overlays, and the example that puts the components together. */
export const KUSTOMIZATIONS = {
  prod: 'k8s/overlays/prod',
  dev: 'k8s/overlays/dev',
  'aws-msk': 'k8s/examples/aws-msk',
} as const;
export type Overlay = keyof typeof KUSTOMIZATIONS;

/** A value per Secret key, as an operator fills in the examples; `fill` overrides some. */
export type Fill = Record<string, string>;

/** What an operator leaves empty in each kustomization's Secrets (the rest is filled in). */
const UNUSED: Record<Overlay, Fill> = {
  // no SASL, a registry without authentication, no client key
  dev: { KAFKA_SASL_PASSWORD: '', SCHEMA_REGISTRY_PASSWORD: '', KAFKA_SSL_KEY_PASSWORD: '' },
  prod: { KAFKA_SSL_KEY_PASSWORD: '' },
  'aws-msk': { SCHEMA_REGISTRY_PASSWORD: '', KAFKA_SSL_KEY_PASSWORD: '' },
};

/**
 * A copy of k8s/ (kustomize reads nothing outside its folder) in which each committed
 * `secrets/<file>.example` is written out as `secrets/<file>`, as the operator does before
 * `kubectl apply -k`: env files with every key filled in (`filled-in-<KEY>`, or `fill`), other
 * files (certificates) as they are. The real, git-ignored files of this working tree are never
 * copied. `extra` adds files (path relative to the copy's k8s/ folder). Returns the copy's k8s/.
 */
export function k8sCopy(fill: Fill = {}, extra: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'tim-k8s-'));
  const k8s = join(root, 'k8s');
  const isSecretFile = (src: string) => basename(dirname(src)) === 'secrets';
  cpSync(join(ROOT, 'k8s'), k8s, {
    recursive: true,
    filter: (src) => !isSecretFile(src) || src.endsWith('.example'),
  });
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
    );
  for (const example of walk(k8s).filter((f) => isSecretFile(f) && f.endsWith('.example'))) {
    const text = readFileSync(example, 'utf8');
    const out = example.slice(0, -'.example'.length);
    writeFileSync(
      out,
      out.endsWith('.env')
        ? text.replace(
            /^([A-Z0-9_]+)=.*$/gm,
            (_, k: string) => `${k}=${fill[k] ?? `filled-in-${k}`}`,
          )
        : text,
    );
  }
  for (const [path, text] of Object.entries(extra)) {
    mkdirSync(dirname(join(k8s, path)), { recursive: true });
    writeFileSync(join(k8s, path), text);
  }
  return k8s;
}

/** Renders a kustomization of a k8s/ copy (`k8sCopy`): path relative to k8s/, e.g. `overlays/prod`. */
export const renderCopy = (k8s: string, path: string): string =>
  kustomize(join(k8s, ...path.split('/')));

const renders = new Map<string, string>();
/** The rendered text of one of KUSTOMIZATIONS, its Secrets filled in (`k8sCopy`); cached. */
export function renderOverlay(overlay: Overlay, fill: Fill = {}): string {
  const key = `${overlay} ${JSON.stringify(fill)}`;
  let text = renders.get(key);
  if (text === undefined) {
    const k8s = k8sCopy({ ...UNUSED[overlay], ...fill });
    try {
      text = renderCopy(k8s, KUSTOMIZATIONS[overlay].replace(/^k8s\//, ''));
    } finally {
      rmSync(dirname(k8s), { recursive: true, force: true });
    }
    renders.set(key, text);
  }
  return text;
}

export const SCHEMAS = join(TOOLS, 'k8s-schemas');

/** kubeconform, strict, against the pinned schemas only (no network); returns its JSON report. */
export function kubeconform(file: string): { status: number; output: string } {
  const bin = join(TOOLS, 'bin', 'kubeconform');
  if (!existsSync(bin)) throw missing('kubeconform');
  if (!existsSync(SCHEMAS) || readdirSync(SCHEMAS).length === 0) {
    throw missing('the Kubernetes JSON schemas (.tools/k8s-schemas)');
  }
  const r = spawnSync(
    bin,
    [
      '-strict',
      '-summary',
      '-output',
      'json',
      '-schema-location',
      join(SCHEMAS, '{{ .ResourceKind }}{{ .KindSuffix }}.json'),
      '-schema-location',
      join(SCHEMAS, '{{ .Group }}', '{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'),
      file,
    ],
    { encoding: 'utf8' },
  );
  if (r.error) throw r.error;
  return { status: r.status ?? -1, output: r.stdout + r.stderr };
}

/** `docker compose` (v2): the docker CLI with the plugin from .tools/docker, or the plugin alone. */
export function dockerCompose(args: string[], env: NodeJS.ProcessEnv): string {
  const plugin = join(TOOLS, 'docker', 'cli-plugins', 'docker-compose');
  if (!existsSync(plugin)) throw missing('docker compose v2 (.tools/docker/cli-plugins)');
  if (onPath('docker')) {
    return run('docker', ['compose', ...args], { ...env, DOCKER_CONFIG: join(TOOLS, 'docker') });
  }
  return run(plugin, args, env);
}

// ---- the Kubernetes objects the tests read ---------------------------------------------------------

export interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec?: unknown;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
export interface Probe {
  httpGet?: { path?: string; port: number | string };
  [k: string]: unknown;
}
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command: string[] } } };
  resources?: {
    requests?: Record<string, string>;
    limits?: Record<string, string>;
  };
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    seccompProfile?: { type: string };
  };
  automountServiceAccountToken?: boolean;
  topologySpreadConstraints?: unknown[];
  volumes?: {
    name: string;
    configMap?: { name: string };
    secret?: { secretName: string; optional?: boolean };
    emptyDir?: unknown;
    persistentVolumeClaim?: unknown;
  }[];
}
export interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    strategy?: { type: string };
    selector?: { matchLabels?: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: {
      metadata: { name: string };
      spec: { storageClassName?: string; resources: { requests: { storage: string } } };
    }[];
  };
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`bad YAML: ${d.errors[0]?.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'Job', 'DaemonSet'];
export const workloads = (objs: K8sObject[]): Workload[] =>
  objs.filter((o): o is Workload => WORKLOAD_KINDS.includes(o.kind));

export function find(objs: K8sObject[], kind: string, name: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return o;
}

/** Whether every matchLabels pair is among labels. */
export const selects = (
  selector: Record<string, string> | undefined,
  labels: Record<string, string>,
): boolean => Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Whether a label selector (matchLabels and matchExpressions) selects these labels. */
export function matches(selector: LabelSelector | undefined, labels: Record<string, string>) {
  if (!selects(selector?.matchLabels, labels)) return false;
  return (selector?.matchExpressions ?? []).every((e) => {
    const v = labels[e.key];
    switch (e.operator) {
      case 'In':
        return v !== undefined && (e.values ?? []).includes(v);
      case 'NotIn':
        return v === undefined || !(e.values ?? []).includes(v);
      case 'Exists':
        return v !== undefined;
      case 'DoesNotExist':
        return v === undefined;
      default:
        throw new Error(`unknown selector operator ${e.operator}`);
    }
  });
}

// ---- the processes of the image ---------------------------------------------------------------------

export interface ProcessKind {
  name: 'bridge' | 'analytics' | 'moderation';
  /** the npm script that runs it; a container's command line must be that script's */
  script: string;
  spec: Record<string, VarSpec>;
  load(env: Record<string, string | undefined>): unknown;
}

export const PROCESSES: ProcessKind[] = [
  { name: 'bridge', script: 'start', spec: configSpec, load: loadConfig },
  {
    name: 'analytics',
    script: 'consumer:analytics',
    spec: analyticsSpec,
    load: loadAnalyticsConfig,
  },
  {
    name: 'moderation',
    script: 'consumer:moderation',
    spec: moderationSpec,
    load: loadModerationConfig,
  },
];

/** package.json's scripts. */
export const scripts = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  }
).scripts;

/** The process a command line runs: the one whose npm script is exactly that command line. */
export function processOf(commandLine: string[]): ProcessKind | undefined {
  const line = commandLine.join(' ');
  return PROCESSES.find((p) => scripts[p.script] === line);
}

/** The value of a variable as a process sees it: set, or the spec's default. */
export function valueOf(env: Record<string, string>, spec: Record<string, VarSpec>, name: string) {
  const v = env[name] ?? spec[name]?.default;
  if (v === undefined) throw new Error(`${name} is neither set nor defaulted`);
  return v;
}

export const secretNames = (spec: Record<string, VarSpec>): string[] =>
  Object.entries(spec)
    .filter(([, v]) => v.secret === true)
    .map(([k]) => k);
