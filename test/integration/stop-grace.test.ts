import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteTopics } from '../../src/kafka/admin';
import { createKafka } from '../../src/kafka/client';
import { startBridge, type RunningBridge } from '../../src/main';
import { CALLBACK_TOKEN, SDKAPPID, signedQuery } from '../support/process';
import { capturedLogger, logger, testConfig, uniqueTopic } from '../support/bridge';
import { KAFKA_BROKERS } from '../support/stack';
import { sampleValue, scrape, waitFor } from '../support/wait';

/**
 * The forced close at the end of the grace period (issue 18 §3.10; `stop()` in src/main.ts): a
 * client whose request never completes (its body stops halfway, and the request timeout is far
 * longer than the grace) must not hold the bridge's stop beyond SHUTDOWN_GRACE_MS: once the
 * grace nearly ran out, the remaining connections are closed, the stop finishes, and that
 * request is never answered OK (it never arrived whole).
 */
const GRACE_MS = 3000;

test('a request still in flight when the grace period ends is cut, and the stop finishes in time', async () => {
  const topic = uniqueTopic('stop-grace');
  const spoolDir = mkdtempSync(join(tmpdir(), 'tim-spool-'));
  const captured = capturedLogger();
  const kafka = createKafka({ brokers: KAFKA_BROKERS.split(','), clientId: 'test', logger });
  let bridge: RunningBridge | undefined;
  let socket: Socket | undefined;
  try {
    bridge = await startBridge(
      testConfig({
        KAFKA_TOPIC: topic,
        KAFKA_DLQ_TOPIC: `${topic}.dlq`,
        SPOOL_DIR: spoolDir,
        TENCENT_CALLBACK_TOKEN: CALLBACK_TOKEN,
        TENCENT_SDKAPPIDS: SDKAPPID,
        SHUTDOWN_GRACE_MS: String(GRACE_MS),
        SHUTDOWN_DELAY_MS: '0',
        REQUEST_TIMEOUT_MS: '120000',
      }),
      captured.logger,
    );
    const url = new URL(bridge.callbackUrl);
    // headers and 10 of the 1,000 bytes the request announces, then nothing
    const open = connect(Number(url.port), url.hostname);
    socket = open;
    let received = '';
    open.on('data', (d: Buffer) => (received += d.toString()));
    const closed = new Promise<void>((resolve) => open.on('close', () => resolve()));
    await new Promise<void>((resolve) => open.once('connect', () => resolve()));
    open.write(
      `POST ${url.pathname}?${signedQuery()} HTTP/1.1\r\nHost: ${url.host}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"CallbackC',
    );
    const adminUrl = bridge.adminUrl;
    await waitFor(
      'the request to be in flight',
      async () => (sampleValue(await scrape(adminUrl), 'tim_bridge_requests_in_flight') ?? 0) >= 1,
      10000,
      50,
    );

    const started = Date.now();
    await bridge.stop();
    const took = Date.now() - started;
    bridge = undefined;
    // it waited for the request (about the grace less its margins) and no longer than the grace
    // (a generous bound: without the forced close it would wait for the 120 s request timeout)
    expect(took).toBeGreaterThanOrEqual(GRACE_MS / 2);
    expect(took).toBeLessThan(GRACE_MS + 5000);
    expect(captured.lines.map((l) => l.msg)).toContain(
      'grace period ending: closing the remaining connections',
    );
    await closed;
    expect(received).not.toMatch(/^HTTP\/1\.1 200/);
  } finally {
    socket?.destroy();
    await bridge?.stop();
    await deleteTopics(kafka, [topic, `${topic}.dlq`]).catch(() => undefined);
    rmSync(spoolDir, { recursive: true, force: true });
  }
}, 60000);
