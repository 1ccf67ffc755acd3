import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { consumerEnv, deleteTopics, inputsOf, readDecoded } from '../support/consumers';
import { loadFixtures } from '../support/fixtures';
import { buildIfStale, freePort, tail } from '../support/process';
import { ROOT } from '../support/stack';
import { sampleValue, scrape, waitFor } from '../support/wait';

/**
 * Issue 13, point 2: rules that cannot stall moderation. The moderation consumer runs as its own
 * process (the production build, as deployed) with regex rules that V8's backtracking RegExp takes
 * seconds to forever on (~1.8 s on 40 letters and over 60 s on 50, 7 s on 32 characters, 8.6 s
 * on 200 characters). A message of three 12 KB adversarial parts, then a normal spam message, go
 * through the real bridge and Kafka. Throughout, `/healthz` and `/readyz` must answer 200 within
 * 2 s (a stalled event loop answers nothing: heartbeats stop too, the group rebalances and
 * the next replica takes the same record); the batches must take under a second each and the
 * spam must get its verdicts.
 */

const MAIN = join(ROOT, 'dist', 'src', 'consumers', 'moderation', 'main.js');
const KB12 = 12 * 1024;
/** Generous for a loaded machine: a stalled event loop answers never. */
const HEALTH_TIMEOUT_MS = 2000;

const RULES = `
rules:
  - id: hostile-casino
    kind: regex
    pattern: '(?:\\w+\\W*){3,8}casino'
  - id: hostile-twelve-words
    kind: regex
    pattern: '(\\w+\\s?){12}!'
  - id: hostile-stars
    kind: regex
    target: raw
    pattern: '\\w*\\w*\\w*\\w*!'
  - id: spam-words
    kind: word
    words: [free money]
`;

interface Verdict {
  MsgKey: string;
  RuleId: string;
  Outcome: string;
}

