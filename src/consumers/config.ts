import { z } from 'zod';
import {
  bool,
  configSpec,
  connectionChecks,
  connectionSpec,
  int,
  loadSpec,
  optionalString,
  topicName,
  url,
  type ConfigOf,
  type VarSpec,
} from '../config';
import { DEFAULT_PRECISION } from './analytics/hll';
import { GROUP_MESSAGES_TOPIC } from './group';

/**
 * The consumers' configuration: the same typed-spec mechanism as the bridge's (one zod schema per
 * variable, defaults as environment strings, docs from which the README tables are generated).
 * Kafka and registry connection settings are the bridge's own variables, so one Secret serves all.
 */

/** What every consumer built on the runner reads, with the consumer's own defaults. */
export function runnerSpec(d: { group: string; adminPort: number }) {
  return {
    ...connectionSpec,
    KAFKA_TOPIC: {
      schema: topicName,
      default: 'c2c.after-send-msg',
      doc: "Topic of C2C messages consumed (the bridge's).",
    },
    KAFKA_CLIENT_ID: {
      schema: z.string().min(1),
      default: d.group,
      doc: 'Kafka client id.',
    },
    CONSUMER_GROUP_ID: {
      schema: z.string().min(1),
      default: d.group,
      doc: 'Consumer group; replicas with the same group share the partitions.',
    },
    CONSUMER_DLQ_TOPIC: {
      schema: topicName,
      default: `${d.group}.dlq`,
      doc: 'Where a record that cannot be decoded or processed goes (raw, with the reason in headers), instead of stopping the consumer.',
    },
    CONSUMER_FROM_BEGINNING: {
      schema: bool,
      default: 'true',
      doc: 'A new group (no committed offsets) starts at the oldest record; false: at the newest.',
    },
    CONSUMER_LAG_INTERVAL_MS: {
      schema: int(100, 600_000),
      default: '10000',
      doc: 'How often the lag (`tim_consumer_lag_records`: committed offsets against the end of each partition held) is asked of Kafka; also at every rebalance.',
    },
    DEDUPE_MAX_KEYS: {
      schema: int(0, 10_000_000),
      default: '100000',
      doc: 'How many recent message keys (`MsgKey`; group messages: `GroupId`, `TopicId`, `MsgSeq`) each input remembers to skip duplicates (the bridge delivers at least once); 0 turns it off.',
    },
    KAFKA_CREATE_TOPICS: {
      schema: bool,
      default: 'true',
      doc: 'Create the output and dead-letter topics at start-up if they do not exist.',
    },
    OUTPUT_TOPIC_PARTITIONS: {
      schema: int(1, 10000),
      default: '3',
      doc: 'Partitions of the output topics when the consumer creates them.',
    },
    OUTPUT_TOPIC_REPLICATION_FACTOR: {
      schema: int(-1, 32767),
      default: '-1',
      doc: "Replication factor of the output topics when the consumer creates them (-1: the broker's default).",
    },
    ADMIN_PORT: {
      schema: int(0, 65535),
      default: String(d.adminPort),
      doc: 'Port of the admin server (`/metrics`, `/healthz`, `/readyz`).',
    },
    ADMIN_HOST: configSpec.ADMIN_HOST,
    SHUTDOWN_GRACE_MS: {
      schema: int(0, 600_000),
      default: '15000',
      doc: 'On SIGTERM, the longest the consumer takes to finish its batch, commit and leave the group.',
    },
    LOG_LEVEL: configSpec.LOG_LEVEL,
  } satisfies Record<string, VarSpec>;
}

/**
 * The group-message input (`Group.CallbackAfterSendMsg`) of a consumer that also reads C2C
 * messages: its own topic and consumer group (so its own offsets), read beside `KAFKA_TOPIC`.
 */
export function groupInputSpec(d: { group: string }) {
  return {
    GROUP_KAFKA_TOPIC: {
      schema: optionalString.pipe(topicName.optional()),
      default: GROUP_MESSAGES_TOPIC,
      doc: "Topic of group messages consumed (the bridge's `Group.CallbackAfterSendMsg`, keyed by `GroupId`); empty: group messages are not read.",
    },
    GROUP_CONSUMER_GROUP_ID: {
      schema: z.string().min(1),
      default: d.group,
      doc: 'Consumer group of the group-message input (its own offsets; not `CONSUMER_GROUP_ID`).',
    },
  } satisfies Record<string, VarSpec>;
}

