import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { deleteTopics } from '../../src/kafka/admin';
import { avroType } from '../../src/kafka/codec';
import { readTopic } from '../../src/kafka/reader';
import { Registry } from '../../src/kafka/registry';
import { loadSchema } from '../../src/schemas';
import { verifySignature } from '../../src/tencent/signature';
import { createRecordMapper } from '../../src/tencent/record';
import { buildSchemaModel } from '../../src/tencent/schema-model';
import { OPTION_NAMES } from '../../src/tools/simulate-args';
import type { SimulateSummary } from '../../src/tools/simulate-report';
import { spooledRecords, startTestBridge, uniqueTopic, type TestBridge } from '../support/bridge';
import { buildIfStale, freePort } from '../support/process';
import { ROOT, SCHEMA_REGISTRY_URL } from '../support/stack';
import { metricValue, scrape, waitFor } from '../support/wait';

/**
 * `npm run simulate` end to end: the compiled CLI (a process of its own, as users run it) against
 * the real bridge and stack. What it counts as OK is exactly what lands in Kafka: every accepted
 * request once, duplicates included (same MsgKey), with the OptPlatform it sent; Push.* one
 * record per event, before-callbacks stored after their answer, commands routed off nowhere.
 */

const SIMULATE_JS = join(ROOT, 'dist', 'src', 'tools', 'simulate.js');
const APP = '1400000042';
const TOKEN = 'simulate-test-token';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI without blocking the event loop (the bridge under test runs in this process). */
function simulate(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SIMULATE_JS, ...args],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: 60000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const summaryOf = (run: Run): SimulateSummary => JSON.parse(run.stdout) as SimulateSummary;

const topics = {
  push: uniqueTopic('simulate-push'),
  group: uniqueTopic('simulate-group'),
  before: uniqueTopic('simulate-before'),
};

let bridge: TestBridge;
let url: string;

beforeAll(async () => {
  buildIfStale();
  bridge = await startTestBridge('simulate', {
    TENCENT_SDKAPPIDS: APP,
    TENCENT_CALLBACK_TOKEN: TOKEN,
    // State.StateChange stays off: answered OK, stored nowhere
    COMMAND_ROUTES: [
      '*=off',
      'C2C.CallbackAfterSendMsg=on',
      `Push.OfflinePush=${topics.push}`,
      `Group.CallbackAfterSendMsg=${topics.group}`,
      `Sns.CallbackPrevFriendAdd=${topics.before}`,
    ].join(','),
  });
  url = bridge.callbackUrl;
}, 120000);

afterAll(async () => {
  if (!bridge) return;
  await bridge.dispose();
  await deleteTopics(bridge.kafka, Object.values(topics)).catch(() => undefined);
});

test('the C2C mix for 3 s: OK count = records in the topic, duplicates and platforms exactly as sent', async () => {
  // first, a wrong token: every request refused by reason, exit 1, nothing stored
  const refused = await simulate(
    ['--url', url, '--token', 'not-the-token', '--sdkappid', APP].concat([
      '--count',
      '5',
      '--json',
      '--quiet',
    ]),
  );
  expect(refused.code).toBe(1);
  expect(summaryOf(refused)).toMatchObject({
    sent: 5,
    accepted: 0,
    records: 0,
    refused: { '401 unauthenticated: Sign does not match': 5 },
    refusedTotal: 5,
    unanswered: 0,
  });

  const run = await simulate([
    ...['--url', url, '--token', TOKEN, '--sdkappid', APP],
    ...['--duration', '3', '--rate', '150', '--concurrency', '8'],
    ...['--duplicates', '0.2', '--platforms', 'iOS=50,Android=30,none=20', '--json'],
  ]);
  expect(run.code).toBe(0);
  const s = summaryOf(run);
  // the progress line, once a second at least, then the last one
  const lines = run.stderr.split('\n').filter((l) => /^\[ *\d+ s\] sent \d+ {2}OK \d+/.test(l));
  expect(lines.length).toBeGreaterThanOrEqual(3);
  expect(s.sent).toBeGreaterThan(300);
  expect(s.refusedTotal).toBe(0);
  expect(s.accepted).toBe(s.sent);
  expect(s.duplicates).toBeGreaterThan(0);
  expect(s.distinct).toBe(s.accepted - s.duplicates);
  expect(s.records).toBe(s.accepted);

  // every OK is durable: acknowledged by Kafka, or spooled (a publish that timed out on a busy
  // machine) and drained since; once the spool is empty the end offsets hold them all, and each
  // spooled record may be there twice (at least once)
  await waitFor(
    'the spool to be empty',
    async () => metricValue(await scrape(bridge.adminUrl), 'tim_bridge_spool_records') === 0,
    60000,
    100,
  );
  const records = await readTopic(bridge.kafka, bridge.topic);
  const extra = records.length - s.accepted;
  expect(extra).toBeGreaterThanOrEqual(0);
  expect(extra).toBeLessThanOrEqual(await spooledRecords(bridge));

  const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
  const schema = loadSchema();
  const reader = avroType(schema);
  const mapper = createRecordMapper(buildSchemaModel(schema));
  const copies = new Map<string, number>();
  const platforms = new Map<string, number>();
  for (const r of records) {
    const { record } = await registry.decode(r.value as Buffer, reader);
    const { callback, envelope } = mapper.fromRecord(record as Record<string, unknown>);
    const msgKey = (callback as { MsgKey: string }).MsgKey;
    expect(msgKey.startsWith(`${s.runId}-`)).toBe(true);
    expect(envelope.SdkAppid).toBe(APP);
    copies.set(msgKey, (copies.get(msgKey) ?? 0) + 1);
    const platform = envelope.OptPlatform ?? 'none';
    platforms.set(platform, (platforms.get(platform) ?? 0) + 1);
  }
  // duplicates land again (the bridge does not deduplicate): distinct MsgKeys = distinct callbacks
  expect(copies.size).toBe(s.distinct);
  expect(records.length - copies.size).toBe(s.duplicates + extra);
  // by platform as sent, but for the extra copies of spooled records
  const platformExcess = Object.entries(s.byPlatform).map(
    ([p, v]) => (platforms.get(p) ?? 0) - v.accepted,
  );
  for (const excess of platformExcess) expect(excess).toBeGreaterThanOrEqual(0);
  expect(platformExcess.reduce((a, b) => a + b, 0)).toBe(extra);
  expect([...platforms.keys()].sort()).toEqual(['Android', 'iOS', 'none']);
});

