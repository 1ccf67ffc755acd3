import { z } from 'zod';
import { parseRoutes } from './catalogue/routes';

/**
 * The one typed, documented configuration schema: environment variables only. Every variable has
 * a default (written as it would be in the environment, so the README table shows it literally)
 * and a description; the README's configuration table is generated from this object
 * (`npm run config:docs`) and a test keeps the two equal.
 */

export const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const bool = z
  .enum(['true', 'false', '1', '0'], 'must be true or false')
  .transform((v) => v === 'true' || v === '1');

export const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);

export const url = z.url('must be a URL').transform((v) => v.replace(/\/+$/, ''));

export const topicName = z
  .string()
  .regex(/^[a-zA-Z0-9._-]{1,249}$/, 'must be a valid Kafka topic name');

export interface VarSpec {
  schema: z.ZodType;
  /** The default as an environment string; undefined means "unset" (the value is then undefined). */
  default: string | undefined;
  doc: string;
  secret?: boolean;
}

export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));

export const configSpec = {
  PORT: {
    schema: int(0, 65535),
    default: '8080',
    doc: 'Port of the callback server (`POST /callback`).',
  },
  HOST: {
    schema: z.string().min(1),
    default: '0.0.0.0',
    doc: 'Address the callback server binds to.',
  },
  ADMIN_PORT: {
    schema: int(0, 65535),
    default: '9464',
    doc: 'Port of the admin server (`/metrics`, `/healthz`, `/readyz`); never expose it publicly.',
  },
  ADMIN_HOST: {
    schema: z.string().min(1),
    default: '0.0.0.0',
    doc: 'Address the admin server binds to.',
  },
  KAFKA_BROKERS: {
    schema: list.pipe(z.array(z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port')).min(1)),
    default: '127.0.0.1:9092',
    doc: 'Comma-separated bootstrap brokers (`host:port`).',
  },
  KAFKA_CLIENT_ID: {
    schema: z.string().min(1),
    default: 'tim-kafka-bridge',
    doc: 'Kafka client id.',
  },
  KAFKA_TOPIC: {
    schema: topicName,
    default: 'c2c.after-send-msg',
    doc: "Topic of `C2C.CallbackAfterSendMsg` (the default topic of that command). Every topic's Avro subject is `<topic>-value`.",
  },
  COMMAND_ROUTES: {
    schema: z.string().superRefine((v, ctx) => {
      try {
        parseRoutes(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }),
    default: '',
    doc: 'Where commands go: comma-separated `pattern=target`; pattern a command (`Group.CallbackAfterSendMsg`), a family (`Group.*`) or `*`; target a topic, `on` (the default topic, see the catalogue in docs) or `off` (answered, counted, not stored). The most specific pattern wins; unset: every command to its default topic. Example: `*=off,C2C.*=on,Group.CallbackAfterSendMsg=on`.',
  },
  KAFKA_OTHER_CALLBACKS_TOPIC: {
    schema: z.union([z.literal('off'), topicName]),
    default: 'tim.other-callbacks',
    doc: 'Topic of callbacks whose command the catalogue does not know (answered OK, kept with the generic schema), or `off`.',
  },
  BEFORE_CALLBACK_UPSTREAM_URL: {
    schema: optionalString.pipe(z.url('must be a URL').optional()),
    default: undefined,
    doc: "The app's decision service for before-callbacks (`BEFORE_CALLBACK_FORWARD`): gets the same query and body; its Tencent-shaped reply is relayed. https certificates are verified.",
  },
  BEFORE_CALLBACK_FORWARD: {
    schema: list,
    default: '',
    doc: 'Before-callbacks forwarded to `BEFORE_CALLBACK_UPSTREAM_URL`: commands, families (`Group.*`) or `*`. The others are allowed at once (ErrorCode 0).',
  },
  BEFORE_CALLBACK_DEADLINE_MS: {
    schema: int(50, 1900),
    default: '1500',
    doc: 'How long a forwarded before-callback waits for the decision service (Tencent waits 2 s); then `BEFORE_CALLBACK_ON_FAILURE` answers.',
  },
  BEFORE_CALLBACK_ON_FAILURE: {
    schema: z.enum(['allow', 'block'], 'must be allow or block'),
    default: 'allow',
    doc: 'The answer when the decision service fails (timeout, error status, malformed reply): `allow` (fail-open, as Tencent does on a timeout) or `block` (fail-closed, ErrorCode 1).',
  },
  KAFKA_DLQ_TOPIC: {
    schema: topicName,
    default: 'c2c.after-send-msg.dlq',
    doc: 'Dead-letter topic: authentic callbacks that fail validation, raw, with the reason in headers.',
  },
  KAFKA_CREATE_TOPIC: {
    schema: bool,
    default: 'true',
    doc: 'Create the topic at start-up if it does not exist.',
  },
  KAFKA_TOPIC_PARTITIONS: {
    schema: int(1, 10000),
    default: '6',
    doc: 'Partitions of the topic when the bridge creates it.',
  },
  KAFKA_TOPIC_REPLICATION_FACTOR: {
    schema: int(-1, 32767),
    default: '-1',
    doc: "Replication factor of the topic when the bridge creates it (-1: the broker's `default.replication.factor`).",
  },
  SCHEMA_REGISTRY_URL: {
    schema: url,
    default: 'http://127.0.0.1:8081/apis/ccompat/v7',
    doc: 'Base URL of a Confluent-compatible schema registry API.',
  },
  SCHEMA_REGISTRY_AUTO_REGISTER: {
    schema: bool,
    default: 'true',
    doc: 'Register the schema (and set the subject to BACKWARD) at start; `false` only looks up the id it already has, for registries that forbid clients to register (`auto.register.schemas=false`).',
  },
  PUBLISH_TIMEOUT_MS: {
    schema: int(50, 1900),
    default: '1200',
    doc: "How long a callback may wait for Kafka's acknowledgement before the reply is a 503 FAIL (Tencent gives up at 2000 ms).",
  },
  BATCH_MAX_RECORDS: {
    schema: int(1, 10000),
    default: '500',
    doc: 'Most records in one produce request; concurrent callbacks are coalesced up to this.',
  },
  BATCH_MAX_WAIT_MS: {
    schema: int(0, 50),
    default: '2',
    doc: 'Longest a callback waits for others to share its produce request (KafkaJS has no linger.ms).',
  },
  BATCH_MAX_BYTES: {
    schema: int(1024, 100 * 1024 * 1024),
    default: '1000000',
    doc: "Most bytes of records in one produce request (the broker refuses a batch over its `message.max.bytes`, default 1048588). Lowered to a topic's `max.message.bytes` where that is smaller (read at start); a request is cut before it is sent, never after.",
  },
  BODY_LIMIT_BYTES: {
    schema: int(1024, 10 * 1024 * 1024),
    default: '65536',
    doc: 'Largest accepted callback body (a 12 KB merged message plus its envelope fits with room to spare).',
  },
  KAFKA_SASL_MECHANISM: {
    schema: z.enum(['none', 'plain', 'scram-sha-256', 'scram-sha-512']),
    default: 'none',
    doc: 'SASL mechanism for Kafka: `none`, `plain`, `scram-sha-256` or `scram-sha-512`.',
  },
  KAFKA_SASL_USERNAME: { schema: optionalString, default: undefined, doc: 'SASL username.' },
  KAFKA_SASL_PASSWORD: {
    schema: optionalString,
    default: undefined,
    doc: 'SASL password.',
    secret: true,
  },
  KAFKA_SSL: { schema: bool, default: 'false', doc: 'Connect to Kafka over TLS.' },
  KAFKA_SSL_CA_FILE: {
    schema: optionalString,
    default: undefined,
    doc: "PEM file of the CA(s) that signed the brokers' certificates (default: the system's).",
  },
  KAFKA_SSL_CERT_FILE: {
    schema: optionalString,
    default: undefined,
    doc: 'PEM client certificate (mutual TLS).',
  },
  KAFKA_SSL_KEY_FILE: {
    schema: optionalString,
    default: undefined,
    doc: 'PEM client private key (mutual TLS).',
  },
  KAFKA_SSL_KEY_PASSWORD: {
    schema: optionalString,
    default: undefined,
    doc: 'Passphrase of the client private key.',
    secret: true,
  },
  KAFKA_SSL_REJECT_UNAUTHORIZED: {
    schema: bool,
    default: 'true',
    doc: "Verify the brokers' certificates (only turn off against a test cluster).",
  },
  SCHEMA_REGISTRY_USERNAME: {
    schema: optionalString,
    default: undefined,
    doc: 'Schema registry basic-auth user.',
  },
  SCHEMA_REGISTRY_PASSWORD: {
    schema: optionalString,
    default: undefined,
    doc: 'Schema registry basic-auth password.',
    secret: true,
  },
  TENCENT_SDKAPPIDS: {
    schema: list.pipe(z.array(z.string().regex(/^\d+$/, 'must be numeric SdkAppids'))),
    default: '',
    doc: 'Comma-separated SdkAppids accepted; any other gets 403. Empty accepts any (development only).',
  },
  TENCENT_CALLBACK_TOKEN: {
    schema: optionalString,
    default: undefined,
    doc: 'Webhook authentication token set in the Chat console; when set, every callback must carry a valid `Sign` and a fresh `RequestTime`, else 401.',
    secret: true,
  },
  TENCENT_CALLBACK_TOKEN_PREVIOUS: {
    schema: list,
    default: '',
    doc: 'Comma-separated tokens still accepted during a token change-over (remove them once the console has the new one).',
    secret: true,
  },
  SIGNATURE_WINDOW_SECONDS: {
    schema: int(1, 3600),
    default: '60',
    doc: 'Largest accepted difference between `RequestTime` and the bridge clock, in seconds.',
  },
  ALLOW_UNAUTHENTICATED: {
    schema: bool,
    default: 'false',
    doc: 'Allow `NODE_ENV=production` without `TENCENT_CALLBACK_TOKEN` or `TENCENT_SDKAPPIDS` (logged and exported as a metric).',
  },
  NODE_ENV: {
    schema: z.enum(['development', 'production', 'test']),
    default: 'development',
    doc: '`production` refuses to start without `TENCENT_CALLBACK_TOKEN` and `TENCENT_SDKAPPIDS` (see `ALLOW_UNAUTHENTICATED`).',
  },
  SPOOL_ENABLED: {
    schema: bool,
    default: 'true',
    doc: 'Keep callbacks that Kafka cannot acknowledge in time in a local durable spool (and reply OK) instead of answering 503.',
  },
  SPOOL_DIR: {
    schema: z.string().min(1),
    default: './spool',
    doc: 'Directory of the spool (SQLite); on Kubernetes a volume that outlives the container.',
  },
  SPOOL_MAX_RECORDS: {
    schema: int(1, 100_000_000),
    default: '500000',
    doc: 'Most records the spool holds; when full, callbacks get 503 and /readyz says not ready.',
  },
  SPOOL_MAX_BYTES: {
    schema: int(1024, Number.MAX_SAFE_INTEGER),
    default: '536870912',
    doc: 'Most bytes of record values the spool holds (default 512 MiB).',
  },
  SHUTDOWN_GRACE_MS: {
    schema: int(0, 600_000),
    default: '15000',
    doc: 'On SIGTERM, the longest the bridge takes to answer in-flight requests, spool what Kafka did not take and exit (keep below terminationGracePeriodSeconds).',
  },
  SHUTDOWN_DELAY_MS: {
    schema: int(0, 60_000),
    default: '2000',
    doc: 'On SIGTERM, how long the bridge keeps serving (not ready, every reply closing its connection) before it closes the listener; part of SHUTDOWN_GRACE_MS.',
  },
  REQUEST_TIMEOUT_MS: {
    schema: int(100, 600_000),
    default: '10000',
    doc: 'A request whose headers and body have not all arrived by then is dropped (slow clients).',
  },
  LOG_LEVEL: {
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    doc: 'Log level (JSON logs on stdout).',
  },
} satisfies Record<string, VarSpec>;

export type ConfigName = keyof typeof configSpec;
export type Config = ConfigOf<typeof configSpec>;

/** The typed values of a spec (the bridge's, or a consumer's). */
export type ConfigOf<S extends Record<string, VarSpec>> = {
  [K in keyof S]: z.output<S[K]['schema']>;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses and validates a whole spec from the environment; throws one ConfigError naming every
 * bad variable (and then the cross-checks' problems, once every variable is valid).
 */
export function loadSpec<S extends Record<string, VarSpec>>(
  spec: S,
  env: Record<string, string | undefined>,
  checks: (c: ConfigOf<S>) => string[] = () => [],
): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, v] of Object.entries(spec) as [string, VarSpec][]) {
    const raw = env[name] ?? v.default;
    const parsed = v.schema.safeParse(raw);
    if (parsed.success) {
      out[name] = parsed.data;
    } else {
      const shown = v.secret ? '(secret)' : JSON.stringify(raw);
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      problems.push(`${name}=${shown}: ${why}`);
    }
  }
  if (problems.length === 0) problems.push(...checks(out as ConfigOf<S>));
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

/** Parses and validates the bridge's configuration. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  return loadSpec(configSpec, env, crossChecks);
}

/** The Kafka and registry connection settings, shared by the bridge and the consumers. */
export const connectionSpecNames = [
  'KAFKA_BROKERS',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
  'KAFKA_SSL',
  'KAFKA_SSL_CA_FILE',
  'KAFKA_SSL_CERT_FILE',
  'KAFKA_SSL_KEY_FILE',
  'KAFKA_SSL_KEY_PASSWORD',
  'KAFKA_SSL_REJECT_UNAUTHORIZED',
  'SCHEMA_REGISTRY_URL',
  'SCHEMA_REGISTRY_USERNAME',
  'SCHEMA_REGISTRY_PASSWORD',
] as const satisfies readonly ConfigName[];

export type ConnectionConfig = Pick<Config, (typeof connectionSpecNames)[number]>;

export const connectionSpec = Object.fromEntries(
  connectionSpecNames.map((n) => [n, configSpec[n]]),
) as Pick<typeof configSpec, (typeof connectionSpecNames)[number]>;

/** Cross-checks of the connection settings (bridge and consumers alike). */
export function connectionChecks(c: ConnectionConfig): string[] {
  const problems: string[] = [];
  if (c.KAFKA_SASL_MECHANISM !== 'none' && (!c.KAFKA_SASL_USERNAME || !c.KAFKA_SASL_PASSWORD)) {
    problems.push(
      `KAFKA_SASL_MECHANISM=${c.KAFKA_SASL_MECHANISM} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
    );
  }
  if (Boolean(c.KAFKA_SSL_CERT_FILE) !== Boolean(c.KAFKA_SSL_KEY_FILE)) {
    problems.push('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together (mutual TLS)');
  }
  if (Boolean(c.SCHEMA_REGISTRY_USERNAME) !== Boolean(c.SCHEMA_REGISTRY_PASSWORD)) {
    problems.push('SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD go together');
  }
  return problems;
}

/** Rules that involve several variables. */
function crossChecks(c: Config): string[] {
  const problems = connectionChecks(c);
  if (c.TENCENT_CALLBACK_TOKEN_PREVIOUS.length > 0 && !c.TENCENT_CALLBACK_TOKEN) {
    problems.push(
      'TENCENT_CALLBACK_TOKEN_PREVIOUS needs TENCENT_CALLBACK_TOKEN (the current token)',
    );
  }
  if (c.BEFORE_CALLBACK_FORWARD.length > 0 && !c.BEFORE_CALLBACK_UPSTREAM_URL) {
    problems.push(
      'BEFORE_CALLBACK_FORWARD needs BEFORE_CALLBACK_UPSTREAM_URL (the decision service to forward to)',
    );
  }
  const bad = c.BEFORE_CALLBACK_FORWARD.filter(
    (p) => !/^(\*|[A-Za-z0-9]+\.(\*|[A-Za-z0-9_]+))$/.test(p),
  );
  if (bad.length > 0) {
    problems.push(
      `BEFORE_CALLBACK_FORWARD: ${bad.join(', ')} is not a command, a family (Group.*) or *`,
    );
  }
  if (c.NODE_ENV === 'production' && !c.ALLOW_UNAUTHENTICATED) {
    if (!c.TENCENT_CALLBACK_TOKEN) {
      problems.push(
        'NODE_ENV=production needs TENCENT_CALLBACK_TOKEN (the webhook authentication token of the Chat console): without it anyone who knows the SdkAppid, which ships in every client app, can post callbacks. Set it (see docs/reliability.md, Authentication), or set ALLOW_UNAUTHENTICATED=true if you mean it',
      );
    }
    if (c.TENCENT_SDKAPPIDS.length === 0) {
      problems.push(
        "NODE_ENV=production needs TENCENT_SDKAPPIDS (the app's SdkAppid): without it callbacks of any app are accepted. Set it, or set ALLOW_UNAUTHENTICATED=true if you mean it",
      );
    }
  }
  return problems;
}

/**
 * Whether callbacks are accepted without proof of who sent them: without a token, anyone who
 * knows the (public) SdkAppid can post.
 */
export function isUnauthenticated(c: Config): boolean {
  return !c.TENCENT_CALLBACK_TOKEN;
}

/** A configuration table in Markdown, generated from a spec (the README's tables). */
export function specTableMarkdown(spec: Record<string, VarSpec>): string {
  const rows = Object.entries(spec).map(([name, v]) => {
    const def = v.default === undefined || v.default === '' ? '(empty)' : `\`${v.default}\``;
    return `| \`${name}\` | ${def} | ${v.doc.replace(/\|/g, '\\|')} |`;
  });
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
