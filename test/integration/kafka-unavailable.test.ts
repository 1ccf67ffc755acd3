import { deleteTopics, ensureTopic } from '../../src/kafka/admin';
import { readTopic } from '../../src/kafka/reader';
import { BRIDGE_READINESS_PROBE_PATH } from '../../src/http/readiness';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { metricValue, sampleValue, scrape, waitFor } from '../support/wait';

/**
 * Without the spool, when Kafka cannot acknowledge in time, the reply is a 503 FAIL well before Tencent's 2 s, and
 * readiness says why. Made real by deleting the bridge's topic under it: the producer keeps
 * retrying (it never gives up on an idempotent batch) and nothing acknowledges. Once the topic
 * is back, the batch lands (late: its reply was the FAIL, at-least-once) and readiness returns.
 */
let bridge: TestBridge;
beforeAll(async () => {
  bridge = await startTestBridge('unavailable', {
    PUBLISH_TIMEOUT_MS: '300',
    SPOOL_ENABLED: 'false',
  });
  await deleteTopics(bridge.kafka, [bridge.topic]);
});
afterAll(async () => {
  await bridge?.dispose();
});

test('a callback Kafka does not acknowledge in time gets 503 FAIL, and /readyz turns not ready', async () => {
  const started = Date.now();
  const res = await postCallback(bridge.callbackUrl, loadFixtures()[0]!.text);
  const elapsed = Date.now() - started;
  expect(res.status).toBe(503);
  expect(await res.json()).toEqual({
    ActionStatus: 'FAIL',
    ErrorInfo: expect.stringMatching(/^Kafka did not acknowledge the callback/),
    ErrorCode: 1,
  });
  // answered at the publish deadline (300 ms), not after KafkaJS's retries; the bound is generous
  // for a busy machine, and still below Tencent's 2 s (the bridge's own histogram says the same)
  expect(elapsed).toBeLessThan(2000);
  await waitFor('the 503 within 1 s in the reply histogram', async () =>
    sampleValue(await scrape(bridge.adminUrl), 'tim_bridge_reply_duration_seconds_bucket', {
      le: '1',
      status_class: '5xx',
    }) === 1
      ? true
      : undefined,
  );

  // the stuck request makes the bridge not ready, with the reason
  let ready: Response;
  const deadline = Date.now() + 5000;
  do {
    ready = await fetch(`${bridge.adminUrl}/readyz`);
  } while (ready.status === 200 && Date.now() < deadline);
  expect(ready.status).toBe(503);
  const body = (await ready.json()) as { checks: Record<string, string> };
  expect(body.checks.kafka).toMatch(/^produce request unacknowledged for \d+ ms$/);
  // a probe that leaves Kafka out (a replica whose spool can take the callbacks) stays ready
  const ignoring = await fetch(`${bridge.adminUrl}${BRIDGE_READINESS_PROBE_PATH}`);
  expect(ignoring.status).toBe(200);
  expect(((await ignoring.json()) as { checks: Record<string, string> }).checks.kafka).not.toBe(
    'ok',
  );
  const metrics = await (await fetch(`${bridge.adminUrl}/metrics`)).text();
  expect(metrics).toMatch(/tim_bridge_callbacks_refused_total\{reason="publish_timeout"\} 1/);
  // the gauges: what that probe decides (in service), and the strict answer (Kafka included)
  expect(metricValue(metrics, 'tim_bridge_ready')).toBe(1);
  expect(metricValue(metrics, 'tim_bridge_ready_strict')).toBe(0);

  await ensureTopic(bridge.kafka, { topic: bridge.topic, numPartitions: 6, replicationFactor: 1 });
  await expect(readTopic(bridge.kafka, bridge.topic, { atLeast: 1 })).resolves.toHaveLength(1);
  // ready again once the Kafka probe (every 5 s) and the stuck request have both cleared
  await waitFor(
    '/readyz to answer 200',
    async () => (await fetch(`${bridge.adminUrl}/readyz`)).status === 200,
    20000,
    200,
  );
});