export const analyticsSpec = {
  ...runnerSpec({ group: 'c2c-analytics', adminPort: 9465 }),
  ...groupInputSpec({ group: 'group-analytics' }),
  ANALYTICS_TOPIC: {
    schema: topicName,
    default: 'c2c.analytics.minutely',
    doc: 'Where each closed window is published (Avro, keyed by window start).',
  },
  ANALYTICS_GROUP_TOPIC: {
    schema: topicName,
    default: 'group.analytics.minutely',
    doc: 'Where each closed window of group messages is published (Avro, keyed by window start).',
  },
  ANALYTICS_STATE_TOPIC: {
    schema: topicName,
    default: 'c2c-analytics.state',
    doc: "Compacted topic holding the open windows, written in the same transaction as the output and the offsets (one record key per input: its consumer group's id).",
  },
  ANALYTICS_TRANSACTIONAL_ID: {
    schema: z.string().min(1),
    default: 'c2c-analytics',
    doc: 'Kafka transactional id; a second instance with the same id fences the first (run one replica).',
  },
  ANALYTICS_GROUP_TRANSACTIONAL_ID: {
    schema: z.string().min(1),
    default: 'group-analytics',
    doc: 'Kafka transactional id of the group-message input (its own transactions, same fencing).',
  },
  ANALYTICS_WINDOW_SECONDS: {
    schema: int(1, 86400),
    default: '60',
    doc: 'Window length, by `MsgTime` (event time).',
  },
  ANALYTICS_ALLOWED_LATENESS_SECONDS: {
    schema: int(0, 86400),
    default: '120',
    doc: 'How far behind the newest `MsgTime` seen an event may be and still be counted in its window; later ones are counted as dropped.',
  },
  ANALYTICS_MAX_EVENT_AHEAD_SECONDS: {
    schema: int(0, 86400),
    default: '300',
    doc: 'How far ahead of its reception by the bridge (`ReceivedAt`) a `MsgTime` may be; beyond, the event is counted in `OutOfRangeEvents`, in no window, and never moves the watermark.',
  },
  ANALYTICS_MAX_EVENT_BEHIND_SECONDS: {
    schema: int(0, 31_536_000),
    default: '86400',
    doc: 'How far behind its reception by the bridge a `MsgTime` may be; beyond, the event is counted in `OutOfRangeEvents`.',
  },
  ANALYTICS_IDLE_CLOSE_SECONDS: {
    schema: int(0, 86400),
    default: '300',
    doc: 'When no record arrives for this long, every open window is closed and published (0: never).',
  },
  ANALYTICS_COMMIT_INTERVAL_MS: {
    schema: int(50, 60_000),
    default: '1000',
    doc: 'How often the consumed offsets, the closed windows and the state are committed (one transaction).',
  },
} satisfies Record<string, VarSpec>;

export const moderationSpec = {
  ...runnerSpec({ group: 'c2c-moderation', adminPort: 9466 }),
  ...groupInputSpec({ group: 'group-moderation' }),
  MODERATION_RULES_FILE: {
    schema: z.string().min(1),
    default: 'config/moderation-rules.example.yaml',
    doc: 'Rules file (YAML or JSON): word lists and regular expressions, each with an action (`flag` or `recall`).',
  },
  MODERATION_VERDICTS_TOPIC: {
    schema: topicName,
    default: 'c2c.moderation.verdicts',
    doc: 'Where each match is published (Avro, keyed by `From_Account`).',
  },
  MODERATION_GROUP_VERDICTS_TOPIC: {
    schema: topicName,
    default: 'group.moderation.verdicts',
    doc: 'Where each match in a group message is published (Avro, keyed by `GroupId`).',
  },
  MODERATION_RECALL_ENABLED: {
    schema: bool,
    default: 'false',
    doc: "Recall messages that match a `recall` rule through Tencent's REST API (`admin_msgwithdraw` for C2C messages, `group_msg_recall` for group messages).",
  },
  TENCENT_SDKAPPID: {
    schema: optionalString.pipe(z.string().regex(/^\d+$/, 'must be numeric').optional()),
    default: undefined,
    doc: "The app's SdkAppid, for the REST API (needed when recall is enabled).",
  },
  TENCENT_ADMIN_IDENTIFIER: {
    schema: z.string().min(1),
    default: 'administrator',
    doc: 'An app admin account; the REST API is called as it.',
  },
  TENCENT_SECRET_KEY: {
    schema: optionalString,
    default: undefined,
    doc: "The app's secret key from the Chat console, used to generate the admin UserSig (needed when recall is enabled).",
    secret: true,
  },
  TENCENT_API_URL: {
    schema: url,
    default: 'https://adminapisgp.im.qcloud.com',
    doc: "Tencent REST API base URL for the app's region (`console.tim.qq.com` China, `adminapisgp.im.qcloud.com` Singapore, `adminapiger.im.qcloud.com` Frankfurt, ...).",
  },
  RECALL_RATE_PER_SECOND: {
    schema: int(1, 199),
    default: '100',
    doc: "Most recall calls a second, C2C and group recalls together (Tencent allows 200 per API; keep headroom for the app's other admin calls).",
  },
  RECALL_MAX_ATTEMPTS: {
    schema: int(1, 20),
    default: '5',
    doc: 'Attempts per recall; error 91000 (and 10002, 10006 for group recalls), HTTP 5xx and network errors are retried with exponential backoff.',
  },
  RECALL_TIMEOUT_MS: {
    schema: int(100, 60_000),
    default: '3000',
    doc: 'Timeout of one REST call.',
  },
  USERSIG_TTL_SECONDS: {
    schema: int(60, 15_552_000),
    default: '86400',
    doc: 'Validity of the generated admin UserSig; it is renewed before it expires.',
  },
} satisfies Record<string, VarSpec>;

