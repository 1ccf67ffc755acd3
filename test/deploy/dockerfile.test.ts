import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, scripts } from './support';

/**
 * The Dockerfile and .dockerignore, read as Docker reads them (no Docker engine here): a
 * multi-stage build on Node 24, production dependencies only at run time, a numeric non-root
 * user, tini as PID 1, NODE_ENV=production, the bridge by default, and a build context without
 * tests, secrets or local state.
 */

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name?: string;
  body: Instruction[];
}

/** Instructions with their continuation lines joined, comments dropped, grouped by stage. */
function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const logical = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op = '', rest = ''] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    const ins = { op: op.toUpperCase(), args: rest.replace(/\s+/g, ' ') };
    if (ins.op === 'FROM') {
      const [, from = '', name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args) ?? [];
      stages.push({ from, name, body: [] });
    } else if (stages.length === 0 && ins.op === 'ARG') {
      const [k = '', v = ''] = ins.args.split('=');
      args[k] = v;
    } else {
      stages.at(-1)?.body.push(ins);
    }
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const final = dockerfile.stages.at(-1) as Stage;
const ops = (stage: Stage, op: string) => stage.body.filter((i) => i.op === op).map((i) => i.args);
const image = (from: string) =>
  from.replace(/^\$\{(\w+)\}$/, (_, k: string) => dockerfile.args[k] ?? '');

test('multi-stage, every stage on a Node 24 image (the project needs Node >=24)', () => {
  expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
  for (const s of dockerfile.stages) expect(image(s.from)).toMatch(/^node:24[-.]/);
});

test('the runtime stage: production dependencies only, non-root, tini, NODE_ENV=production', () => {
  // node_modules comes from a stage that installed with --omit=dev (no `node` package, no tools)
  const fromStage = ops(final, 'COPY')
    .map((a) => /^--from=(\S+) \/app\/node_modules /.exec(a)?.[1])
    .find(Boolean);
  const deps = dockerfile.stages.find((s) => s.name === fromStage);
  expect(deps).toBeDefined();
  const installs = ops(deps as Stage, 'RUN').filter((r) => /npm (ci|install)/.test(r));
  expect(installs.length).toBeGreaterThan(0);
  for (const r of installs) expect(r).toMatch(/npm ci --omit=dev/);
  // no install in the runtime stage itself
  expect(ops(final, 'RUN').filter((r) => /npm (ci|install)/.test(r))).toEqual([]);

  expect(ops(final, 'USER')).toEqual([expect.stringMatching(/^[1-9]\d*:[1-9]\d*$/)]);
  expect(ops(final, 'ENV').join(' ')).toMatch(/\bNODE_ENV=production\b/);
  expect(JSON.parse(ops(final, 'ENTRYPOINT')[0] ?? '[]')).toEqual(['/usr/bin/tini', '--']);
  expect(ops(final, 'RUN').join(' ')).toMatch(/apt-get install .*\btini\b/);
  // the default command is the bridge, exactly `npm start`
  expect((JSON.parse(ops(final, 'CMD')[0] ?? '[]') as string[]).join(' ')).toBe(scripts.start);
});

test('the runtime stage holds what the processes read, and nothing of the sources or tests', () => {
  const copies = ops(final, 'COPY');
  const fromContext = copies.filter((a) => !a.startsWith('--from='));
  const sources = fromContext.flatMap((a) => a.split(' ').slice(0, -1));
  expect(sources.sort()).toEqual(['config', 'package.json', 'schemas']);
  expect(copies).toContainEqual(
    expect.stringMatching(/^--from=\S+ \/app\/dist\/src \.\/dist\/src$/),
  );
  // the spool directory exists, owned by the process's user (a fresh volume inherits it)
  const user = ops(final, 'USER')[0] ?? '';
  const spool = /SPOOL_DIR=(\S+)/.exec(ops(final, 'ENV').join(' '))?.[1] ?? '';
  expect(spool).not.toBe('');
  expect(ops(final, 'RUN').join(' ')).toContain(`chown ${user} ${spool}`);
  // entry points of every process are compiled from src/ in the build stage
  for (const s of ['start', 'consumer:analytics', 'consumer:moderation']) {
    expect(scripts[s]).toMatch(/^node (--[\w-]+=\w+ )*dist\/src\/.+\.js$/);
  }
});

