import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { type AvroSchemaJson, SUBJECT_COMPATIBILITY, expandSchema, sharedTypes } from '../schemas';
import { assertValidSchema, compatibilityProblems } from './schema-compat';

/** The schemas of the last release, recorded in the tree for clones without tags (see USAGE). */
export const BASELINE_FILE = 'schemas-released.json';

const USAGE = `npm run schema:check [-- --against <git-ref>] [-- --record <release>]

Checks every schema in schemas/ (the working tree, shared types expanded) against its version at
<git-ref> with Avro's resolution rules under the subjects' compatibility level (${SUBJECT_COMPATIBILITY}: the
new schema must read records written with the old one), naming each field at fault.

  --against <git-ref>  the version to compare with (default: the newest v* tag in HEAD's history;
                       in a clone without tags, such as a shallow CI clone, the release recorded
                       in ${BASELINE_FILE})
  --record <release>   write the working tree's schemas to ${BASELINE_FILE} as <release>
                       (a release step, before tagging it)
  --help               this text

Exit status: 0 compatible; 1 a schema is incompatible or invalid; 2 usage or git error.`;

export interface SchemaCheckOptions {
  /** A folder inside the git repository whose schemas/ is checked. */
  cwd: string;
  /** A git ref; default: the newest v* tag merged into HEAD, else the recorded baseline. */
  against?: string;
  write: (line: string) => void;
}

/** `schemas-released.json`: a release's top-level schemas (shared types expanded), by file. */
export interface SchemaBaseline {
  release: string;
  schemas: Record<string, AvroSchemaJson>;
}

class UsageError extends Error {}

function git(cwd: string, args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The newest `v*` tag (by version) in HEAD's history. */
export function newestReleaseTag(cwd: string): string | undefined {
  return git(cwd, ['tag', '--list', 'v*', '--sort=-v:refname', '--merged', 'HEAD'])
    .split('\n')
    .find((t) => t.trim() !== '');
}

/** Writes `schemas/` as it was at `ref` into a temporary folder; returns that schemas folder. */
function schemasAt(root: string, ref: string): string {
  const out = join(mkdtempSync(join(tmpdir(), 'schema-check-')), 'schemas');
  mkdirSync(out, { recursive: true });
  const files = git(root, ['ls-tree', '-r', '--name-only', ref, '--', 'schemas'])
    .split('\n')
    .filter((f) => f.endsWith('.avsc'));
  for (const file of files) {
    const target = join(out, file.slice('schemas/'.length));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, git(root, ['show', `${ref}:${file}`]));
  }
  return out;
}

/** The top-level schemas of a schemas/ folder (shared types expanded), by file name. */
function topLevelSchemas(dir: string): Map<string, AvroSchemaJson> {
  const shared = sharedTypes(dir);
  const schemas = new Map<string, AvroSchemaJson>();
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.avsc'))
    .sort())
    schemas.set(
      file,
      expandSchema(JSON.parse(readFileSync(join(dir, file), 'utf8')) as AvroSchemaJson, shared),
    );
  return schemas;
}

/** Reads the recorded baseline of a repository root, if there is one. */
export function readBaseline(root: string): SchemaBaseline | undefined {
  const path = join(root, BASELINE_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as SchemaBaseline) : undefined;
}

/** The working tree's schemas as a baseline named `release`. */
export function currentBaseline(root: string, release: string): SchemaBaseline {
  return { release, schemas: Object.fromEntries(topLevelSchemas(join(root, 'schemas'))) };
}

/** Writes the working tree's schemas to the baseline file as `release`; returns the exit status. */
export function recordBaseline(opts: {
  cwd: string;
  release: string;
  write: (line: string) => void;
}): number {
  const root = git(opts.cwd, ['rev-parse', '--show-toplevel']).trim();
  const baseline = currentBaseline(root, opts.release);
  writeFileSync(join(root, BASELINE_FILE), `${JSON.stringify(baseline, null, 2)}\n`);
  opts.write(
    `schema:check: recorded ${Object.keys(baseline.schemas).length} schemas as ${opts.release} in ${BASELINE_FILE}`,
  );
  return 0;
}

