import { loadModerationConfig } from '../../src/consumers/config';
import {
  startConsumer,
  type ConsumerDefinition,
  type RunningConsumer,
} from '../../src/consumers/start';
import { committedOffsets, deleteTopics, endOffsets, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import type { AfterSendMsgCallback } from '../../src/tencent/callback';
import { logger, uniqueTopic } from '../support/bridge';
import { callbackEncoder, consumerEnv, produceRaw } from '../support/consumers';
import { loadFixtures } from '../support/fixtures';
import { KAFKA_BROKERS } from '../support/stack';
import { sampleValue, scrape, waitFor } from '../support/wait';

/**
 * tim_consumer_lag_records is the broker's view (the group's committed offset against the end of
 * each partition this member holds), asked on a timer: it grows while a consumer is stuck on a
 * record, and a partition taken away by a rebalance leaves the report of its former owner, so
 * that summing over the instances counts each partition once.
 */

const kafka = createKafka({ brokers: KAFKA_BROKERS.split(','), clientId: 'test-lag', logger });
const LAG = 'tim_consumer_lag_records';

/** Where the consumers' logic waits while it is closed. */
class Gate {
  private waiting: (() => void)[] = [];
  private closed = false;
  /** Records that reached the logic. */
  entered = 0;

  close(): void {
    this.closed = true;
  }

  open(): void {
    this.closed = false;
    for (const release of this.waiting.splice(0)) release();
  }

  async pass(): Promise<void> {
    this.entered++;
    if (this.closed) await new Promise<void>((r) => this.waiting.push(r));
  }
}

/** A consumer whose logic produces nothing and waits at `gate`. */
function gated(name: string, gate: Gate): ConsumerDefinition {
  return {
    name,
    outputs: [],
    createLogic: () => ({
      handle: async () => {
        await gate.pass();
        return [];
      },
    }),
  };
}

/** Records of `topic` the bridge could have written (schema registered under `<topic>-value`). */
async function recordsFor(topic: string) {
  const encode = await callbackEncoder(topic);
  const text = loadFixtures().find((f) => f.name === 'text.json')!
    .json as unknown as AfterSendMsgCallback;
  let n = 0;
  return (count: number) =>
    Array.from({ length: count }, () => {
      const i = n++;
      const callback = { ...text, MsgKey: `lag-${i}`, To_Account: `recipient-${i}` };
      const envelope = {
        SdkAppid: '1400000001',
        OptPlatform: 'iOS',
        ClientIP: null,
        ReceivedAt: i,
      };
      return {
        topic,
        key: callback.To_Account,
        value: encode(callback, envelope),
        headers: {},
      };
    });
}

/** The lag series of a consumer's scrape, by partition. */
async function lagSeries(c: RunningConsumer): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const line of (await scrape(c.adminUrl)).split('\n')) {
    const m = /^tim_consumer_lag_records\{(.*)\} (\S+)$/.exec(line);
    const partition = m && /partition="(\d+)"/.exec(m[1] as string);
    if (m && partition) out.set(Number(partition[1]), Number(m[2]));
  }
  return out;
}

const total = (lag: Map<number, number>): number => [...lag.values()].reduce((a, b) => a + b, 0);

async function assigned(c: RunningConsumer, name: string): Promise<number> {
  return sampleValue(await scrape(c.adminUrl), 'tim_consumer_assigned_partitions', {
    consumer: name,
  }) as number;
}

