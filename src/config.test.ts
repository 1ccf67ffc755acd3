import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, configSpec, loadConfig, specTableMarkdown, type VarSpec } from './config';
import { CONFIG_TABLES } from './tools/config-docs';
import { between, tableCells } from './tools/generated';

describe('configuration', () => {
  test('every variable has a default that validates', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(8080);
    expect(config.ADMIN_PORT).toBe(9464);
    expect(config.KAFKA_TOPIC).toBe('c2c.after-send-msg');
    expect(config.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(config.TENCENT_SDKAPPIDS).toEqual([]);
    expect(config.TENCENT_CALLBACK_TOKEN).toBeUndefined();
  });

  test('parses lists, numbers and booleans', () => {
    const config = loadConfig({
      KAFKA_BROKERS: 'a:9092, b:9093',
      TENCENT_SDKAPPIDS: '1400000001,1400000002',
      KAFKA_CREATE_TOPIC: 'false',
      PUBLISH_TIMEOUT_MS: '900',
    });
    expect(config.KAFKA_BROKERS).toEqual(['a:9092', 'b:9093']);
    expect(config.TENCENT_SDKAPPIDS).toEqual(['1400000001', '1400000002']);
    expect(config.KAFKA_CREATE_TOPIC).toBe(false);
    expect(config.PUBLISH_TIMEOUT_MS).toBe(900);
  });

  test('an invalid value is refused with a message naming every bad variable', () => {
    expect(() =>
      loadConfig({ PORT: 'eighty', PUBLISH_TIMEOUT_MS: '5000', KAFKA_BROKERS: 'nohost' }),
    ).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'eighty', TENCENT_CALLBACK_TOKEN: '', KAFKA_BROKERS: 'nohost' });
    } catch (err) {
      const { problems } = err as ConfigError;
      expect(problems).toHaveLength(2);
      expect(problems[0]).toMatch(/^PORT="eighty": must be an integer/);
      expect(problems[1]).toMatch(/^KAFKA_BROKERS="nohost": must be host:port/);
    }
  });

  test('secrets are never echoed', () => {
    const spec = configSpec.TENCENT_CALLBACK_TOKEN;
    expect(spec.secret).toBe(true);
  });

  test.each(Object.keys(CONFIG_TABLES))(
    "the docs' %s configuration table is the one generated from the schema",
    (which) => {
      // the bridge's table is in docs/configuration.md, each consumer's in docs/consumers.md
      const page = which === 'bridge' ? 'configuration.md' : 'consumers.md';
      const doc = readFileSync(join(__dirname, '..', 'docs', page), 'utf8');
      const marker = which === 'bridge' ? 'config-table' : `config-table:${which}`;
      const table = between(doc, `<!-- ${marker}:start -->`, `<!-- ${marker}:end -->`);
      // compared cell by cell: Prettier pads the page's columns
      expect(table).toBeDefined();
      expect(tableCells(table ?? '')).toEqual(
        tableCells(specTableMarkdown(CONFIG_TABLES[which] as Record<string, VarSpec>)),
      );
    },
  );

  test('production refuses to start without a token and an SdkAppid, unless the operator says so', () => {
    const problems = (env: Record<string, string>): string[] => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    // the SdkAppid ships in every client app: it alone authenticates nobody
    expect(problems({ NODE_ENV: 'production', TENCENT_SDKAPPIDS: '1400000001' })).toEqual([
      expect.stringMatching(/^NODE_ENV=production needs TENCENT_CALLBACK_TOKEN /),
    ]);
    expect(problems({ NODE_ENV: 'production', TENCENT_CALLBACK_TOKEN: 't' })).toEqual([
      expect.stringMatching(/^NODE_ENV=production needs TENCENT_SDKAPPIDS /),
    ]);
    expect(problems({ NODE_ENV: 'production' })).toHaveLength(2);
    expect(
      problems({
        NODE_ENV: 'production',
        TENCENT_SDKAPPIDS: '1400000001',
        TENCENT_CALLBACK_TOKEN: 't',
      }),
    ).toEqual([]);
    expect(problems({ NODE_ENV: 'production', ALLOW_UNAUTHENTICATED: 'true' })).toEqual([]);
    expect(problems({})).toEqual([]); // development
  });

  test('settings that go together are checked together', () => {
    expect(() => loadConfig({ KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toThrow(
      'KAFKA_SASL_MECHANISM=scram-sha-512 needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
    );
    expect(() => loadConfig({ KAFKA_SSL_CERT_FILE: '/c.pem' })).toThrow(
      /go together \(mutual TLS\)/,
    );
    expect(() => loadConfig({ TENCENT_CALLBACK_TOKEN_PREVIOUS: 'old' })).toThrow(
      /needs TENCENT_CALLBACK_TOKEN/,
    );
    try {
      loadConfig({
        KAFKA_SASL_MECHANISM: 'plain',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'hunter2x',
        PORT: 'x',
      });
    } catch (err) {
      expect(String(err)).not.toContain('hunter2x');
    }
    try {
      loadConfig({ TENCENT_CALLBACK_TOKEN_PREVIOUS: 'old-secret', TENCENT_SDKAPPIDS: 'abc' });
    } catch (err) {
      expect(String(err)).not.toContain('old-secret');
    }
  });
});
