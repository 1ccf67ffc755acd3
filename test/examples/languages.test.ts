import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopics } from '../../src/kafka/admin';
import { readSettled } from '../../src/kafka/reader';
import { sign } from '../../src/tencent/signature';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, uniqueTopic, type TestBridge } from '../support/bridge';
import { QUERY, loadCommandFixtures, loadFixtures } from '../support/fixtures';
import { CALLBACK_TOKEN, SDKAPPID } from '../support/process';
import { KAFKA_BROKERS, ROOT, SCHEMA_REGISTRY_URL } from '../support/stack';

/**
 * The consumer examples of examples/ (docs/consumers.md, "Consuming from other languages"), each
 * built or installed the way its README says, read the same C2C and group records through the
 * real bridge, Kafka and registry and must print exactly the lines this test computes from the
 * callbacks it posted: every language prints the same messages. Adding a language is one entry
 * in EXAMPLES.
 */

/** One language's example: how to make it ready to run, and how to run it. */
interface Example {
  name: string;
  /** Builds or installs it (idempotent); throws, naming what is missing, if its toolchain is. */
  prepare(): Promise<void>;
  /** The program and its arguments, run in `dir` with the example's environment variables. */
  command: string[];
  dir: string;
}

const EXAMPLES_DIR = join(ROOT, 'examples');
const PYTHON_DIR = join(EXAMPLES_DIR, 'python');
const JAVA_DIR = join(EXAMPLES_DIR, 'java');
const GO_DIR = join(EXAMPLES_DIR, 'go');
const TS_EXAMPLE = join(EXAMPLES_DIR, 'typescript');
/** The TypeScript example runs in a fresh project that installs the packed client package. */
const TS_DIR = mkdtempSync(join(tmpdir(), 'tim-client-example-'));

const EXAMPLES: Example[] = [
  {
    name: 'typescript',
    dir: TS_DIR,
    async prepare() {
      // `npm pack` of the client (its prepack builds it), installed into a fresh project with
      // KafkaJS, the example compiled under strict by the project's TypeScript
      const packed = await run(
        'npm',
        ['pack', join(ROOT, 'packages', 'client'), '--pack-destination', TS_DIR],
        { cwd: ROOT },
      );
      const tarball = packed.stdout.trim().split('\n').pop() as string;
      for (const f of ['consumer.ts', 'tsconfig.json'])
        copyFileSync(join(TS_EXAMPLE, f), join(TS_DIR, f));
      writeFileSync(join(TS_DIR, 'package.json'), JSON.stringify({ name: 'fresh', private: true }));
      const kafkajs = (
        JSON.parse(readFileSync(join(ROOT, 'node_modules', 'kafkajs', 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
      await run(
        'npm',
        [
          'install',
          '--no-audit',
          '--no-fund',
          '--prefer-offline',
          `./${tarball}`,
          `kafkajs@${kafkajs}`,
        ],
        { cwd: TS_DIR },
      );
      const installed = readdirSync(join(TS_DIR, 'node_modules'));
      if (installed.some((d) => ['express', 'pino', 'prom-client', '@kafkajs'].includes(d)))
        throw new Error(
          `the client package brought the bridge's server dependencies: ${installed.join(', ')}`,
        );
      // the machine's @types/node, not a download: the example's own tsconfig otherwise
      writeFileSync(
        join(TS_DIR, 'tsconfig.test.json'),
        JSON.stringify({
          extends: './tsconfig.json',
          compilerOptions: { typeRoots: [join(ROOT, 'node_modules', '@types')] },
        }),
      );
      await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.test.json'], {
        cwd: TS_DIR,
      });
    },
    command: [process.execPath, 'dist/consumer.js'],
  },
  {
    name: 'python',
    dir: PYTHON_DIR,
    async prepare() {
      requireTool('python3', ['--version'], 'the Python example');
      const venv = join(PYTHON_DIR, '.venv');
      if (!existsSync(join(venv, 'bin', 'python')))
        await run('python3', ['-m', 'venv', venv], { cwd: PYTHON_DIR });
      // pip asks no index when the pinned versions are installed already
      await run(
        join(venv, 'bin', 'python'),
        ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', 'requirements.txt'],
        { cwd: PYTHON_DIR },
      );
    },
    command: [join(PYTHON_DIR, '.venv', 'bin', 'python'), 'consumer.py'],
  },
  {
    name: 'java',
    dir: JAVA_DIR,
    async prepare() {
      requireTool('java', ['-version'], 'the Java example');
      requireTool('mvn', ['-v'], 'the Java example');
      await run('mvn', ['-q', '-B', 'package'], { cwd: JAVA_DIR });
    },
    command: ['java', '-jar', 'target/consumer.jar'],
  },
  {
    name: 'go',
    dir: GO_DIR,
    async prepare() {
      requireTool('go', ['version'], 'the Go example');
      await run('go', ['build', '-buildvcs=false', '-o', 'consumer', '.'], {
        cwd: GO_DIR,
        env: { ...process.env, GOTOOLCHAIN: 'local' },
      });
    },
    command: [join(GO_DIR, 'consumer')],
  },
];

/** Fails with a clear message when a toolchain an example needs is not on PATH. */
function requireTool(tool: string, versionArgs: string[], who: string): void {
  const probe = spawnSync(tool, versionArgs, { stdio: 'ignore' });
  if (probe.error !== undefined)
    throw new Error(
      `${who} needs ${tool}, which is not installed here (${probe.error.message}): install it (README.md, "Run it, test it")`,
    );
}

/** Runs a program; rejects with its output (the tail) when it fails or outlives timeoutMs. */
function run(
  file: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 600_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 2 ** 20,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err === null) resolve({ stdout, stderr });
        else
          reject(
            new Error(
              `${[file, ...args].join(' ')} (in ${opts.cwd}) failed: ${err.message}\n${tail(stdout)}\n${tail(stderr)}`,
            ),
          );
      },
    );
  });
}

