import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MinuteWindows, type WindowRecord } from '../../src/consumers/analytics/window';
import { committedOffsets, deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { logger, uniqueTopic } from '../support/bridge';
import {
  ANALYTICS_MAIN,
  c2cInputs,
  callbackEncoder,
  consumerEnv,
  feedAndKill,
  inputsOf,
  readDecoded,
  spawnConsumerProcess,
} from '../support/consumers';
import { buildIfStale } from '../support/process';
import { KAFKA_BROKERS } from '../support/stack';

/**
 * The acceptance test of exactly-once analytics: the consumer process (production build) is
 * SIGKILLed mid-stream and started again; the windows published must be exactly those of the
 * whole input aggregated once, none missing, none twice. Then SIGTERM: it commits and exits 0.
 */

const N = 3000;
const CHUNK = 150;
const T = 1764115200;
const LATENESS = 30;

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
    const all = c2cInputs(N, 'crash', T, 1764115300000);
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
    const first = spawnConsumerProcess(ANALYTICS_MAIN, env, join(logDir, 'first.log'));
    const committed = async () => (await committedOffsets(kafka, group, topic)).get(0) ?? 0n;
    // feed a third, wait for the first instance to commit some, then SIGKILL it while feeding
    const killedAt = await feedAndKill({ kafka, records, chunk: CHUNK, committed, victim: first });
    expect(killedAt).toBeLessThan(BigInt(N));

    const second = spawnConsumerProcess(ANALYTICS_MAIN, env, join(logDir, 'second.log'));
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
