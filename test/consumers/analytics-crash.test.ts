import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MinuteWindows, type WindowRecord } from '../../src/consumers/analytics/window';
import { committedOffsets, deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import type { AfterSendMsgCallback, Envelope } from '../../src/tencent/callback';
import { logger, uniqueTopic } from '../support/bridge';
import {
  callbackEncoder,
  consumerEnv,
  inputsOf,
  produceRaw,
  readDecoded,
} from '../support/consumers';
import { loadFixtures } from '../support/fixtures';
import { buildIfStale } from '../support/process';
import { KAFKA_BROKERS, ROOT } from '../support/stack';
import { waitFor } from '../support/wait';

/**
 * The acceptance test of exactly-once analytics: the consumer process (production build) is
 * SIGKILLed mid-stream and started again; the windows published must be exactly those of the
 * whole input aggregated once, none missing, none twice. Then SIGTERM: it commits and exits 0.
 */

const MAIN = join(ROOT, 'dist', 'src', 'consumers', 'analytics', 'main.js');
const N = 3000;
const CHUNK = 150;
const T = 1764115200;
const LATENESS = 30;

function inputs(): { callback: AfterSendMsgCallback; envelope: Envelope }[] {
  const fixtures = loadFixtures().map((f) => f.json as unknown as AfterSendMsgCallback);
  return Array.from({ length: N }, (_, i) => {
    const f = fixtures[i % fixtures.length] as AfterSendMsgCallback;
    return {
      callback: {
        ...f,
        From_Account: `sender-${i % 97}`,
        To_Account: `recipient-${i % 89}`,
        MsgKey: `crash-${i}`,
        MsgTime: T + Math.floor(i / 8), // ~375 s: several windows, in order
      },
      envelope: {
        SdkAppid: '1400000001',
        OptPlatform: ['iOS', 'Android', 'Web'][i % 3] ?? null,
        ClientIP: null,
        ReceivedAt: 1764115300000 + i,
      },
    };
  });
}

function spawnConsumer(env: Record<string, string>, logFile: string): ChildProcess {
  const log = openSync(logFile, 'a');
  return spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', log, log],
  });
}

const comparable = ({ ClosedAt: _c, ...rest }: WindowRecord) => rest;

describe('analytics consumer, killed mid-stream', () => {
  it('loses nothing and counts nothing twice across a SIGKILL and a restart', async () => {
    buildIfStale();
    const topic = uniqueTopic('analytics-crash');
    const kafka = createKafka({
      brokers: KAFKA_BROKERS.split(','),
      clientId: 'test-crash',
      logger,
    });
    await ensureTopic(kafka, { topic, numPartitions: 1, replicationFactor: 1 });
    const encode = await callbackEncoder(topic);
    const all = inputs();
    const records = all.map(({ callback, envelope }) => ({
      topic,
      key: callback.To_Account,
      value: encode(callback, envelope),
      headers: {},
    }));

    // what one uninterrupted pass makes: every window, the last one closed when input idles
    const expected = new MinuteWindows({ allowedLatenessSeconds: LATENESS });
    for (const { callback, envelope } of all) expected.add(callback, envelope);
    expected.closeAll(0);
    const want = expected.takeClosed();
    expect(want.length).toBeGreaterThanOrEqual(6);

    const env = consumerEnv('analytics', topic, {
      ANALYTICS_ALLOWED_LATENESS_SECONDS: String(LATENESS),
      ANALYTICS_IDLE_CLOSE_SECONDS: '5',
      ANALYTICS_COMMIT_INTERVAL_MS: '100',
      SHUTDOWN_GRACE_MS: '10000',
    });
    const group = env.CONSUMER_GROUP_ID as string;
    const logDir = mkdtempSync(join(tmpdir(), 'tim-analytics-crash-'));
    const first = spawnConsumer(env, join(logDir, 'first.log'));
    const committed = async () => (await committedOffsets(kafka, group, topic)).get(0) ?? 0n;

    let sent = 0;
    const sendChunk = async () => {
      await produceRaw(kafka, records.slice(sent, sent + CHUNK));
      sent += CHUNK;
    };
    // feed a third, wait for the first instance to commit some, then SIGKILL it while feeding
    while (sent < N / 3) await sendChunk();
    await waitFor('a first commit', async () => (await committed()) > 0n, 60000);
    const killedAt = await committed();
    await sendChunk();
    first.kill('SIGKILL');
    await once(first, 'exit');
    while (sent < N) await sendChunk();
    expect(killedAt).toBeLessThan(BigInt(N));

    const second = spawnConsumer(env, join(logDir, 'second.log'));
    try {
      const got = await readDecoded<WindowRecord>(
        kafka,
        env.ANALYTICS_TOPIC as string,
        want.length,
        {
          consumedBy: inputsOf(env),
          timeoutMs: 100000,
        },
      );
      const log = readFileSync(join(logDir, 'second.log'), 'utf8');
      expect(log).toMatch(/state restored from the last transaction/);
      expect(got.map((g) => g.record.key?.toString())).toEqual(
        want.map((w) => new Date(w.WindowStart).toISOString()),
      );
      expect(got.map((g) => comparable(g.value))).toEqual(want.map(comparable));
      expect(got.reduce((n, g) => n + g.value.Messages, 0)).toBe(N);

      // SIGTERM: finishes, commits every offset, leaves the group, exits 0
      second.kill('SIGTERM');
      const [code] = (await once(second, 'exit')) as [number | null];
      expect(code).toBe(0);
      expect(await committed()).toBe(BigInt(N));
    } finally {
      if (second.exitCode === null) second.kill('SIGKILL');
      await deleteTopics(kafka, [
        topic,
        env.ANALYTICS_TOPIC as string,
        env.ANALYTICS_STATE_TOPIC as string,
        env.CONSUMER_DLQ_TOPIC as string,
      ]).catch(() => undefined);
    }
  });
});