const tail = (text: string): string => text.split('\n').slice(-30).join('\n');

// ---------------------------------------------------------------------------------------------
// The callbacks, and the line every example must print for each

interface Posted {
  command: string;
  text: string;
  json: Record<string, unknown>;
  query: Record<string, string | undefined>;
}

/** A group message with neither sender nor sequence and a text element without Text. */
const SPARSE_GROUP = {
  CallbackCommand: 'Group.CallbackAfterSendMsg',
  GroupId: '@TGS#系统通知',
  Type: 'Public',
  MsgBody: [
    { MsgType: 'TIMTextElem', MsgContent: {} },
    { MsgType: 'TIMTextElem', MsgContent: { Text: 'Ω ✓' } },
  ],
};

/**
 * Every C2C fixture and every Group.CallbackAfterSendMsg fixture: ASCII and non-ASCII text
 * (emoji sequences, CJK, right-to-left scripts, a NUL, a newline, a tab, a backslash), every
 * element type, relay messages, an element type the schema does not know, a 2^32-1 MsgSeq.
 */
const POSTED: Posted[] = [
  ...loadFixtures().map((f) => ({
    command: 'C2C.CallbackAfterSendMsg',
    text: f.text,
    json: f.json,
    query: QUERY,
  })),
  ...loadCommandFixtures().filter((f) => f.command === 'Group.CallbackAfterSendMsg'),
  {
    command: 'Group.CallbackAfterSendMsg',
    text: JSON.stringify(SPARSE_GROUP),
    json: SPARSE_GROUP,
    query: { ...QUERY, CallbackCommand: 'Group.CallbackAfterSendMsg' },
  },
];

/**
 * The common output format (examples/README.md), written here from the callback JSON as sent:
 *   c2c <From_Account> -> <To_Account> [<MsgKey>]: <elements>
 *   group <GroupId> <From_Account or -> [<MsgSeq or ->]: <elements>
 * each element its Text for a TIMTextElem (nothing when absent), else [<MsgType>], joined by a
 * space; then a backslash is written \\ and a control character \uXXXX, so one record is one line.
 */