/** The top-level schemas (shared types expanded) of `schemas/` at a git ref, by file. */
export function schemasOfRef(root: string, ref: string): Map<string, AvroSchemaJson> {
  const oldDir = schemasAt(root, ref);
  try {
    return topLevelSchemas(oldDir);
  } finally {
    rmSync(dirname(oldDir), { recursive: true, force: true });
  }
}

/** What the tree is compared with: a name to print and the old schemas by file. */
interface Previous {
  label: string;
  schemas: () => Map<string, AvroSchemaJson>;
}

function previousSchemas(root: string, against: string | undefined): Previous {
  const ref = against ?? newestReleaseTag(root);
  if (ref !== undefined) {
    git(root, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    return {
      label: ref,
      schemas: () => schemasOfRef(root, ref),
    };
  }
  const baseline = readBaseline(root);
  if (baseline === undefined)
    throw new UsageError(
      `no v* tag in the history of HEAD to compare with (a shallow clone? run \`git fetch --tags\`) and no ${BASELINE_FILE}; pass --against <git-ref>`,
    );
  return {
    label: `${baseline.release} (as recorded in ${BASELINE_FILE}: no v* tag in this clone)`,
    schemas: () => new Map(Object.entries(baseline.schemas)),
  };
}

/** Runs the check; returns the exit status. */
export function runSchemaCheck(opts: SchemaCheckOptions): number {
  const { write } = opts;
  let previous: Previous;
  try {
    const root = git(opts.cwd, ['rev-parse', '--show-toplevel']).trim();
    previous = previousSchemas(root, opts.against);
    return compare(join(root, 'schemas'), previous, write);
  } catch (err) {
    if (err instanceof UsageError || (err as { status?: unknown }).status !== undefined) {
      write(
        `schema:check: ${err instanceof UsageError ? err.message : `git: ${(err as Error).message.trim()}`}`,
      );
      return 2;
    }
    throw err;
  }
}

function compare(
  schemasDirectory: string,
  against: Previous,
  write: (line: string) => void,
): number {
  const ref = against.label;
  let failed = 0;
  write(`schema:check: schemas/ against ${ref}, compatibility ${SUBJECT_COMPATIBILITY}`);
  let current: Map<string, AvroSchemaJson>;
  let previous: Map<string, AvroSchemaJson>;
  try {
    current = topLevelSchemas(schemasDirectory);
    previous = against.schemas();
  } catch (err) {
    write(`  FAIL a schema file is not JSON: ${(err as Error).message}`);
    return 1;
  }
  for (const [file, schema] of current) {
    const old = previous.get(file);
    let problems;
    try {
      assertValidSchema(schema);
      problems = old === undefined ? [] : compatibilityProblems(SUBJECT_COMPATIBILITY, schema, old);
    } catch (err) {
      failed++;
      write(`  FAIL ${file}: not a valid Avro schema: ${(err as Error).message}`);
      continue;
    }
    if (problems.length === 0) {
      write(`  ok   ${file}${old === undefined ? ` (new since ${ref})` : ''}`);
      continue;
    }
    failed++;
    for (const p of problems) write(`  FAIL ${file}: field ${p.path}: ${p.message}`);
  }
  for (const file of previous.keys())
    if (!current.has(file))
      write(`  note ${file} was removed since ${ref}: its topic's readers keep what they have`);
  write(
    failed === 0
      ? `schema:check: ${current.size} schemas compatible with ${ref}`
      : `schema:check: ${failed} of ${current.size} schemas incompatible with ${ref}; see docs/records.md#evolving-a-schema`,
  );
  return failed === 0 ? 0 : 1;
}

function main(): void {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        against: { type: 'string' },
        record: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const write = (line: string): void => void process.stdout.write(`${line}\n`);
  if (values.record !== undefined) {
    process.exitCode = recordBaseline({ cwd: process.cwd(), release: values.record, write });
    return;
  }
  process.exitCode = runSchemaCheck({
    cwd: process.cwd(),
    against: values.against,
    write,
  });
}

if (require.main === module) main();
