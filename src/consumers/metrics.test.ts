import { Registry } from 'prom-client';
import { createRunnerMetrics, lagReporter } from './metrics';

async function lagSeries(registry: Registry): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric('tim_consumer_lag_records');
  if (!metric) throw new Error('no lag metric');
  const { values } = await metric.get();
  return Object.fromEntries(
    values.map((v) => [`${v.labels.consumer}/${v.labels.partition}`, v.value]),
  );
}

describe('lagReporter', () => {
  it('shows exactly the partitions of the last report: revoked ones lose their series', async () => {
    const registry = new Registry();
    const metrics = createRunnerMetrics(registry);
    const a = lagReporter(metrics.lag, 'a');
    const b = lagReporter(metrics.lag, 'b');
    a(
      new Map([
        [0, 5],
        [1, 7],
        [2, 0],
      ]),
    );
    b(new Map([[0, 3]]));
    expect(await lagSeries(registry)).toEqual({ 'a/0': 5, 'a/1': 7, 'a/2': 0, 'b/0': 3 });

    a(new Map([[1, 9]])); // 0 and 2 revoked
    expect(await lagSeries(registry)).toEqual({ 'a/1': 9, 'b/0': 3 });

    a(new Map()); // stopped: none left, the other consumer's untouched
    expect(await lagSeries(registry)).toEqual({ 'b/0': 3 });
    a(new Map([[2, 1]]));
    expect(await lagSeries(registry)).toEqual({ 'a/2': 1, 'b/0': 3 });
  });
});