function expectedLine(p: Posted): string {
  const cb = p.json;
  const body = (cb.MsgBody as { MsgType: string; MsgContent: { Text?: string } }[])
    .map((e) => (e.MsgType === 'TIMTextElem' ? (e.MsgContent.Text ?? '') : `[${e.MsgType}]`))
    .join(' ');
  const orDash = (v: unknown): string => (v === undefined || v === null ? '-' : String(v));
  const line =
    p.command === 'Group.CallbackAfterSendMsg'
      ? `group ${String(cb.GroupId)} ${orDash(cb.From_Account)} [${orDash(cb.MsgSeq)}]: ${body}`
      : `c2c ${String(cb.From_Account)} -> ${String(cb.To_Account)} [${String(cb.MsgKey)}]: ${body}`;
  let out = '';
  for (const c of line) {
    const code = c.codePointAt(0)!;
    if (c === '\\') out += '\\\\';
    else if (code < 0x20) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const groupTopic = uniqueTopic('examples.group');
const groupIds = EXAMPLES.map((e) => `test-examples-${e.name}-${runId}`);
let bridge: TestBridge;
/** Each example's preparation: undefined when ready, else why not. */
const prepared = new Map<string, Error | undefined>();

beforeAll(async () => {
  // the builds and installs (the first time: downloads from PyPI, Maven Central, the Go proxy)
  // go on while the bridge starts and the records land
  const preparing = Promise.all(
    EXAMPLES.map(async (e) => {
      const started = Date.now();
      const outcome = await e.prepare().then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
      prepared.set(e.name, outcome);
      process.stdout.write(
        `examples: ${e.name} ${outcome ? 'NOT ready' : 'ready'} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
    }),
  );

  bridge = await startTestBridge('examples.c2c', {
    COMMAND_ROUTES: `*=off,C2C.CallbackAfterSendMsg=on,Group.CallbackAfterSendMsg=${groupTopic}`,
    TENCENT_SDKAPPIDS: SDKAPPID,
    TENCENT_CALLBACK_TOKEN: CALLBACK_TOKEN,
  });
  const refused: string[] = [];
  for (const p of POSTED) {
    const requestTime = String(Math.floor(Date.now() / 1000));
    const res = await postCallback(bridge.callbackUrl, p.text, {
      query: {
        ...p.query,
        SdkAppid: SDKAPPID,
        RequestTime: requestTime,
        Sign: sign(CALLBACK_TOKEN, requestTime),
      },
    });
    const reply = await res.text();
    if (res.status !== 200 || reply !== OK_REPLY) refused.push(`${p.text}: ${res.status} ${reply}`);
  }
  expect(refused).toEqual([]);
  const records = await readSettled(bridge.kafka, [bridge.topic, groupTopic], POSTED.length, {
    timeoutMs: 60_000,
  });
  expect(records).toHaveLength(POSTED.length);
  await preparing;
}, 900_000);

afterAll(async () => {
  rmSync(TS_DIR, { recursive: true, force: true });
  if (!bridge) return;
  await bridge.dispose();
  await deleteTopics(bridge.kafka, [groupTopic]).catch(() => undefined);
  const admin = bridge.kafka.admin();
  await admin.connect();
  await admin.deleteGroups(groupIds).catch(() => undefined);
  await admin.disconnect();
});

test(`every example (${EXAMPLES.map((e) => e.name).join(', ')}) prints the same messages: the lines of the posted callbacks`, async () => {
  const expected = POSTED.map(expectedLine).sort();
  const printed: Record<string, string[]> = {};
  for (const [i, example] of EXAMPLES.entries()) {
    const problem = prepared.get(example.name);
    if (problem !== undefined) {
      printed[example.name] = [`not built or installed: ${problem.message}`];
      continue;
    }
    const [file, ...args] = example.command as [string, ...string[]];
    try {
      const { stdout } = await run(file, args, {
        cwd: example.dir,
        timeoutMs: 90_000,
        // a C locale: each example must write UTF-8 whatever the terminal says
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          LANG: 'C',
          LC_ALL: 'C',
          KAFKA_BROKERS,
          SCHEMA_REGISTRY_URL,
          TOPICS: `${bridge.topic},${groupTopic}`,
          GROUP_ID: groupIds[i],
          MAX_MESSAGES: String(POSTED.length),
        },
      });
      // records of different partitions come in any order
      printed[example.name] = stdout
        .split('\n')
        .filter((l) => l !== '')
        .sort();
    } catch (err) {
      printed[example.name] = [`failed: ${(err as Error).message}`];
    }
  }
  expect(printed).toEqual(Object.fromEntries(EXAMPLES.map((e) => [e.name, expected])));
}, 600_000);
