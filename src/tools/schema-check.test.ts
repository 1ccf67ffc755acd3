import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { schemasDir } from '../schemas';
import {
  BASELINE_FILE,
  newestReleaseTag,
  readBaseline,
  recordBaseline,
  runSchemaCheck,
  schemasOfRef,
} from './schema-check';

/** A git repository holding a copy of schemas/, committed and tagged v0.0.1 (then v0.0.2). */
let repo: string;
const git = (...args: string[]): string =>
  execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const file = (name: string): string => join(repo, 'schemas', name);

function check(against?: string): { status: number; out: string } {
  const lines: string[] = [];
  const status = runSchemaCheck({ cwd: repo, against, write: (l) => lines.push(l) });
  return { status, out: lines.join('\n') };
}

/** Edits a schema file's JSON in the working tree. */
function edit(name: string, change: (schema: { fields: Record<string, unknown>[] }) => void): void {
  const schema = JSON.parse(readFileSync(file(name), 'utf8')) as {
    fields: Record<string, unknown>[];
  };
  change(schema);
  writeFileSync(file(name), JSON.stringify(schema, null, 2));
}

beforeEach(() => {
  repo = mkdtempSync(join(tmpdir(), 'schema-check-repo-'));
  cpSync(schemasDir(), join(repo, 'schemas'), { recursive: true });
  git('init', '-q');
  git(
    '-c',
    'user.name=t',
    '-c',
    'user.email=t@example.com',
    'commit',
    '-q',
    '--allow-empty',
    '-m',
    'start',
  );
});
afterEach(() => rmSync(repo, { recursive: true, force: true }));

function release(tag: string): void {
  git('add', '-A');
  git(
    '-c',
    'user.name=t',
    '-c',
    'user.email=t@example.com',
    'commit',
    '-q',
    '--allow-empty',
    '-m',
    tag,
  );
  git('tag', tag);
}

test('without a v* tag it says how to give a ref, exit 2', () => {
  const r = check();
  expect(r.status).toBe(2);
  expect(r.out).toMatch(/no v\* tag .* pass --against <git-ref>/);
  expect(check('no-such-ref').status).toBe(2);
});

test('the unchanged tree passes against the newest tag (by version, not by name)', () => {
  release('v0.9.0');
  release('v0.10.0');
  expect(newestReleaseTag(repo)).toBe('v0.10.0');
  const r = check();
  expect(r).toEqual({ status: 0, out: expect.stringContaining('schemas/ against v0.10.0') });
  expect(r.out).toContain('ok   c2c-after-send-msg.avsc');
});

test('a field of c2c-after-send-msg.avsc changing type fails, naming the field', () => {
  release('v0.1.0');
  edit('c2c-after-send-msg.avsc', (s) => {
    const f = s.fields.find((x) => x.name === 'MsgSeq') as Record<string, unknown>;
    f.type = 'string';
  });
  const r = check();
  expect(r.status).toBe(1);
  expect(r.out).toContain(
    'FAIL c2c-after-send-msg.avsc: field CallbackAfterSendMsg.MsgSeq: the new schema cannot read old records: long cannot be read as string',
  );
  expect(r.out).toMatch(/1 of \d+ schemas incompatible with v0.1.0/);
});

test('a field added without a default fails, naming it; with a default it passes', () => {
  release('v0.1.0');
  edit('c2c-after-send-msg.avsc', (s) => s.fields.push({ name: 'Priority', type: 'string' }));
  const r = check();
  expect(r.status).toBe(1);
  expect(r.out).toContain(
    'FAIL c2c-after-send-msg.avsc: field CallbackAfterSendMsg.Priority: the new schema cannot read old records: has no default',
  );
  edit('c2c-after-send-msg.avsc', (s) => {
    const f = s.fields.find((x) => x.name === 'Priority') as Record<string, unknown>;
    f.type = ['null', 'string'];
    f.default = null;
  });
  expect(check().status).toBe(0);
});

test('a change to a shared type fails every schema that uses it; --against picks the ref', () => {
  release('v0.1.0');
  const first = git('rev-parse', 'HEAD').trim();
  edit('shared/msg-element.avsc', (s) => {
    const f = s.fields.find((x) => x.name === 'MsgType') as Record<string, unknown>;
    f.type = 'int';
  });
  const r = check();
  expect(r.status).toBe(1);
  expect(r.out).toContain(
    'FAIL c2c-after-send-msg.avsc: field CallbackAfterSendMsg.MsgBody[].MsgType: the new schema cannot read old records: string cannot be read as int',
  );
  expect(r.out).toContain('FAIL group-after-send-msg.avsc: field');
  release('v0.2.0'); // released anyway: against it the tree passes, against the first it does not
  expect(check().status).toBe(0);
  expect(check(first).status).toBe(1);
});

test('a new schema file passes as new, a schema that is not Avro fails', () => {
  release('v0.1.0');
  writeFileSync(file('new-topic.avsc'), JSON.stringify({ type: 'record', name: 'N', fields: [] }));
  expect(check()).toEqual({
    status: 0,
    out: expect.stringContaining('ok   new-topic.avsc (new since v0.1.0)'),
  });
  writeFileSync(
    file('new-topic.avsc'),
    JSON.stringify({ type: 'record', name: 'N', fields: [{ name: 'x', type: 'nope' }] }),
  );
  const r = check();
  expect(r.status).toBe(1);
  expect(r.out).toContain('FAIL new-topic.avsc: not a valid Avro schema');
});

test('without a tag it compares with the recorded baseline, saying so', () => {
  const lines: string[] = [];
  expect(recordBaseline({ cwd: repo, release: 'v0.3.0', write: (l) => lines.push(l) })).toBe(0);
  expect(lines.join('\n')).toMatch(/recorded \d+ schemas as v0.3.0 in schemas-released.json/);
  const ok = check();
  expect(ok.status).toBe(0);
  expect(ok.out).toContain(
    'against v0.3.0 (as recorded in schemas-released.json: no v* tag in this clone)',
  );
  edit('c2c-after-send-msg.avsc', (s) => s.fields.push({ name: 'Priority', type: 'string' }));
  const r = check();
  expect(r.status).toBe(1);
  expect(r.out).toContain('FAIL c2c-after-send-msg.avsc: field CallbackAfterSendMsg.Priority');
  release('v0.4.0'); // a tag, once there, is the baseline again
  expect(check().out).toContain('schemas/ against v0.4.0,');
});

describe(`this repository's ${BASELINE_FILE}`, () => {
  const root = dirname(schemasDir());
  const baseline = readBaseline(root);

  test("records the newest release of CHANGELOG.md, with the tag's schemas where the tag is here", () => {
    const changelog = readFileSync(join(root, 'CHANGELOG.md'), 'utf8');
    const newest = /^## (\d+\.\d+\.\d+)/m.exec(changelog)?.[1];
    expect(baseline?.release).toBe(`v${newest}`);
    const tag = newestReleaseTag(root);
    if (tag === undefined) return; // a clone without tags: the file is all there is
    expect(tag).toBe(baseline?.release);
    expect(new Map(Object.entries(baseline?.schemas ?? {}))).toEqual(schemasOfRef(root, tag));
  });
});
