import { stackTarget } from './stack';

describe('stackTarget: where the integration tests find Kafka and the registry', () => {
  test('nothing named: the local stack, on its fixed ports', () => {
    expect(stackTarget({})).toEqual({
      kind: 'local',
      brokers: '127.0.0.1:9092',
      registryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7',
    });
    expect(stackTarget({ KAFKA_BROKERS: ' ', SCHEMA_REGISTRY_URL: '' }).kind).toBe('local');
  });

  test('both named: that existing pair, nothing started', () => {
    expect(
      stackTarget({
        KAFKA_BROKERS: 'kafka:9092,kafka2:9092',
        SCHEMA_REGISTRY_URL: 'http://registry:8081',
      }),
    ).toEqual({
      kind: 'external',
      brokers: 'kafka:9092,kafka2:9092',
      registryUrl: 'http://registry:8081',
    });
  });

  test('only one named: refused, naming the other (a half-local run would mix two clusters)', () => {
    expect(() => stackTarget({ KAFKA_BROKERS: 'kafka:9092' })).toThrow(
      /both KAFKA_BROKERS and SCHEMA_REGISTRY_URL .* \(got only KAFKA_BROKERS\)/,
    );
    expect(() => stackTarget({ SCHEMA_REGISTRY_URL: 'http://r:8081' })).toThrow(
      /got only SCHEMA_REGISTRY_URL/,
    );
  });
});
