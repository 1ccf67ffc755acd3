import { closedLoop, startBridgeProcess, textBodies } from './support';

/**
 * The spool's cost on the normal path (Kafka healthy): throughput and p99 with SPOOL_ENABLED
 * true vs false, alternating runs of the production build in one session on one machine.
 * `npm run bench:spool [-- seconds connections rounds]`
 */
async function main(): Promise<void> {
  const [seconds = 10, connections = 50, rounds = 3] = process.argv.slice(2).map(Number);
  const bodies = textBodies(5000);
  const rows: { spool: string; rps: number; p99: number; non2xx: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const spool of ['true', 'false']) {
      const bridge = await startBridgeProcess({
        SPOOL_ENABLED: spool,
        KAFKA_TOPIC: `bench.spool-cost.${Date.now()}`,
      });
      try {
        await closedLoop({ url: bridge.url, bodies, connections, seconds: 3 }); // warm-up
        const r = await closedLoop({ url: bridge.url, bodies, connections, seconds });
        rows.push({ spool, rps: r.requestsPerSecond, p99: r.p99Ms, non2xx: r.non2xx + r.errors });
        process.stderr.write(
          `round ${round + 1} spool=${spool}: ${r.requestsPerSecond.toFixed(0)} req/s p99 ${r.p99Ms} ms\n`,
        );
      } finally {
        await bridge.stop();
      }
    }
  }
  const median = (xs: number[]) =>
    [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const summary = (spool: string) => {
    const mine = rows.filter((r) => r.spool === spool);
    return {
      rps: median(mine.map((r) => r.rps)),
      p99: median(mine.map((r) => r.p99)),
      failed: mine.reduce((a, r) => a + r.non2xx, 0),
    };
  };
  const on = summary('true');
  const off = summary('false');
  process.stdout.write(
    [
      `| spool | acked callbacks/s (median of ${rounds}) | p99 ms (median) | non-OK replies |`,
      '| --- | --- | --- | --- |',
      `| enabled | ${on.rps.toFixed(0)} | ${on.p99} | ${on.failed} |`,
      `| disabled | ${off.rps.toFixed(0)} | ${off.p99} | ${off.failed} |`,
      `| ratio enabled/disabled | ${(on.rps / off.rps).toFixed(2)} | ${(on.p99 / off.p99).toFixed(2)} | |`,
      '',
      `${connections} connections, ${seconds} s per run after a 3 s warm-up, signed text callbacks to 997 recipients.`,
    ].join('\n') + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