/** Polls /healthz and /readyz until stopped; `failed` rejects at the first answer that is not a quick 200. */
function watchHealth(adminUrl: string): {
  checks: () => number;
  failed: Promise<never>;
  stop(): Promise<void>;
} {
  let stopped = false;
  let checks = 0;
  let fail: (err: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined); // observed by the race below; not unhandled when nobody waits
  const loop = (async () => {
    while (!stopped) {
      for (const path of ['/healthz', '/readyz']) {
        const started = Date.now();
        try {
          const res = await fetch(`${adminUrl}${path}`, {
            signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
          });
          const body = await res.text();
          if (res.status !== 200) throw new Error(`answered ${res.status}: ${body}`);
        } catch (err) {
          fail(
            new Error(
              `the consumer's ${path} failed after ${Date.now() - started} ms (a stalled event loop?): ${(err as Error).message}`,
            ),
          );
          return;
        }
        checks++;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    checks: () => checks,
    failed,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Waits for `promise`, failing at once if the consumer stops answering its health checks. */
function healthy<T>(health: ReturnType<typeof watchHealth>, promise: Promise<T>): Promise<T> {
  return Promise.race([promise, health.failed]);
}

describe('moderation consumer with rules that backtrack catastrophically on V8', () => {
  let bridge: TestBridge;
  let child: ChildProcess | undefined;
  let env: Record<string, string>;
  let adminUrl: string;
  let dir: string;

  const log = () => readFileSync(join(dir, 'consumer.log'), 'utf8');

  beforeAll(async () => {
    buildIfStale();
    bridge = await startTestBridge('moderation-hostile');
    dir = mkdtempSync(join(tmpdir(), 'tim-hostile-'));
    writeFileSync(join(dir, 'rules.yaml'), RULES);
    const adminPort = await freePort();
    adminUrl = `http://127.0.0.1:${adminPort}`;
    env = consumerEnv('moderation', bridge.topic, {
      MODERATION_RULES_FILE: join(dir, 'rules.yaml'),
      ADMIN_PORT: String(adminPort),
      LOG_LEVEL: 'info',
    });
    const out = openSync(join(dir, 'consumer.log'), 'a');
    child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', out, out],
    });
    await waitFor(
      'the consumer ready',
      async () => {
        if (child?.exitCode !== null) throw new Error(`the consumer exited:\n${tail(log())}`);
        const res = await fetch(`${adminUrl}/readyz`).catch(() => undefined);
        return res?.status === 200;
      },
      60000,
    );
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      // a consumer stuck in a match cannot handle SIGTERM: SIGKILL if it does not exit soon
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    }
    if (bridge) {
      await deleteTopics(bridge.kafka, [
        env.MODERATION_VERDICTS_TOPIC as string,
        env.CONSUMER_DLQ_TOPIC as string,
      ]).catch(() => undefined);
      await bridge.dispose();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stays healthy through a 12 KB adversarial message and gives the next message its verdicts', async () => {
    const text = JSON.parse(
      loadFixtures().find((f) => f.name === 'text.json')?.text ?? 'null',
    ) as Record<string, unknown>;
    const hostile = {
      ...text,
      To_Account: 'moderator-victim',
      MsgKey: 'hostile-12kb',
      MsgBody: [
        // a run of letters (no "!", no "casino"): each pattern backtracks through all of it
        { MsgType: 'TIMTextElem', MsgContent: { Text: 'a'.repeat(KB12) } },
        { MsgType: 'TIMTextElem', MsgContent: { Text: 'abcd '.repeat(KB12 / 4).slice(0, KB12) } },
      ],
      CloudCustomData: 'casin0 '.repeat(KB12 / 6).slice(0, KB12),
    };
    // same recipient, so the same partition: processed after the hostile one
    const spam = {
      ...text,
      To_Account: 'moderator-victim',
      MsgKey: 'spam-after-hostile',
      MsgBody: [
        { MsgType: 'TIMTextElem', MsgContent: { Text: 'Get FREE MONEY at the best casino' } },
      ],
      CloudCustomData: '',
    };

    const health = watchHealth(adminUrl);
    try {
      const posted = Date.now();
      for (const body of [hostile, spam]) {
        const res = await postCallback(bridge.callbackUrl, JSON.stringify(body));
        expect(res.status).toBe(200);
      }

      const verdicts = (
        await healthy(
          health,
          readDecoded<Verdict>(bridge.kafka, env.MODERATION_VERDICTS_TOPIC as string, 2, {
            consumedBy: inputsOf(env),
            timeoutMs: 60000,
          }),
        )
      ).map(({ value }) => [value.MsgKey, value.RuleId, value.Outcome]);
      expect(verdicts.sort()).toEqual([
        ['spam-after-hostile', 'hostile-casino', 'FLAGGED'],
        ['spam-after-hostile', 'spam-words', 'FLAGGED'],
      ]);

      // both processed, each batch within a second (a stalled one never ends)
      const metrics = await healthy(
        health,
        waitFor('both records counted', async () => {
          const m = await scrape(adminUrl);
          const processed = sampleValue(m, 'tim_consumer_records_total', {
            consumer: 'moderation',
            outcome: 'processed',
          });
          return processed === 2 && m;
        }),
      );
      const batches = sampleValue(metrics, 'tim_consumer_batch_duration_seconds_count', {
        consumer: 'moderation',
      });
      const underASecond = sampleValue(metrics, 'tim_consumer_batch_duration_seconds_bucket', {
        consumer: 'moderation',
        le: '1',
      });
      expect(batches).toBeGreaterThanOrEqual(1);
      expect(underASecond).toBe(batches);
      expect(Date.now() - posted).toBeLessThan(30000);
      expect(health.checks()).toBeGreaterThan(0);
    } finally {
      await health.stop();
    }
    expect(child?.exitCode).toBeNull();
    expect(log()).not.toMatch(/"level":(50|60)/);
  });
});
