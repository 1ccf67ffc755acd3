#!/usr/bin/env node
// A Job that drains the spool of a retained claim that no bridge replica mounts any more (the
// StatefulSet was scaled down; its claims stay: persistentVolumeClaimRetentionPolicy Retain).
// The Job is made from the running StatefulSet itself, so it has the same image, configuration
// (the hash-suffixed ConfigMaps and the Secrets), security context and spool path:
//
//   kubectl -n tim-kafka-bridge get statefulset tim-kafka-bridge -o json \
//     | node k8s/spool-drain/spool-drain-job.mjs --claim spool-tim-kafka-bridge-3 \
//     | kubectl -n tim-kafka-bridge apply -f -
//
// The Job runs `node dist/src/tools/spool-drain.js --dir <spool>` (npm run spool:drain): it logs
// what the spool held, sends it to Kafka oldest first and exits 0 once it is empty. Never run it
// on a claim a replica mounts (the drain refuses a spool another process holds, but only on the
// same node). docs/operate.md, "Runbook: a spool left behind by a scale-down".
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { claim: { type: 'string' }, 'timeout-ms': { type: 'string', default: '600000' } },
});
if (!values.claim) {
  process.stderr.write('usage: ... | spool-drain-job.mjs --claim <pvc name> [--timeout-ms <ms>]\n');
  process.exit(2);
}

const sts = JSON.parse(readFileSync(0, 'utf8'));
if (sts.kind !== 'StatefulSet') {
  process.stderr.write(`expected a StatefulSet on stdin, got ${sts.kind}\n`);
  process.exit(2);
}
const template = sts.spec.template;
const bridge =
  template.spec.containers.find((c) => c.name === 'bridge') ?? template.spec.containers[0];
const spoolMount = bridge.volumeMounts.find((m) => m.name === 'spool');
if (!spoolMount) {
  process.stderr.write('the StatefulSet has no spool volume mount\n');
  process.exit(2);
}
const ordinal = /-(\d+)$/.exec(values.claim)?.[1] ?? 'claim';
const name = `${sts.metadata.name}-spool-drain-${ordinal}`.slice(0, 63);
const labels = {
  'app.kubernetes.io/name': sts.metadata.name,
  'app.kubernetes.io/component': 'spool-drain',
};

const job = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name, labels },
  spec: {
    backoffLimit: 3,
    ttlSecondsAfterFinished: 86400,
    template: {
      metadata: { labels },
      spec: {
        restartPolicy: 'Never',
        serviceAccountName: template.spec.serviceAccountName,
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        securityContext: template.spec.securityContext,
        containers: [
          {
            name: 'spool-drain',
            image: bridge.image,
            imagePullPolicy: bridge.imagePullPolicy,
            args: [
              'node',
              'dist/src/tools/spool-drain.js',
              '--dir',
              spoolMount.mountPath,
              '--timeout-ms',
              values['timeout-ms'],
            ],
            envFrom: bridge.envFrom,
            ...(bridge.env ? { env: bridge.env } : {}),
            resources: bridge.resources,
            securityContext: bridge.securityContext,
            volumeMounts: bridge.volumeMounts,
          },
        ],
        volumes: [
          ...(template.spec.volumes ?? []).filter((v) => v.name !== 'spool'),
          { name: 'spool', persistentVolumeClaim: { claimName: values.claim } },
        ],
      },
    },
  },
};
process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
