import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  configSpec,
  loadConfig,
  loadSpec,
  specTableMarkdown,
  type VarSpec,
} from './config';
import { CONFIG_TABLES } from './tools/config-docs';
import { between, tableCells } from './tools/generated';

/** The problems loadConfig names for an environment ([] when it is valid). */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
}

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
    expect(
      problemsOf({ PORT: 'eighty', TENCENT_CALLBACK_TOKEN: '', KAFKA_BROKERS: 'nohost' }),
    ).toEqual([
      expect.stringMatching(/^PORT="eighty": must be an integer/),
      expect.stringMatching(/^KAFKA_BROKERS="nohost": must be host:port/),
    ]);
  });

  test('a secret that fails validation is named, never shown; other values are shown', () => {
    const spec = {
      API_KEY: {
        schema: z.string().min(20, 'too short'),
        default: undefined,
        doc: '',
        secret: true,
      },
      API_HOST: { schema: z.string().min(20, 'too short'), default: undefined, doc: '' },
    } satisfies Record<string, VarSpec>;
    let message = '';
    try {
      loadSpec(spec, { API_KEY: 'hunter2-secret', API_HOST: 'short-host' });
    } catch (err) {
      message = String(err);
    }
    expect(message).toContain('API_KEY=(secret): too short');
    expect(message).not.toContain('hunter2-secret');
    expect(message).toContain('API_HOST="short-host": too short');
    // and every secret of the bridge's own configuration is marked as one
    const secrets = Object.entries(configSpec as Record<string, VarSpec>)
      .filter(([, v]) => v.secret)
      .map(([name]) => name);
    expect(secrets.sort()).toEqual([
      'KAFKA_SASL_PASSWORD',
      'KAFKA_SSL_KEY_PASSWORD',
      'SCHEMA_REGISTRY_PASSWORD',
      'TENCENT_CALLBACK_TOKEN',
      'TENCENT_CALLBACK_TOKEN_PREVIOUS',
    ]);
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
    const problems = problemsOf;
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
    // the cross-checks' messages name secrets, never show them
    const withPassword = problemsOf({
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'hunter2x',
      PORT: 'x',
    });
    expect(withPassword).toEqual([expect.stringMatching(/^PORT="x"/)]);
    expect(withPassword.join()).not.toContain('hunter2x');
    const withOld = problemsOf({
      TENCENT_CALLBACK_TOKEN_PREVIOUS: 'old-secret',
      TENCENT_SDKAPPIDS: 'abc',
    });
    expect(withOld).toEqual([expect.stringMatching(/^TENCENT_SDKAPPIDS="abc"/)]);
    expect(withOld.join()).not.toContain('old-secret');
  });
});
