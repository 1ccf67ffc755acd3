import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { readTopic } from '../../src/kafka/reader';
import { OK_REPLY } from '../../src/tencent/reply';
import {
  capturedLogger,
  logger,
  postCallback,
  startTestBridge,
  uniqueTopic,
  type TestBridge,
} from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import {
  buildIfStale,
  freePort,
  killAllBridges,
  post,
  signedQuery,
  spawnBridge,
  tail,
  waitServing,
  type BridgeProcess,
  type HttpReply,
} from '../support/process';
import { decodeCallbacks, deliveryReport } from '../support/records';
import { KAFKA_BROKERS } from '../support/stack';
import { TcpProxy } from '../support/tcp-proxy';
import { metricValue, sampleValue, scrape, waitFor } from '../support/wait';

/**
 * The spool's failures, on the real stack (issue 18 §3.4): a spool that cannot write (its disk
 * full, an I/O error), and drain steps that fail while Kafka cannot take the spooled records.
 */
const base = loadFixtures().find((f) => f.name === 'text.json')!.json;
const ACCOUNTS = ['ann', 'bo', 'cy'];
let seq = 0;
const callback = (tag: string) => {
  const n = seq++;
  return { ...base, To_Account: ACCOUNTS[n % 3], MsgSeq: n, MsgKey: `${tag}-${n}` };
};
const kafkaPort = Number(KAFKA_BROKERS.split(',')[0]?.split(':').pop());
const reader = createKafka({
  brokers: KAFKA_BROKERS.split(','),
  clientId: 'test-spool-failures',
  logger,
});

/** A counter or gauge of the bridge's /metrics (0 when absent). */
const metric = async (adminUrl: string, sample: string): Promise<number> =>
  metricValue(await scrape(adminUrl), sample) ?? 0;

/**
 * A spool that cannot write, made real: `prlimit --pid <bridge> --fsize=0:` sets the bridge
 * process's RLIMIT_FSIZE soft limit to 0 bytes, so every write of a regular file by that process
 * fails, as on a full disk. Node ignores SIGXFSZ (it would otherwise kill the process), so the
 * write fails with EFBIG and SQLite reports it (SQLITE_IOERR_WRITE, "disk I/O error") from the
 * spool's COMMIT; raising the limit again is the disk with room again. Root or not, a process
 * may lower its children's soft limit and raise it back up to the hard one. The bridge is a
 * process of its own (the limit is per process) whose log goes to the test through a pipe (the
 * limit does not apply to pipes). Kafka is away (a closed proxy as its only broker address), so
 * every callback needs the spool.
 */
