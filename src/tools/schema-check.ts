import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { type AvroSchemaJson, SUBJECT_COMPATIBILITY, expandSchema, sharedTypes } from '../schemas';
import { assertValidSchema, compatibilityProblems } from './schema-compat';

const USAGE = `npm run schema:check [-- --against <git-ref>]

Checks every schema in schemas/ (the working tree, shared types expanded) against its version at
<git-ref> with Avro's resolution rules under the subjects' compatibility level (${SUBJECT_COMPATIBILITY}: the
new schema must read records written with the old one), naming each field at fault.

  --against <git-ref>  the version to compare with (default: the newest v* tag in HEAD's history)
  --help               this text

Exit status: 0 compatible; 1 a schema is incompatible or invalid; 2 usage or git error.`;

export interface SchemaCheckOptions {
  /** A folder inside the git repository whose schemas/ is checked. */
  cwd: string;
  /** A git ref; default: the newest v* tag merged into HEAD. */
  against?: string;
  write: (line: string) => void;
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

/** Runs the check; returns the exit status. */
export function runSchemaCheck(opts: SchemaCheckOptions): number {
  const { write } = opts;
  let root: string;
  let ref: string;
  try {
    root = git(opts.cwd, ['rev-parse', '--show-toplevel']).trim();
    const against = opts.against ?? newestReleaseTag(root);
    if (against === undefined)
      throw new UsageError(
        'no v* tag in the history of HEAD to compare with (a shallow clone? run `git fetch --tags`), or pass --against <git-ref>',
      );
    ref = against;
    git(root, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch (err) {
    write(
      `schema:check: ${err instanceof UsageError ? err.message : `git: ${(err as Error).message.trim()}`}`,
    );
    return 2;
  }
  const oldDir = schemasAt(root, ref);
  try {
    let failed = 0;
    write(`schema:check: schemas/ against ${ref}, compatibility ${SUBJECT_COMPATIBILITY}`);
    let current: Map<string, AvroSchemaJson>;
    let previous: Map<string, AvroSchemaJson>;
    try {
      current = topLevelSchemas(join(root, 'schemas'));
      previous = topLevelSchemas(oldDir);
    } catch (err) {
      write(`  FAIL a schema file is not JSON: ${(err as Error).message}`);
      return 1;
    }
    for (const [file, schema] of current) {
      const old = previous.get(file);
      let problems;
      try {
        assertValidSchema(schema);
        problems =
          old === undefined ? [] : compatibilityProblems(SUBJECT_COMPATIBILITY, schema, old);
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
  } finally {
    rmSync(dirname(oldDir), { recursive: true, force: true });
  }
}

function main(): void {
  let values;
  try {
    ({ values } = parseArgs({
      options: { against: { type: 'string' }, help: { type: 'boolean' } },
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
  process.exitCode = runSchemaCheck({
    cwd: process.cwd(),
    against: values.against,
    write: (line) => process.stdout.write(`${line}\n`),
  });
}

if (require.main === module) main();
