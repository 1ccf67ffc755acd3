import { createKafka } from '../src/kafka/client';
import { deleteTopics } from '../src/kafka/admin';
import { createLogger } from '../src/observability/logger';
import { OK_REPLY } from '../src/tencent/reply';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closedLoop, httpSender, openLoop } from './load';
import { bodyOf, callbackTemplates } from './mix';
import { ProcessMeter } from './proc';
import { ROOT, signedPathCache, startBridgeProcess } from './support';

/**
 * `npm run bench:soak [-- minutes [rate]]` (default 10 minutes at 50 % of a maximum measured
 * first with 128 clients): the production bridge under a steady open-loop load, its RSS sampled
 * every second. Passes when, after the first minute (warm-up; a tenth of shorter runs), every
 * sample stays within ±10 % of their mean. Writes bench/results/soak-<date>.json.
 */
async function main(): Promise<void> {
  const [minutes = 10, fixedRate] = process.argv.slice(2).map(Number);
  const topic = `bench.soak.${Date.now()}`;
  const bridge = await startBridgeProcess({
    KAFKA_TOPIC: topic,
    KAFKA_DLQ_TOPIC: `${topic}.dlq`,
    KAFKA_TOPIC_PARTITIONS: '6',
  });
  const templates = callbackTemplates(2000);
  const path = signedPathCache();
  const sender = (sockets: number) =>
    httpSender({
      origin: bridge.url,
      path,
      body: (i) => bodyOf(templates, `soak-${topic}`, i),
      okBody: OK_REPLY,
      maxSockets: sockets,
    });
  const meter = new ProcessMeter(bridge.child.pid as number, 1000);
  try {
    let rate = fixedRate;
    if (rate === undefined || !Number.isFinite(rate)) {
      const s = sender(128);
      const max = await closedLoop({ send: s.send, concurrency: 128, seconds: 10 });
      s.close();
      rate = Math.round(max.ackedPerSecond / 2 / 10) * 10;
      process.stderr.write(`[soak] max ${max.ackedPerSecond.toFixed(0)}/s: soaking at ${rate}/s\n`);
    }
    const s = sender(256);
    meter.start();
    const result = await openLoop({ send: s.send, rate, seconds: minutes * 60, firstIndex: 1e8 });
    meter.stop();
    s.close();
    // the first minute (a tenth of shorter runs) is warm-up: the heap grows to its working size
    const warmupMs = Math.min(60000, (minutes * 60000) / 10);
    const after = meter.samples.filter((x) => x.atMs >= warmupMs);
    const rss = after.map((x) => x.rssMiB);
    const mean = rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length);
    const [lo, hi] = [Math.min(...rss), Math.max(...rss)];
    const flat = rss.length > 0 && lo >= mean * 0.9 && hi <= mean * 1.1;
    const report = {
      date: new Date().toISOString(),
      command: 'npm run bench:soak',
      minutes,
      rate,
      result,
      rssMiB: { mean: Math.round(mean), min: Math.round(lo), max: Math.round(hi) },
      flatWithin10Percent: flat,
      samples: meter.samples,
    };
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `soak-${report.date.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(
      `${minutes} min at ${rate}/s: ${result.acked} acked, ${result.failed} failed, ${result.dropped} dropped; ` +
        `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, p99.9 ${result.p999Ms} ms\n` +
        `RSS after ${warmupMs / 1000} s of warm-up: mean ${report.rssMiB.mean} MiB, min ${report.rssMiB.min}, max ${report.rssMiB.max}: ` +
        `${flat ? 'flat (within ±10 %)' : 'NOT flat (beyond ±10 %)'}\n${file}\n`,
    );
  } finally {
    await bridge.stop();
    const kafka = createKafka({
      brokers: [process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'],
      clientId: 'bench-soak',
      logger: createLogger({ level: 'error' }),
    });
    await deleteTopics(kafka, [topic, `${topic}.dlq`]);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