describe('a spool that cannot write', () => {
  const runDir = mkdtempSync(join(tmpdir(), 'tim-spool-failures-'));
  const topic = uniqueTopic('spool-write-failure');
  const acked: string[] = [];
  let proxy: TcpProxy;
  let bridge: BridgeProcess;
  let softLimit: string;

  /** The bridge's RLIMIT_FSIZE soft limit (`unlimited` or bytes), as prlimit reads it. */
  const fileSizeLimit = (): string =>
    execFileSync(
      'prlimit',
      ['--pid', String(bridge.pid), '--fsize', '--raw', '--noheadings', '--output=SOFT'],
      { encoding: 'utf8' },
    ).trim();
  /** Sets the soft limit (the hard one stays): `0` refuses every write, `softLimit` restores. */
  const limitFileSize = (soft: string): void => {
    execFileSync('prlimit', ['--pid', String(bridge.pid), `--fsize=${soft}:`]);
    expect(fileSizeLimit()).toBe(soft);
  };
  const send = async (body: Record<string, unknown>): Promise<HttpReply> => {
    const reply = await post(`${bridge.callbackUrl}?${signedQuery()}`, JSON.stringify(body));
    if (reply.status === 200 && reply.body === OK_REPLY) acked.push(body.MsgKey as string);
    return reply;
  };
  /** A sample of its /metrics; fails at once, with its log, if the process ended. */
  const metrics = (sample: string): Promise<number> => {
    if (bridge.exitStatus !== undefined) {
      const status = JSON.stringify(bridge.exitStatus);
      throw new Error(`the bridge exited (${status}):\n${tail(bridge.log())}`);
    }
    return metric(bridge.adminUrl, sample);
  };
  /** The process still runs and serves: a spool failure must not end it. */
  const expectAlive = async (): Promise<void> => {
    expect(bridge.exitStatus).toBeUndefined();
    expect((await fetch(`${bridge.adminUrl}/healthz`)).status).toBe(200);
  };

  beforeAll(async () => {
    buildIfStale();
    proxy = await TcpProxy.create(kafkaPort, false); // Kafka away: connections refused
    bridge = spawnBridge('spool-write-failure', {
      topic,
      spoolDir: join(runDir, 'spool'),
      logDir: runDir,
      port: await freePort(),
      adminPort: await freePort(),
      pipeOutput: true,
      env: { KAFKA_BROKERS: `127.0.0.1:${proxy.port}`, SHUTDOWN_DELAY_MS: '0' },
    });
    await waitServing(bridge, { ready: false });
    softLimit = fileSizeLimit();
  }, 120000);

  afterAll(async () => {
    await killAllBridges();
    await proxy.close();
    await deleteTopics(reader, [topic, `${topic}.dlq`]).catch(() => undefined);
    rmSync(runDir, { recursive: true, force: true });
  }, 60000);

  test('while it writes, callbacks are spooled and answered OK', async () => {
    for (let i = 0; i < 3; i++) {
      expect(await send(callback('spooled'))).toMatchObject({ status: 200, body: OK_REPLY });
    }
    expect(await metrics('tim_bridge_callbacks_accepted_total{outcome="spooled"}')).toBe(3);
    expect(await metrics('tim_bridge_spool_records')).toBe(3);
  });

  test('a write that fails is a 503 FAIL naming the spool, never OK, and the process lives on', async () => {
    limitFileSize('0');
    // concurrent ones share one commit (group commit), then one alone: each is refused
    const replies = await Promise.all([1, 2, 3].map(() => send(callback('refused'))));
    replies.push(await send(callback('refused')));
    for (const reply of replies) {
      expect(reply.status).toBe(503);
      expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(reply.body)).toEqual({
        ActionStatus: 'FAIL',
        ErrorInfo: expect.stringMatching(
          /^could not write to the local spool: (disk I\/O error|database or disk is full)/,
        ),
        ErrorCode: 1,
      });
    }
    // counted as the bridge's fault (the SLO), retriable, and nothing was added to the spool
    expect(await metrics('tim_bridge_callbacks_refused_total{reason="kafka_unavailable"}')).toBe(4);
    expect(await metrics('tim_bridge_callbacks_accepted_total{outcome="spooled"}')).toBe(3);
    expect(await metrics('tim_bridge_spool_records')).toBe(3);
    const refusals = bridge
      .logLines()
      .filter((l) => String(l.msg).startsWith('callback refused: could not write to the local'));
    expect(refusals).toHaveLength(4);
    expect(refusals[0]).toMatchObject({
      reason: 'kafka_unavailable',
      status: 503,
      retriable: true,
    });
    // not ready (the Kubernetes probe's answer too), so the Service sends its callbacks to a
    // replica that can take them; the reason names the spool
    const ready = await fetch(`${bridge.adminUrl}/readyz?ignore=kafka`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(
      /the spool cannot write: (disk I\/O error|database or disk is full)/,
    );
    await expectAlive();
  });

  test('Kafka back while it still cannot write: the drain step fails and is counted, and the process lives on', async () => {
    await proxy.open();
    // the background reconnect finds Kafka; Kafka takes the spooled records, the spool cannot
    // delete them: each retry of that delete is a failed drain step
    await waitFor(
      'two failed drain steps',
      async () => (await metrics('tim_bridge_spool_drain_failures_total')) >= 2,
      90000,
      200,
    );
    const failed = bridge.logLines().filter((l) => l.msg === 'spool drain step failed; retrying');
    expect(failed.map((l) => l.err)).toContainEqual(
      expect.stringMatching(/^the local spool could not write: /),
    );
    expect(await metrics('tim_bridge_spool_records')).toBe(3);
    expect(await metrics('tim_bridge_spool_drained_records_total')).toBe(0);
    // the spool is not empty, so a callback still needs it
    expect((await send(callback('refused'))).status).toBe(503);
    await expectAlive();
  }, 120000);

  test('once it writes again: drained, callbacks OK again, each spooled record once and in order', async () => {
    limitFileSize(softLimit);
    // no callback needed to notice: the readiness check tries a write of its own
    await waitFor(
      'no spool problem in /readyz',
      async () =>
        !(await (await fetch(`${bridge.adminUrl}/readyz`)).text()).includes('spool cannot write'),
      10000,
      100,
    );
    await waitFor(
      'the spool to drain',
      async () => (await metrics('tim_bridge_spool_records')) === 0,
      30000,
      200,
    );
    expect(await metrics('tim_bridge_spool_drained_records_total')).toBe(3);
    expect(await send(callback('after'))).toMatchObject({ status: 200, body: OK_REPLY });
    await expectAlive();

    expect(acked).toHaveLength(4);
    const callbacks = await decodeCallbacks(
      await readTopic(reader, topic, { atLeast: acked.length }),
    );
    const report = deliveryReport(callbacks, acked);
    expect(report.missing).toEqual([]);
    expect(report.outOfOrder).toEqual([]);
    // none refused landed, and the delete's retries sent nothing again
    const keys = callbacks.map((c) => c.MsgKey);
    expect(keys.filter((k) => k.startsWith('refused-'))).toEqual([]);
    for (const key of acked.filter((k) => k.startsWith('spooled-'))) {
      expect(keys.filter((k) => k === key)).toHaveLength(1);
    }
  }, 90000);
});