test('a stuck consumer reports its lag growing, and 0 once it caught up; none once stopped', async () => {
  const topic = uniqueTopic('lag-stuck');
  const env = consumerEnv('moderation', topic, { CONSUMER_LAG_INTERVAL_MS: '200' });
  const gate = new Gate();
  let consumer: RunningConsumer | undefined;
  try {
    await ensureTopic(kafka, { topic, numPartitions: 1, replicationFactor: 1 });
    const records = await recordsFor(topic);
    gate.close();
    consumer = await startConsumer(
      loadModerationConfig(env),
      logger,
      gated('lag-stuck', gate),
      () => undefined,
    );
    const c = consumer;
    const lag = async () => (await lagSeries(c)).get(0);

    await produceRaw(kafka, records(20));
    await waitFor('the logic to be stuck on the first record', () => gate.entered > 0);
    await waitFor(
      'the lag of the stuck consumer to reach 19',
      async () => ((await lag()) ?? 0) >= 19,
    );
    // still stuck: more records, more lag
    await produceRaw(kafka, records(30));
    await waitFor('the lag to grow to 49', async () => ((await lag()) ?? 0) >= 49);
    expect(gate.entered).toBe(1);

    gate.open();
    await waitFor('the lag to fall to 0', async () => (await lag()) === 0);
    expect(gate.entered).toBe(50);

    await c.stop();
    consumer = undefined;
    const left = (await c.metricsRegistry.getSingleMetric(LAG)!.get()).values;
    expect(left).toEqual([]); // the member left the group: no partition is its own
  } finally {
    gate.open();
    await consumer?.stop();
    await deleteTopics(kafka, [topic, env.CONSUMER_DLQ_TOPIC as string]).catch(() => undefined);
  }
}, 90000);

test('a partition taken by a rebalance leaves its former owner: summed, each partition counts once', async () => {
  const topic = uniqueTopic('lag-rebalance');
  const PARTITIONS = 4;
  const name = 'lag-rebalance';
  const env = consumerEnv('moderation', topic, { CONSUMER_LAG_INTERVAL_MS: '200' });
  const config = loadModerationConfig(env); // A and B: same group, own admin servers
  const gate = new Gate();
  const running: RunningConsumer[] = [];
  try {
    await ensureTopic(kafka, { topic, numPartitions: PARTITIONS, replicationFactor: 1 });
    const records = await recordsFor(topic);
    const a = await startConsumer(config, logger, gated(name, gate), () => undefined);
    running.push(a);
    await produceRaw(kafka, records(40));
    const all = [...Array(PARTITIONS).keys()];
    await waitFor('A to hold every partition and to have read everything', async () => {
      const lag = await lagSeries(a);
      return lag.size === PARTITIONS && total(lag) === 0 && gate.entered === 40;
    });

    const b = await startConsumer(config, logger, gated(name, gate), () => undefined);
    running.push(b);
    await waitFor(
      'the partitions to be shared by A and B',
      async () => {
        const [na, nb] = [await assigned(a, name), await assigned(b, name)];
        return na > 0 && nb > 0 && na + nb === PARTITIONS;
      },
      60000,
    );
    // A reports only what it kept, B what it got: together every partition, none twice
    const [lagA, lagB] = await waitFor('A and B to report their own partitions only', async () => {
      const [la, lb] = [await lagSeries(a), await lagSeries(b)];
      const ok =
        la.size === (await assigned(a, name)) &&
        lb.size === (await assigned(b, name)) &&
        [...la.keys(), ...lb.keys()].sort().join() === all.join();
      return ok && [la, lb];
    });
    expect([...lagA.keys()].some((p) => lagB.has(p))).toBe(false);

    // both stuck: what they report adds up to the group's true lag
    gate.close();
    await produceRaw(kafka, records(40));
    const truth = async () => {
      const [ends, committed] = [
        await endOffsets(kafka, topic),
        await committedOffsets(kafka, config.CONSUMER_GROUP_ID, topic),
      ];
      return all.reduce(
        (sum, p) => sum + Number((ends.get(p) ?? 0n) - (committed.get(p) ?? 0n)),
        0,
      );
    };
    expect(await truth()).toBe(40);
    await waitFor('the reported lag to add up to the true lag', async () => {
      const [la, lb] = [await lagSeries(a), await lagSeries(b)];
      return la.size + lb.size === PARTITIONS && total(la) + total(lb) === 40;
    });
    expect(await truth()).toBe(40);

    gate.open();
    await waitFor(
      'A and B to catch up',
      async () => total(await lagSeries(a)) + total(await lagSeries(b)) === 0,
    );
  } finally {
    gate.open();
    await Promise.all(running.map((r) => r.stop().catch(() => undefined)));
    await deleteTopics(kafka, [topic, env.CONSUMER_DLQ_TOPIC as string]).catch(() => undefined);
  }
}, 120000);
