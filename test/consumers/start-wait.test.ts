import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WindowRecord } from '../../src/consumers/analytics/window';
import { analyticsConsumer } from '../../src/consumers/analytics/main';
import { loadAnalyticsConfig, loadModerationConfig } from '../../src/consumers/config';
import { moderationConsumer } from '../../src/consumers/moderation/main';
import { startConsumer, type RunningConsumer } from '../../src/consumers/start';
import { deleteTopics } from '../../src/kafka/admin';
import { capturedLogger, postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { consumerEnv, inputsOf, readDecoded } from '../support/consumers';
import { loadFixtures } from '../support/fixtures';
import { SCHEMA_REGISTRY_URL } from '../support/stack';
import { TcpProxy } from '../support/tcp-proxy';
import { waitFor } from '../support/wait';

/**
 * Any start order: consumers started before the bridge has created their input topic (a fresh
 * stack, `npm run dev`, a new cluster), or while the schema registry is away, stay up: `/healthz`
 * 200, `/readyz` 503 saying what they wait for, one log line per reason; they start consuming
 * once it is there, and then give exact windows and verdicts.
 */

const text = loadFixtures().find((f) => f.name === 'text.json')?.json as Record<string, unknown>;

async function status(url: string): Promise<[number, string]> {
  const res = await fetch(url);
  return [res.status, await res.text()];
}

test('consumers started before the bridge wait for its topic, then give exact windows and verdicts', async () => {
  const input = `test.start-before.${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'tim-rules-'));
  writeFileSync(
    join(dir, 'rules.yaml'),
    'rules:\n  - id: demo-spam\n    kind: word\n    action: flag\n    words: [casino]\n',
  );
  const analyticsEnv = consumerEnv('analytics', input, { ANALYTICS_IDLE_CLOSE_SECONDS: '2' });
  const moderationEnv = consumerEnv('moderation', input, {
    MODERATION_RULES_FILE: join(dir, 'rules.yaml'),
  });
  const a = capturedLogger();
  const m = capturedLogger();
  const fatal: Error[] = [];
  const urls: Record<string, string> = {};
  const starts = [
    startConsumer(
      loadAnalyticsConfig(analyticsEnv),
      a.logger,
      analyticsConsumer(loadAnalyticsConfig(analyticsEnv)),
      (e) => fatal.push(e),
      { firstDelayMs: 100, maxDelayMs: 400, onListening: (url) => (urls.analytics = url) },
    ),
    startConsumer(
      loadModerationConfig(moderationEnv),
      m.logger,
      moderationConsumer(loadModerationConfig(moderationEnv)),
      (e) => fatal.push(e),
      { firstDelayMs: 100, maxDelayMs: 400, onListening: (url) => (urls.moderation = url) },
    ),
  ];
  let settled = 0;
  for (const s of starts)
    void s.then(
      () => settled++,
      () => settled++,
    );
  let bridge: TestBridge | undefined;
  let running: RunningConsumer[] = [];
  try {
    // up and honest while the topic is missing, through several attempts
    await waitFor('both admin servers', async () => Object.keys(urls).length === 2, 30000);
    const waitLines = (lines: { msg: string }[]) =>
      lines.filter((l) => l.msg.startsWith('waiting:')).length;
    const attempts = (lines: { msg: string }[]) =>
      lines.filter((l) => /waiting:/.test(l.msg)).length;
    await waitFor('several attempts', async () => attempts(a.lines) >= 4, 30000);
    for (const url of Object.values(urls)) {
      expect(await status(`${url}/healthz`)).toEqual([200, expect.any(String)]);
      const [code, body] = await status(`${url}/readyz`);
      expect(code).toBe(503);
      expect(body).toContain(`topic ${input} does not exist yet`);
    }
    expect(waitLines(a.lines)).toBe(1); // logged once, the repeats at debug
    expect(waitLines(m.lines)).toBe(1);
    expect(settled).toBe(0);
    expect(fatal).toEqual([]);

    // the bridge starts: it creates its topic, the consumers start consuming
    bridge = await startTestBridge('start-before', { KAFKA_TOPIC: input });
    running = await Promise.all(starts);
    for (const url of Object.values(urls)) expect((await status(`${url}/readyz`))[0]).toBe(200);

    const now = Math.floor(Date.now() / 1000);
    const bodies = Array.from({ length: 20 }, (_, i) => ({
      ...text,
      MsgKey: `start-before-${i}`,
      MsgTime: now,
      MsgBody: [
        { MsgType: 'TIMTextElem', MsgContent: { Text: i === 7 ? 'best casino in town' : 'hi' } },
      ],
    }));
    for (const body of bodies) {
      const res = await postCallback(bridge.callbackUrl, JSON.stringify(body));
      expect(res.status).toBe(200);
    }
    const windows = await readDecoded<WindowRecord>(
      bridge.kafka,
      analyticsEnv.ANALYTICS_TOPIC as string,
      1,
      { consumedBy: inputsOf(analyticsEnv), timeoutMs: 60000 },
    );
    expect(windows.map((w) => w.value.Messages)).toEqual([20]);
    const verdicts = await readDecoded<{ MsgKey: string; RuleId: string }>(
      bridge.kafka,
      moderationEnv.MODERATION_VERDICTS_TOPIC as string,
      1,
      { consumedBy: inputsOf(moderationEnv), timeoutMs: 60000 },
    );
    expect(verdicts.map((v) => [v.value.MsgKey, v.value.RuleId])).toEqual([
      ['start-before-7', 'demo-spam'],
    ]);
    expect(fatal).toEqual([]);
  } finally {
    await Promise.all(running.map((r) => r.stop().catch(() => undefined)));
    await bridge?.dispose();
    if (bridge) {
      await deleteTopics(bridge.kafka, [
        ...['ANALYTICS_TOPIC', 'ANALYTICS_STATE_TOPIC', 'CONSUMER_DLQ_TOPIC'].map(
          (k) => analyticsEnv[k] as string,
        ),
        ...['MODERATION_VERDICTS_TOPIC', 'CONSUMER_DLQ_TOPIC'].map(
          (k) => moderationEnv[k] as string,
        ),
      ]).catch(() => undefined);
    }
  }
}, 120000);

test('a consumer started while the schema registry is away waits for it', async () => {
  const registry = new URL(SCHEMA_REGISTRY_URL);
  const proxy = await TcpProxy.create(Number(registry.port), false);
  const bridge = await startTestBridge('start-registry');
  const env = consumerEnv('moderation', bridge.topic, {
    SCHEMA_REGISTRY_URL: `http://127.0.0.1:${proxy.port}${registry.pathname}`,
  });
  const config = loadModerationConfig(env);
  const { logger, lines } = capturedLogger();
  let url: string | undefined;
  const starting = startConsumer(config, logger, moderationConsumer(config), () => undefined, {
    firstDelayMs: 100,
    maxDelayMs: 400,
    onListening: (u) => (url = u),
  });
  let running: RunningConsumer | undefined;
  try {
    await waitFor(
      'a wait for the registry',
      async () => lines.some((l) => /waiting: schema registry not reachable/.test(l.msg)),
      30000,
    );
    const [code, body] = await status(`${url}/readyz`);
    expect(code).toBe(503);
    expect(body).toContain('schema registry not reachable');
    await proxy.open();
    running = await starting;
    expect((await status(`${running.adminUrl}/readyz`))[0]).toBe(200);
  } finally {
    await running?.stop();
    await proxy.close();
    await bridge.dispose();
    await deleteTopics(bridge.kafka, [
      env.MODERATION_VERDICTS_TOPIC as string,
      env.CONSUMER_DLQ_TOPIC as string,
    ]).catch(() => undefined);
  }
}, 60000);

test('an error that is not "not yet" ends the start at once', async () => {
  const bridge = await startTestBridge('start-bad');
  try {
    const config = loadModerationConfig(consumerEnv('moderation', bridge.topic));
    const broken = {
      ...moderationConsumer(config),
      createLogic: () => {
        throw new Error('the rules do not compile');
      },
    };
    const started = Date.now();
    await expect(
      startConsumer(config, capturedLogger().logger, broken, () => undefined, {
        firstDelayMs: 5000,
      }),
    ).rejects.toThrow('the rules do not compile');
    expect(Date.now() - started).toBeLessThan(5000); // not retried
  } finally {
    await bridge.dispose();
  }
}, 60000);
