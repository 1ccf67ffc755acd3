import { readTopic } from '../../src/kafka/reader';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, testConfig, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { startBridge } from '../../src/main';
import { logger } from '../support/bridge';
import { EXTERNAL_STACK } from '../support/stack';

/**
 * Kafka security for real: the local broker's SASL_PLAINTEXT listener (127.0.0.1:9094) takes
 * SCRAM logins only (user created by the stack with Kafka's own Admin API). Against an existing
 * cluster, TEST_KAFKA_SASL_BROKERS names its SCRAM listener (with STACK_SCRAM_USER and
 * STACK_SCRAM_PASSWORD); without it these tests are skipped.
 */
const saslBrokers = EXTERNAL_STACK
  ? process.env.TEST_KAFKA_SASL_BROKERS
  : `127.0.0.1:${process.env.KAFKA_SASL_PORT ?? '9094'}`;
const describeScram = saslBrokers === undefined ? describe.skip : describe;
const SCRAM = {
  KAFKA_BROKERS: saslBrokers ?? '',
  KAFKA_SASL_USERNAME: process.env.STACK_SCRAM_USER ?? 'bridge',
  KAFKA_SASL_PASSWORD: process.env.STACK_SCRAM_PASSWORD ?? 'bridge-secret',
};

describeScram.each(['scram-sha-256', 'scram-sha-512'])('over %s', (mechanism) => {
  let bridge: TestBridge;
  beforeAll(async () => {
    bridge = await startTestBridge('scram', { ...SCRAM, KAFKA_SASL_MECHANISM: mechanism });
  });
  afterAll(async () => {
    await bridge?.dispose();
  });

  test('the bridge creates its topic and publishes through the SCRAM listener', async () => {
    const fixture = loadFixtures().find((f) => f.name === 'text.json')!;
    const res = await postCallback(bridge.callbackUrl, fixture.text);
    expect(await res.text()).toBe(OK_REPLY);
    const [record] = await readTopic(bridge.kafka, bridge.topic, { atLeast: 1 });
    expect(record?.key?.toString()).toBe('Jonh');
  });
});

describeScram('a wrong password', () => {
  test('a wrong SCRAM password stops the start with an authentication error', async () => {
    const config = testConfig({
      ...SCRAM,
      KAFKA_SASL_MECHANISM: 'scram-sha-256',
      KAFKA_SASL_PASSWORD: 'wrong',
      KAFKA_TOPIC: `test.scram-wrong.${Date.now()}`,
      SPOOL_ENABLED: 'false',
    });
    await expect(startBridge(config, logger)).rejects.toThrow(
      /SASL SCRAM SHA256 authentication failed/,
    );
  });
});