export type RunnerConfig = ConfigOf<ReturnType<typeof runnerSpec>>;
export type AnalyticsConfig = ConfigOf<typeof analyticsSpec>;
export type ModerationConfig = ConfigOf<typeof moderationSpec>;

export type GroupInputConfig = ConfigOf<ReturnType<typeof groupInputSpec>>;

/** Names that the group-message input must not share with the C2C one. */
function groupInputChecks(
  c: RunnerConfig & GroupInputConfig,
  distinct: [string, string, string, string][] = [],
): string[] {
  const problems: string[] = [];
  if (c.GROUP_KAFKA_TOPIC === undefined) return problems;
  const pairs: [string, string, string, string][] = [
    ['GROUP_KAFKA_TOPIC', c.GROUP_KAFKA_TOPIC, 'KAFKA_TOPIC', c.KAFKA_TOPIC],
    [
      'GROUP_CONSUMER_GROUP_ID',
      c.GROUP_CONSUMER_GROUP_ID,
      'CONSUMER_GROUP_ID',
      c.CONSUMER_GROUP_ID,
    ],
    ...distinct,
  ];
  for (const [a, va, b, vb] of pairs) {
    if (va === vb) problems.push(`${a} must differ from ${b} (both are ${va})`);
  }
  return problems;
}

/** Most bytes of distinct counters one analytics state snapshot may hold (see windowStateChecks). */
export const MAX_SKETCH_STATE_BYTES = 16 * 1024 * 1024;

/**
 * The open windows' distinct counters are in every state snapshot (committed every commit
 * interval): the window length and allowed lateness must keep them within MAX_SKETCH_STATE_BYTES.
 */
function windowStateChecks(c: AnalyticsConfig): string[] {
  const windows = Math.ceil(c.ANALYTICS_ALLOWED_LATENESS_SECONDS / c.ANALYTICS_WINDOW_SECONDS) + 2;
  // two counters a window, each at most 2^precision bytes (dense HyperLogLog registers)
  const bytes = windows * 2 * 2 ** DEFAULT_PRECISION;
  if (bytes <= MAX_SKETCH_STATE_BYTES) return [];
  const mib = (n: number) => `${Math.round(n / 1024 / 1024)} MiB`;
  return [
    `ANALYTICS_ALLOWED_LATENESS_SECONDS=${c.ANALYTICS_ALLOWED_LATENESS_SECONDS} with ANALYTICS_WINDOW_SECONDS=${c.ANALYTICS_WINDOW_SECONDS} keeps up to ${windows} windows open: up to ${mib(bytes)} of distinct counters in every state snapshot, more than ${mib(MAX_SKETCH_STATE_BYTES)}; lower the lateness or lengthen the windows`,
  ];
}

export function loadAnalyticsConfig(env: Record<string, string | undefined>): AnalyticsConfig {
  return loadSpec(analyticsSpec, env, (c) => [
    ...connectionChecks(c),
    ...windowStateChecks(c),
    ...groupInputChecks(c, [
      ['ANALYTICS_GROUP_TOPIC', c.ANALYTICS_GROUP_TOPIC, 'ANALYTICS_TOPIC', c.ANALYTICS_TOPIC],
      [
        'ANALYTICS_GROUP_TRANSACTIONAL_ID',
        c.ANALYTICS_GROUP_TRANSACTIONAL_ID,
        'ANALYTICS_TRANSACTIONAL_ID',
        c.ANALYTICS_TRANSACTIONAL_ID,
      ],
    ]),
  ]);
}

export function loadModerationConfig(env: Record<string, string | undefined>): ModerationConfig {
  return loadSpec(moderationSpec, env, (c) => {
    const problems = [
      ...connectionChecks(c),
      ...groupInputChecks(c, [
        [
          'MODERATION_GROUP_VERDICTS_TOPIC',
          c.MODERATION_GROUP_VERDICTS_TOPIC,
          'MODERATION_VERDICTS_TOPIC',
          c.MODERATION_VERDICTS_TOPIC,
        ],
      ]),
    ];
    if (c.MODERATION_RECALL_ENABLED && (!c.TENCENT_SDKAPPID || !c.TENCENT_SECRET_KEY)) {
      problems.push('MODERATION_RECALL_ENABLED=true needs TENCENT_SDKAPPID and TENCENT_SECRET_KEY');
    }
    return problems;
  });
}