test('several commands: records per topic as the summary counts them (batches, before, off)', async () => {
  const run = await simulate([
    ...['--url', url, '--token', TOKEN, '--sdkappid', APP, '--json', '--quiet'],
    ...[
      '--command',
      'Push.OfflinePush,Group.CallbackAfterSendMsg,Sns.CallbackPrevFriendAdd,State.StateChange',
    ],
    ...['--count', '40', '--rate', '0', '--concurrency', '4'],
  ]);
  expect(run.code).toBe(0);
  const s = summaryOf(run);
  expect(s).toMatchObject({ sent: 40, accepted: 40, refusedTotal: 0 });
  const by = s.byCommand;
  expect(Object.values(by).map((c) => c.sent)).toEqual([10, 10, 10, 10]);
  // a push callback is two or three records (one per event)
  expect(by['Push.OfflinePush']?.records).toBeGreaterThan(20);
  for (const [command, topic] of [
    ['Push.OfflinePush', topics.push],
    ['Group.CallbackAfterSendMsg', topics.group],
    // stored after its answer: waited for
    ['Sns.CallbackPrevFriendAdd', topics.before],
  ] as const) {
    const expected = by[command]?.records as number;
    const records = await readTopic(bridge.kafka, topic, { atLeast: expected });
    expect({ command, records: records.length }).toEqual({ command, records: expected });
  }
  // routed off: answered OK and counted by the bridge as off, stored nowhere
  expect(by['State.StateChange']).toEqual({ sent: 10, accepted: 10, records: 10 });
  const counted = await bridge.metricsRegistry
    .getSingleMetric('tim_bridge_command_records_total')
    ?.get();
  const off = counted?.values.find(
    (v) => v.labels.command === 'State.StateChange' && v.labels.outcome === 'off',
  );
  expect(off?.value).toBe(10);
});

test('--help exits 0 and documents every option', async () => {
  const run = await simulate(['--help']);
  expect(run.code).toBe(0);
  for (const name of OPTION_NAMES) expect(run.stdout).toContain(`  ${name}`);
});

test('--dry-run prints one signed request as curl and sends nothing', async () => {
  // nothing listens there: a dry run does not need it
  const nowhere = `http://127.0.0.1:${await freePort()}/callback`;
  const run = await simulate(['--url', nowhere, '--token', TOKEN, '--sdkappid', APP, '--dry-run']);
  expect(run.code).toBe(0);
  const match =
    /^curl -sS -X POST '([^']+)' \\\n {2}-H 'Content-Type: application\/json' \\\n {2}--data-binary '(.*)'\n$/s.exec(
      run.stdout,
    );
  expect(match).not.toBeNull();
  const signed = new URL(match?.[1] as string);
  expect(signed.origin + signed.pathname).toBe(nowhere);
  expect(signed.searchParams.get('SdkAppid')).toBe(APP);
  expect(() =>
    verifySignature(
      {
        sign: signed.searchParams.get('Sign') ?? undefined,
        requestTime: signed.searchParams.get('RequestTime') ?? undefined,
      },
      { tokens: [TOKEN], windowSeconds: 60 },
      Date.now(),
    ),
  ).not.toThrow();
  // the body, unquoted as a shell would ('\'' is a quote)
  const body = JSON.parse((match?.[2] as string).replaceAll(`'\\''`, "'")) as Record<
    string,
    unknown
  >;
  expect(body.CallbackCommand).toBe('C2C.CallbackAfterSendMsg');
});
