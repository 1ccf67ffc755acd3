import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MinuteWindows, type WindowRecord } from '../../src/consumers/analytics/window';
import { committedOffsets, deleteTopics, endOffsets, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import type { AfterSendMsgCallback, Envelope } from '../../src/tencent/callback';
import { logger, uniqueTopic } from '../support/bridge';
import {
  ANALYTICS_MAIN,
  c2cInputs,
  callbackEncoder,
  allConsumed,
  consumerEnv,
  inputsOf,
  produceRaw,
  readDecoded,
  spawnConsumerProcess,
} from '../support/consumers';
import { buildIfStale, freePort } from '../support/process';
import { KAFKA_BROKERS } from '../support/stack';
import { waitFor } from '../support/wait';

/**
 * An exactly-once transaction that fails is fatal (issue 18 §3.5; docs/consumers.md: "A failed
 * transaction stops the process (Kubernetes restarts it from the last commit)"). A real failure,
 * the one a rolling update makes: a second analytics process with the same transactional id
 * (ANALYTICS_TRANSACTIONAL_ID) starts while the first consumes, fencing it, and joins its group.
 * The first one's next transaction is refused: it exits 1 saying so, nothing of what it did
 * since its last commit is visible, and the second one, which gets every partition, reprocesses
 * that input from the committed state: the windows published are those of one pass, each record
 * counted once, no window twice.
 */

const N = 2400;
const CHUNK = 150;
const T = 1764115200;
/** Longer than the input's span: however the two partitions interleave, no event is late-dropped. */
const LATENESS = 3600;

interface Instance {
  child: ChildProcess;
  adminUrl: string;
  logFile: string;
  log(): string;
}

async function spawnConsumer(
  env: Record<string, string>,
  logDir: string,
  name: string,
): Promise<Instance> {
  const adminPort = await freePort();
  const logFile = join(logDir, `${name}.log`);
  const child = spawnConsumerProcess(
    ANALYTICS_MAIN,
    { ...env, ADMIN_PORT: String(adminPort) },
    logFile,
  );
  return {
    child,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    logFile,
    log: () => readFileSync(logFile, 'utf8'),
  };
}

async function ready(instance: Instance): Promise<boolean> {
  if (instance.child.exitCode !== null) {
    throw new Error(`exited ${instance.child.exitCode}:\n${instance.log()}`);
  }
  return fetch(`${instance.adminUrl}/readyz`).then(
    (r) => r.status === 200,
    () => false,
  );
}

/** Window records as comparable across runs: when it closed, and how late each event arrived
 * (which depends on how the partitions interleave), left out. */
const comparable = ({ ClosedAt: _c, LateEvents: _l, ...rest }: WindowRecord) => rest;

describe('analytics consumer, exactly once, fenced by a second instance', () => {
  it('the fenced instance exits 1 on its failed transaction; the other one publishes one exact pass', async () => {
    buildIfStale();
    const topic = uniqueTopic('eos-fenced');
    const kafka = createKafka({ brokers: KAFKA_BROKERS.split(','), clientId: 'test-eos', logger });
    await ensureTopic(kafka, { topic, numPartitions: 2, replicationFactor: 1 });
    const encode = await callbackEncoder(topic);
    const all = c2cInputs(N, 'fenced', T, (T + 60) * 1000); // five windows
    const records = all.map(({ callback, envelope }) => ({
      topic,
      key: callback.To_Account,
      value: encode(callback, envelope),
      headers: {},
    }));
    // at the end, once every record is counted: an event past every window's lateness
    const closeAt = T + 300 + LATENESS + 60;
    const closing = {
      callback: {
        ...(all[0]?.callback as AfterSendMsgCallback),
        MsgKey: 'close',
        MsgTime: closeAt,
      },
      envelope: { ...(all[0]?.envelope as Envelope), ReceivedAt: closeAt * 1000 },
    };

    const expected = new MinuteWindows({ allowedLatenessSeconds: LATENESS });
    for (const { callback, envelope } of [...all, closing]) expected.add(callback, envelope);
    const want = expected.takeClosed();
    expect(want).toHaveLength(5);

    const env = consumerEnv('analytics', topic, {
      ANALYTICS_ALLOWED_LATENESS_SECONDS: String(LATENESS),
      ANALYTICS_IDLE_CLOSE_SECONDS: '0',
      ANALYTICS_COMMIT_INTERVAL_MS: '100',
      SHUTDOWN_GRACE_MS: '10000',
    });
    const group = env.CONSUMER_GROUP_ID as string;
    const logDir = mkdtempSync(join(tmpdir(), 'tim-eos-fenced-'));
    const committed = async () =>
      [...(await committedOffsets(kafka, group, topic)).values()].reduce((a, b) => a + b, 0n);
    let sent = 0;
    const sendChunk = async () => {
      await produceRaw(kafka, records.slice(sent, sent + CHUNK));
      sent += CHUNK;
    };

    const first = await spawnConsumer(env, logDir, 'first');
    let second: Instance | undefined;
    try {
      await waitFor('the first instance ready', () => ready(first), 60000);
      while (sent < N / 3) await sendChunk();
      await waitFor('a first commit', async () => (await committed()) > 0n, 60000);

      // the same consumer again, as a rolling update starts it: same transactional id, same group
      second = await spawnConsumer(env, logDir, 'second');
      const exited = once(first.child, 'exit') as Promise<[number | null, string | null]>;
      await waitFor('the second instance in the group', () => ready(second as Instance), 60000);
      // the first one goes on with the partition it kept, and cannot commit it any more
      while (sent < N) await sendChunk();
      let timer: NodeJS.Timeout | undefined;
      const [code] = await Promise.race([
        exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('the fenced instance still runs')), 60000);
        }),
      ]).finally(() => clearTimeout(timer));
      expect(code).toBe(1);
      const fatal = first
        .log()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: string; msg: string; err: string })
        .filter((l) => l.level === 'fatal');
      expect(fatal.map((l) => l.msg)).toEqual(['cannot go on', 'exiting']);
      expect(fatal[0]?.err).toMatch(/^transaction failed: /);
      const committedByFirst = await committed();
      expect(committedByFirst).toBeLessThan(BigInt(N));

      // the second one gets the first one's partition (once its session expires), resumes it
      // from the committed offsets and state, and has consumed everything
      await waitFor(
        'the input consumed by the second instance',
        () => allConsumed(kafka, inputsOf(env)),
        120000,
      );
      expect(second.child.exitCode).toBeNull();
      await produceRaw(kafka, [
        {
          topic,
          key: closing.callback.To_Account,
          value: encode(closing.callback, closing.envelope),
          headers: {},
        },
      ]);
      const got = await readDecoded<WindowRecord>(
        kafka,
        env.ANALYTICS_TOPIC as string,
        want.length,
        { consumedBy: inputsOf(env), timeoutMs: 60000 },
      );
      expect(got.map((g) => g.record.key?.toString())).toEqual(
        want.map((w) => new Date(w.WindowStart).toISOString()),
      );
      expect(got.map((g) => comparable(g.value))).toEqual(want.map(comparable));
      expect(got.reduce((n, g) => n + g.value.Messages, 0)).toBe(N);
      expect(second.log()).toMatch(/state restored from the last transaction/);
      const ends = await endOffsets(kafka, topic);
      expect(await committed()).toBe([...ends.values()].reduce((a, b) => a + b, 0n));
      expect(await ready(second)).toBe(true);
    } finally {
      for (const i of [first, second]) if (i && i.child.exitCode === null) i.child.kill('SIGKILL');
      await deleteTopics(kafka, [
        topic,
        env.ANALYTICS_TOPIC as string,
        env.ANALYTICS_STATE_TOPIC as string,
        env.CONSUMER_DLQ_TOPIC as string,
      ]).catch(() => undefined);
    }
  }, 240000);
});