/**
 * A .dockerignore pattern as Docker's matcher reads it (Go's filepath.Match plus `**`, dot files
 * included): `**` any number of folders, `*` and `?` within one path segment.
 */
function patternRegex(pattern: string): RegExp {
  let re = '';
  const p = pattern.replace(/^\/+/, '');
  for (let i = 0; i < p.length; i++) {
    const c = p[i] ?? '';
    if (c === '*' && p[i + 1] === '*') {
      re += '.*';
      i++;
      if (p[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Docker's rules: the last matching pattern wins; a pattern on a folder covers its contents. */
function ignored(path: string, patterns: string[]): boolean {
  let out = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const re = patternRegex(negate ? raw.slice(1) : raw);
    const parts = path.split('/');
    if (parts.some((_, i) => re.test(parts.slice(0, i + 1).join('/')))) out = !negate;
  }
  return out;
}

test('.dockerignore keeps tests, secrets and local state out of the build context', () => {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const tracked = execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  const context = tracked.filter((f) => !ignored(f, patterns));
  // what the Dockerfile copies from the context is there
  for (const need of [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
  ]) {
    expect(context).toContain(need);
  }
  for (const dir of ['src/', 'schemas/', 'config/']) {
    expect({ dir, files: context.some((f) => f.startsWith(dir)) }).toEqual({ dir, files: true });
  }
  expect(context).toContain('src/main.ts');
  // and nothing else: no tests, fixtures, scripts, docs, CI, deploy files
  for (const f of context) {
    expect({
      f,
      ok: /^(package(-lock)?\.json|tsconfig(\.build)?\.json|(src|schemas|config)\/.*)$/.test(f),
    }).toEqual({
      f,
      ok: true,
    });
    expect(f).not.toMatch(/\.test\.ts$/);
  }
  // local files that must never reach an image, tracked or not
  for (const f of [
    '.env',
    'config/.env',
    '.git/config',
    '.tools/bin/kubeconform',
    'node_modules/x/index.js',
    'spool/spool.db',
    '.stack/kafka/meta.properties',
    'test/fixtures/callbacks/text.json',
    'src/tencent/parse.test.ts',
    'config/tls.key',
    'config/ca.pem',
  ]) {
    expect({ f, ignored: ignored(f, patterns) }).toEqual({ f, ignored: true });
  }
});

test('OCI labels: title, description, licence and source, version and revision from build arguments declared last', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    name: string;
    license: string;
  };
  const labels: Record<string, string> = {};
  for (const args of ops(final, 'LABEL')) {
    for (const [, k = '', v = ''] of args.matchAll(/([\w.-]+)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      labels[k] = v.replace(/^"(.*)"$/, '$1');
    }
  }
  const oci = (k: string) => labels[`org.opencontainers.image.${k}`];
  expect(oci('title')).toBe(pkg.name);
  expect(oci('licenses')).toBe(pkg.license);
  expect(oci('description')).toMatch(/Kafka/);
  // version, revision and source: build arguments of the runtime stage, with defaults
  const declared = Object.fromEntries(
    ops(final, 'ARG').map((a) => a.split('=') as [string, string | undefined]),
  );
  for (const [k, arg] of [
    ['version', 'VERSION'],
    ['revision', 'REVISION'],
    ['source', 'SOURCE'],
  ] as const) {
    expect({ k, value: oci(k) }).toEqual({ k, value: `\${${arg}}` });
    expect({ arg, default: declared[arg] }).toEqual({ arg, default: expect.any(String) });
  }
  expect(declared.SOURCE).toMatch(/^https:\/\//);
  // after every RUN and COPY: a new revision invalidates no cached layer
  const last = (op: string) => final.body.map((i) => i.op).lastIndexOf(op);
  const firstArg = final.body.findIndex((i) => i.op === 'ARG' && /^REVISION\b/.test(i.args));
  expect(firstArg).toBeGreaterThan(Math.max(last('RUN'), last('COPY')));
});
