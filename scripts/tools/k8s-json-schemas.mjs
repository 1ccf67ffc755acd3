// Writes standalone JSON schemas for kubeconform (`-schema-location <out>/{{.ResourceKind}}{{.KindSuffix}}.json`
// and `<out>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json` for custom resources).
//
//   node scripts/tools/k8s-json-schemas.mjs <kubernetes-validate schema dir> <out dir> [crd.yaml ...]
//
// The schema dir is one `vX.Y.Z-local-strict` folder of the PyPI package kubernetes-validate: strict
// (additionalProperties: false) JSON Schema 2020-12 files, one per kind, whose $refs point into a
// shared `/api/_definitions.json`. kubeconform cannot follow those, so each kind is written with
// the definitions it reaches inlined under its own $defs. CRDs (YAML) give their
// openAPIV3Schema, made strict the same way (objects with properties and no
// additionalProperties/x-kubernetes-preserve-unknown-fields get additionalProperties: false).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const [srcDir, outDir, ...crdFiles] = process.argv.slice(2);
if (!srcDir || !outDir) {
  console.error('usage: k8s-json-schemas.mjs <schema dir> <out dir> [crd.yaml ...]');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

// refs from a kind's file into the shared definitions, and between definitions
const DEFS_REFS = ['/api/_definitions.json#/$defs/', '#/$defs/'];
const definitions = JSON.parse(readFileSync(join(srcDir, '_definitions.json'), 'utf8')).$defs;

/** Rewrites refs to `#/$defs/<name>` and collects the names reached (transitively). */
function localise(node, reached) {
  if (Array.isArray(node)) return node.map((n) => localise(n, reached));
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    const prefix = k === '$ref' && typeof v === 'string' && DEFS_REFS.find((p) => v.startsWith(p));
    if (prefix) {
      const name = v.slice(prefix.length);
      if (!(name in definitions)) throw new Error(`unknown definition ${name}`);
      reached.add(name);
      out[k] = `#/$defs/${name}`;
    } else {
      out[k] = localise(v, reached);
    }
  }
  return out;
}

let kinds = 0;
for (const file of readdirSync(srcDir)) {
  if (!file.endsWith('.json') || file.startsWith('_') || file === 'all.json') continue;
  const schema = JSON.parse(readFileSync(join(srcDir, file), 'utf8'));
  const gvk = schema['x-kubernetes-group-version-kind'];
  if (!Array.isArray(gvk) || gvk.length === 0 || gvk[0].kind.endsWith('List')) continue;
  const reached = new Set();
  const root = localise(schema, reached);
  const defs = {};
  const queue = [...reached];
  while (queue.length > 0) {
    const name = queue.pop();
    if (name in defs) continue;
    const more = new Set();
    defs[name] = localise(definitions[name], more);
    for (const m of more) if (!(m in defs)) queue.push(m);
  }
  delete root.$id;
  root.$defs = defs;
  writeFileSync(join(outDir, file), JSON.stringify(root));
  kinds++;
}

/** Strict like kubeconform's own CRD conversion (openapi2jsonschema --strict). */
function strict(node) {
  if (Array.isArray(node)) return node.map(strict);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node))
    out[k] = k === 'properties' ? mapValues(v, strict) : strict(v);
  if (
    out.type === 'object' &&
    out.properties &&
    out.additionalProperties === undefined &&
    out['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out.additionalProperties = false;
  }
  return out;
}
const mapValues = (o, f) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));

let crds = 0;
for (const file of crdFiles) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = doc.toJS();
    if (crd?.kind !== 'CustomResourceDefinition') continue;
    const { group, names, versions } = crd.spec;
    for (const v of versions) {
      const schema = strict(v.schema.openAPIV3Schema);
      schema.$schema = 'http://json-schema.org/draft-04/schema#';
      const dir = join(outDir, group);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, `${names.kind.toLowerCase()}_${v.name}.json`),
        JSON.stringify(schema),
      );
      crds++;
    }
  }
}
console.error(
  `k8s-json-schemas: ${kinds} Kubernetes kinds, ${crds} custom resource versions -> ${outDir}`,
);
