import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSpec } from '../../src/config';
import { drainSpec } from '../../src/tools/spool-drain';
import {
  find,
  kubeconform,
  matches,
  parseManifests,
  renderOverlay,
  ROOT,
  type K8sObject,
  type LabelSelector,
  type Workload,
} from './support';

/**
 * The Job that drains a retained spool claim (k8s/spool-drain/spool-drain-job.mjs), made from the
 * rendered production StatefulSet: it validates, runs the drain tool on the claim at the bridge's
 * spool path, with the bridge's image, configuration, volumes (Kafka's TLS files) and hardening,
 * and the NetworkPolicies let it reach DNS and Kafka. The committed example is the script's
 * output.
 */
const SCRIPT = join(ROOT, 'k8s', 'spool-drain', 'spool-drain-job.mjs');
const EXAMPLE = join(ROOT, 'k8s', 'spool-drain', 'job.example.json');

const objs = parseManifests(renderOverlay('prod'));
const sts = find(objs, 'StatefulSet', 'tim-kafka-bridge') as Workload;

function jobFor(claim: string): string {
  const r = spawnSync(process.execPath, [SCRIPT, '--claim', claim], {
    input: JSON.stringify(sts),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

test('the Job drains the named claim at the spool path, with the bridge image, config and hardening', () => {
  const job = JSON.parse(jobFor('spool-tim-kafka-bridge-3')) as Workload;
  const [c] = job.spec.template.spec.containers;
  const [bridge] = sts.spec.template.spec.containers;
  const mount = bridge!.volumeMounts!.find((m) => m.name === 'spool')!;
  expect(job.metadata.name).toBe('tim-kafka-bridge-spool-drain-3');
  expect(c!.args).toEqual([
    'node',
    'dist/src/tools/spool-drain.js',
    '--dir',
    mount.mountPath,
    '--timeout-ms',
    '600000',
  ]);
  expect(c!.image).toBe(bridge!.image);
  expect(c!.envFrom).toEqual(bridge!.envFrom);
  expect(c!.securityContext).toEqual(bridge!.securityContext);
  expect(job.spec.template.spec.securityContext).toEqual(sts.spec.template.spec.securityContext);
  expect(job.spec.template.spec.volumes).toContainEqual({
    name: 'spool',
    persistentVolumeClaim: { claimName: 'spool-tim-kafka-bridge-3' },
  });
  // the tool reads a subset of the bridge's own variables, so the bridge's config serves it
  for (const name of Object.keys(drainSpec)) expect(configSpec).toHaveProperty(name);
  // the bridge's other volumes (Kafka's CA, k8s/components/kafka-tls) at the same paths
  expect(job.spec.template.spec.volumes).toEqual(
    expect.arrayContaining(
      (sts.spec.template.spec.volumes ?? []).filter((v) => v.name !== 'spool'),
    ),
  );
  expect(job.spec.template.spec.volumes?.map((v) => v.name)).toContain('kafka-tls');
  expect(c!.volumeMounts).toEqual(bridge!.volumeMounts);
  // the egress policies to DNS and Kafka apply to the Job's pods
  for (const name of ['tim-egress-dns', 'tim-egress-kafka']) {
    const policy = find(objs, 'NetworkPolicy', name) as K8sObject & {
      spec: { podSelector: LabelSelector };
    };
    expect({
      name,
      selected: matches(policy.spec.podSelector, job.spec.template.metadata?.labels ?? {}),
    }).toEqual({ name, selected: true });
  }
});

test('the Job passes the Kubernetes schemas, and the committed example is what the script makes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tim-drain-job-'));
  try {
    const text = jobFor('spool-tim-kafka-bridge-2');
    writeFileSync(join(dir, 'job.json'), text);
    const report = kubeconform(join(dir, 'job.json'));
    expect({ status: report.status, output: report.status === 0 ? '' : report.output }).toEqual({
      status: 0,
      output: '',
    });
    expect(readFileSync(EXAMPLE, 'utf8')).toBe(text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