/**
 * The drain failure metric (`tim_bridge_spool_drain_failures_total`, fed by Delivery's
 * `drainFailed`). A drain step fails when Kafka does not acknowledge it within its deadline
 * (10 s); before the producer's first connection no step is sent at all. A proxy can take Kafka
 * away only before that first connection (the broker then gives its own address and the producer
 * goes there directly), so, as in spool.test.ts, Kafka is taken away from this one bridge by
 * deleting its topic under it (nothing acknowledges; the producer retries), and brought back by
 * creating it anew.
 */
describe('while Kafka cannot take the spooled records', () => {
  let bridge: TestBridge;
  const captured = capturedLogger();
  beforeAll(async () => {
    bridge = await startTestBridge(
      'spool-drain-failures',
      { PUBLISH_TIMEOUT_MS: '300' },
      captured.logger,
    );
  });
  afterAll(async () => {
    await bridge?.dispose();
  });

  const failures = async (): Promise<number> =>
    sampleValue(await scrape(bridge.adminUrl), 'tim_bridge_spool_drain_failures_total') ?? NaN;

  test('failed drain steps are counted; once Kafka is back the spool drains in order and the count stops', async () => {
    const first = await postCallback(bridge.callbackUrl, JSON.stringify(callback('kafka')));
    expect([first.status, await first.text()]).toEqual([200, OK_REPLY]);
    expect(await failures()).toBe(0);

    await deleteTopics(bridge.kafka, [bridge.topic]);
    const acked: string[] = [];
    for (let i = 0; i < 5; i++) {
      const body = callback('outage');
      const res = await postCallback(bridge.callbackUrl, JSON.stringify(body));
      expect([res.status, await res.text()]).toEqual([200, OK_REPLY]);
      acked.push(body.MsgKey);
    }
    expect(await metric(bridge.adminUrl, 'tim_bridge_spool_records')).toBe(5);

    // each step waits 10 s for Kafka, then fails and is counted; the count goes on growing
    const once = await waitFor(
      'a failed drain step',
      async () => (await failures()) || false,
      60000,
    );
    await waitFor('another failed drain step', async () => (await failures()) > once, 60000, 200);
    expect(await metric(bridge.adminUrl, 'tim_bridge_spool_records')).toBe(5);
    expect(await metric(bridge.adminUrl, 'tim_bridge_spool_drained_records_total')).toBe(0);

    await ensureTopic(bridge.kafka, {
      topic: bridge.topic,
      numPartitions: 6,
      replicationFactor: 1,
    });
    await waitFor(
      'the spool to drain',
      async () => (await metric(bridge.adminUrl, 'tim_bridge_spool_records')) === 0,
      60000,
      200,
    );
    expect(await metric(bridge.adminUrl, 'tim_bridge_spool_drained_records_total')).toBe(5);

    // the drainer's loop ended ('spool drained' is logged after its last step): no step, so no
    // failure, can follow until a new record is spooled; a drainer that went on would never say so
    await waitFor(
      'the drainer to stop',
      () => captured.lines.some((l) => l.msg === 'spool drained'),
      30000,
      100,
    );
    expect(
      captured.lines.filter((l) => l.msg === 'spool drain step failed; retrying'),
    ).toHaveLength(await failures());

    const report = deliveryReport(
      await decodeCallbacks(await readTopic(bridge.kafka, bridge.topic, { atLeast: 5 })),
      acked,
    );
    expect(report.missing).toEqual([]);
    expect(report.outOfOrder).toEqual([]);
  }, 180000);
});
