import cluster from 'node:cluster';
import Module from 'node:module';

/**
 * The "all cores" alternative, measured but not adopted (docs/performance.md): the bridge as
 * BENCH_CLUSTER_WORKERS processes behind one port (node:cluster, round-robin of connections),
 * each with its own spool, producer and metrics. Preloaded into the benchmarked bridge:
 *
 *   BENCH_CLUSTER_WORKERS=2 BENCH_BRIDGE_NODE_OPTIONS="--require ./dist/bench/cluster-hook.js" \
 *     npm run bench -- --systems bridge --levels 128 --fractions 0.5 --no-docs
 *
 * The primary forks the workers and does not run the bridge itself; the harness measures CPU
 * and RSS over the whole process tree (bench/proc.ts). A bench tool only: the admin port is
 * shared round-robin too (each scrape sees one worker), which the product would not accept.
 */
const workers = Number(process.env.BENCH_CLUSTER_WORKERS ?? '0');
if (cluster.isPrimary && workers > 0) {
  const spool = process.env.SPOOL_DIR ?? 'spool';
  for (let i = 0; i < workers; i++) cluster.fork({ SPOOL_DIR: `${spool}/worker-${i}` });
  // the primary loads main.js as the entry point: empty, here
  const proto = Module.prototype as unknown as {
    _compile(content: string, filename: string): unknown;
  };
  const compile = proto._compile;
  proto._compile = function (this: unknown, content: string, filename: string) {
    return compile.call(this, filename.endsWith('/dist/src/main.js') ? '' : content, filename);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
      cluster.on('exit', () => {
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      });
    });
  }
}
