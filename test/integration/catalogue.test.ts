import { randomBytes } from 'node:crypto';
import { CATALOGUE, defaultTopic } from '../../src/catalogue/catalogue';
import { deleteTopics } from '../../src/kafka/admin';
import { readSettled, type ConsumedRecord } from '../../src/kafka/reader';
import { Registry } from '../../src/kafka/registry';
import { HEADER_COMMAND } from '../../src/record-headers';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, spooledRecords, startTestBridge, type TestBridge } from '../support/bridge';
import { canonicalJson, loadCommandFixtures, type CommandFixture } from '../support/fixtures';
import { javaPartitions } from '../support/java';
import { fastavroDecode } from '../support/python';
import { SCHEMA_REGISTRY_URL } from '../support/stack';

/**
 * The acceptance of the command catalogue: every fixture of every catalogued command, posted
 * through the real bridge and stack, is on its own topic, with the key the issue asks for, on the
 * partition Java's murmur2 picks, and decodes (Python's fastavro, schema by id from the registry)
 * back to exactly the JSON sent. An unknown command is answered OK and kept on the other topic.
 */

const fixtures = loadCommandFixtures();
const run = `cat${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const topicOf = (command: string): string => `test.${run}.${defaultTopic(command)}`;
const OTHER = `test.${run}.tim.other-callbacks`;
const UNKNOWN = {
  command: 'Group.CallbackAfterSomethingTencentAddsNextYear',
  text: '{"CallbackCommand":"Group.CallbackAfterSomethingTencentAddsNextYear","GroupId":"@TGS#new","Nested":{"N":[1,2.5,"x",null,true]},"EventTime":1700000000000}',
};

/** The key each command's records must have: the issue's rules, written out independently. */
function expectedKey(command: string, event: Record<string, unknown>, sdkAppid: string): string {
  const str = (v: unknown): string | undefined =>
    typeof v === 'string' && v !== '' ? v : undefined;
  const [family] = command.split('.');
  let key: string | undefined;
  if (command === 'C2C.CallbackAfterMsgReport') key = str(event.Report_Account);
  else if (command === 'State.StateChange')
    key = str((event.Info as Record<string, unknown>).To_Account);
  else if (command.startsWith('Sns.Callback') && !command.startsWith('Sns.CallbackPrev'))
    key = str((event.PairList as Record<string, unknown>[])[0]?.From_Account);
  else if (family === 'C2C' || family === 'Push') key = str(event.To_Account);
  else if (family === 'Group' || command === 'Bot.OnGroupMessage')
    key = str(event.GroupId) ?? str(event.groupID);
  else if (family === 'OfficialAccount') key = str(event.Official_Account);
  else if (command === 'Alert.RequestOverLimit') key = undefined;
  else key = str(event.From_Account); // profile, friends, follow, bots, moderation
  if (command === 'Group.CallbackOnDailyGroupQuotaAlarm') key = undefined;
  return key ?? sdkAppid;
}

/** fastavro's record -> callback JSON, by rules written here (not the bridge's mapper). */
function fromFastavro(v: unknown): unknown {
  if (Array.isArray(v)) {
    // a union of records: [full name, value]
    if (v.length === 2 && typeof v[0] === 'string' && /^tim\.[a-z0-9]+\.[A-Za-z]/.test(v[0])) {
      const [name, inner] = v as [string, Record<string, unknown>];
      if (name.endsWith('.UnknownElem')) return JSON.parse(inner.Json as string);
      return fromFastavro(inner);
    }
    return v.map(fromFastavro);
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === null) continue;
      if (k === '_extra') {
        for (const [a, b] of Object.entries(x as Record<string, string>)) out[a] = JSON.parse(b);
      } else out[k] = fromFastavro(x);
    }
    return out;
  }
  return v;
}

interface Decoded {
  record: ConsumedRecord;
  schemaId: number;
  envelope: { SdkAppid: string; OptPlatform?: string; ClientIP?: string; ReceivedAt: number };
  /** The typed record's callback JSON, or the generic record's fields. */
  body: Record<string, unknown>;
}

let bridge: TestBridge;
let decoded: Decoded[];
const replies = new Map<CommandFixture | typeof UNKNOWN, { status: number; text: string }>();

beforeAll(async () => {
  const routes = CATALOGUE.filter((e) => e.command !== 'C2C.CallbackAfterSendMsg').map(
    (e) => `${e.command}=${topicOf(e.command)}`,
  );
  bridge = await startTestBridge('catalogue', {
    KAFKA_TOPIC: topicOf('C2C.CallbackAfterSendMsg'),
    COMMAND_ROUTES: ['*=on', ...routes].join(','),
    KAFKA_OTHER_CALLBACKS_TOPIC: OTHER,
  });
  for (const f of fixtures) {
    const res = await postCallback(bridge.callbackUrl, f.text, { query: f.query });
    replies.set(f, { status: res.status, text: await res.text() });
  }
  const res = await postCallback(bridge.callbackUrl, UNKNOWN.text, {
    query: { CallbackCommand: UNKNOWN.command },
  });
  replies.set(UNKNOWN, { status: res.status, text: await res.text() });

  const expected = fixtures.reduce((n, f) => n + events(f).length, 0) + 1;
  const topics = [...new Set(CATALOGUE.map((e) => topicOf(e.command))), OTHER];
  const records = await readSettled(bridge.kafka, topics, expected, { timeoutMs: 90000 });
  const values = fastavroDecode(
    SCHEMA_REGISTRY_URL,
    records.map((r) => r.value as Buffer),
  ) as { schemaId: number; record: Record<string, unknown> }[];
  decoded = records.map((record, i) => {
    const { schemaId, record: avro } = values[i]!;
    const { SdkAppid, OptPlatform, ClientIP, ReceivedAt, ...body } = fromFastavro(avro) as Record<
      string,
      unknown
    >;
    return {
      record,
      schemaId,
      envelope: { SdkAppid, OptPlatform, ClientIP, ReceivedAt } as Decoded['envelope'],
      body,
    };
  });
}, 180000);

afterAll(async () => {
  if (!bridge) return;
  await bridge.dispose();
  const topics = [...new Set(CATALOGUE.map((e) => topicOf(e.command))), OTHER];
  await deleteTopics(bridge.kafka, topics).catch(() => undefined);
});

/** A fixture's events: the body, or each element of a batch's Events. */
function events(f: CommandFixture): Record<string, unknown>[] {
  return f.command.startsWith('Push.') ? (f.json.Events as Record<string, unknown>[]) : [f.json];
}

/** The callback JSON a decoded record gives back (generic: its Body; batch: one event). */
function callbackOf(d: Decoded): unknown {
  return typeof d.body.Body === 'string' ? JSON.parse(d.body.Body) : d.body;
}

test('every fixture is answered OK (before-callbacks: ErrorCode 0 at once)', () => {
  const notOk = [...replies].filter(([, r]) => r.status !== 200 || r.text !== OK_REPLY);
  expect(
    notOk.map(
      ([f, r]) => `${'name' in f ? `${f.command}/${f.name}` : f.command}: ${r.status} ${r.text}`,
    ),
  ).toEqual([]);
});

test('every fixture is on its command’s topic exactly once, and decodes back to the exact JSON sent', async () => {
  const problems: string[] = [];
  const used = new Set<Decoded>();
  for (const f of fixtures) {
    const onTopic = decoded.filter((d) => d.record.topic === topicOf(f.command));
    for (const [index, event] of events(f).entries()) {
      const want = canonicalJson(event);
      const matches = onTopic.filter((d) => !used.has(d) && canonicalJson(callbackOf(d)) === want);
      if (matches.length === 0) {
        problems.push(
          `${f.command}/${f.name}${f.command.startsWith('Push.') ? ` event ${index}` : ''}: not found on ${topicOf(f.command)}`,
        );
        continue;
      }
      used.add(matches[0]!);
    }
  }
  expect(problems).toEqual([]);
  // nothing else: one record per event (the unknown command's is on the other topic); a second
  // copy only of what the bridge spooled after a publish timeout (at least once)
  const extra = decoded.length - (used.size + 1);
  expect(extra).toBeGreaterThanOrEqual(0);
  expect(extra).toBeLessThanOrEqual(await spooledRecords(bridge));
});

test('records are keyed by the entity whose order matters, on the partition Java’s murmur2 picks', () => {
  const keys: string[] = [];
  const checks: [Decoded, string][] = [];
  const pending = new Set(decoded);
  for (const f of fixtures) {
    for (const event of events(f)) {
      const want = canonicalJson(event);
      const d = [...pending].find(
        (x) => x.record.topic === topicOf(f.command) && canonicalJson(callbackOf(x)) === want,
      )!;
      pending.delete(d);
      const key = expectedKey(f.command, event, f.query.SdkAppid as string);
      keys.push(key);
      checks.push([d, key]);
    }
  }
  const partitions = javaPartitions(6, keys);
  const wrong = checks
    .filter(
      ([d, key]) =>
        d.record.key?.toString('utf8') !== key || d.record.partition !== partitions.get(key),
    )
    .map(
      ([d, key]) =>
        `${d.record.topic}: key ${d.record.key?.toString('utf8')} partition ${d.record.partition}, want ${key} on ${partitions.get(key)}`,
    );
  expect(wrong).toEqual([]);
});

test('the envelope is the query as sent (absent parameters stay absent) and the command is a header', () => {
  for (const f of fixtures) {
    const d = decoded.find(
      (x) =>
        x.record.topic === topicOf(f.command) &&
        canonicalJson(callbackOf(x)) === canonicalJson(events(f)[0]),
    )!;
    expect({ topic: d.record.topic, ...d.envelope, ReceivedAt: undefined }).toEqual({
      topic: topicOf(f.command),
      SdkAppid: f.query.SdkAppid,
      OptPlatform: f.query.OptPlatform,
      ClientIP: f.query.ClientIP,
      ReceivedAt: undefined,
    });
    expect(Math.abs(d.envelope.ReceivedAt - Date.now())).toBeLessThan(300000);
    expect(d.record.headers[HEADER_COMMAND]).toBe(f.command);
  }
});

test('typed commands use their own schema; the others the generic one, with the decision for before-callbacks', async () => {
  const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
  for (const e of CATALOGUE) {
    const d = decoded.find((x) => x.record.topic === topicOf(e.command));
    if (d === undefined) continue;
    expect(await registry.latestId(`${topicOf(e.command)}-value`)).toBe(d.schemaId);
    expect(await registry.compatibility(`${topicOf(e.command)}-value`)).toBe('BACKWARD');
    if (e.schema !== undefined) {
      expect(d.body).not.toHaveProperty('Body');
      continue;
    }
    expect(d.body.CallbackCommand).toBe(e.command);
    if (e.kind === 'before') {
      expect(d.body.Decision).toEqual({
        Outcome: 'allow',
        DecidedBy: 'policy',
        ErrorCode: 0,
        Reply: OK_REPLY,
      });
    } else {
      expect(d.body).not.toHaveProperty('Decision');
    }
  }
});

test('a Push batch becomes one record per event, each with its place in the batch', () => {
  const push = fixtures.filter((f) => f.command.startsWith('Push.'));
  expect(push.length).toBeGreaterThan(0);
  for (const f of push) {
    const onTopic = decoded.filter((d) => d.record.topic === topicOf(f.command));
    const rest: Record<string, unknown> = { ...f.json };
    delete rest.Events;
    for (const [index, event] of events(f).entries()) {
      const d = onTopic.find((x) => canonicalJson(callbackOf(x)) === canonicalJson(event))!;
      const batch = d.body.Batch as { Index: number; Size: number; Rest: string };
      expect({ Index: batch.Index, Size: batch.Size }).toEqual({
        Index: index,
        Size: events(f).length,
      });
      expect(JSON.parse(batch.Rest)).toEqual(rest);
    }
  }
});

test('an unknown command is answered OK and kept, body intact, on the other-callbacks topic', () => {
  expect(replies.get(UNKNOWN)).toEqual({ status: 200, text: OK_REPLY });
  const onOther = decoded.filter((d) => d.record.topic === OTHER);
  expect(onOther).toHaveLength(1);
  expect(onOther[0]!.body).toMatchObject({ CallbackCommand: UNKNOWN.command, Body: UNKNOWN.text });
  expect(onOther[0]!.record.key?.toString('utf8')).toBe('1400000001');
});
