import { ConfigResourceTypes, type Kafka } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  /** -1: the broker's default.replication.factor */
  replicationFactor: number;
  configEntries?: { name: string; value: string }[];
}

/** Creates the topic if it is absent; returns whether it created it and its partition count. */
export async function ensureTopic(
  kafka: Kafka,
  spec: TopicSpec,
): Promise<{ created: boolean; partitions: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    // asking first keeps KafkaJS from logging an error for a topic that exists (the usual case)
    const exists = (await admin.listTopics()).includes(spec.topic);
    const created =
      !exists &&
      (await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {
            topic: spec.topic,
            numPartitions: spec.numPartitions,
            replicationFactor: spec.replicationFactor,
            ...(spec.configEntries ? { configEntries: spec.configEntries } : {}),
          },
        ],
      }));
    // metadata, not offsets: a partition just created may not have its leader known yet
    const { topics } = await admin.fetchTopicMetadata({ topics: [spec.topic] });
    return { created, partitions: topics[0]?.partitions.length ?? 0 };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Creates those of the topics that are absent, in one request (the catalogue's topics are many);
 * returns, per topic, whether it created it and its partition count.
 */
export async function ensureTopics(
  kafka: Kafka,
  specs: TopicSpec[],
): Promise<Map<string, { created: boolean; partitions: number }>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((spec) => ({
          topic: spec.topic,
          numPartitions: spec.numPartitions,
          replicationFactor: spec.replicationFactor,
          ...(spec.configEntries ? { configEntries: spec.configEntries } : {}),
        })),
      });
    }
    const created = new Set(missing.map((s) => s.topic));
    const { topics } = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.topic) });
    return new Map(
      topics.map((t) => [
        t.name,
        { created: created.has(t.name), partitions: t.partitions.length },
      ]),
    );
  } finally {
    await admin.disconnect();
  }
}

/** Per-partition end offsets (the offset the next record will get). */
export async function endOffsets(kafka: Kafka, topic: string): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Deletes those of `topics` that exist. */
export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const doomed = topics.filter((t) => existing.has(t));
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed, timeout: 10000 });
  } finally {
    await admin.disconnect();
  }
}

/** A consumer group's committed offsets (next offset to read) per partition of `topic`. */
export async function committedOffsets(
  kafka: Kafka,
  groupId: string,
  topic: string,
): Promise<Map<number, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map(
      (t?.partitions ?? [])
        .filter((p) => p.offset !== '-1')
        .map((p) => [p.partition, BigInt(p.offset)]),
    );
  } finally {
    await admin.disconnect();
  }
}

/** Sets topic configs (e.g. `max.message.bytes`); the others keep their values. */
export async function alterTopicConfig(
  kafka: Kafka,
  topic: string,
  configs: Record<string, string>,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topic,
          configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
        },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

/** A topic's partition count and the values of the named configs. */
export async function describeTopic(
  kafka: Kafka,
  topic: string,
  configNames: string[],
): Promise<{ partitions: number; configs: Record<string, string | null> }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames }],
    });
    const entries = resources[0]?.configEntries ?? [];
    return {
      partitions: topics[0]?.partitions.length ?? 0,
      configs: Object.fromEntries(entries.map((e) => [e.configName, e.configValue])),
    };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Which of `topics` cannot be used yet, and why: absent, or a partition without a leader (a
 * topic just created). Empty when all can be read and written.
 */
export async function topicsNotReady(kafka: Kafka, topics: string[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    const present = topics.filter((t) => existing.has(t));
    const problems = missing.map((t) => `topic ${t} does not exist yet`);
    if (present.length > 0) {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics: present });
      for (const t of meta) {
        const leaderless = t.partitions.filter((p) => p.leader < 0).length;
        if (t.partitions.length === 0 || leaderless > 0) {
          problems.push(`topic ${t.name} has ${leaderless} partitions without a leader yet`);
        }
      }
    }
    return problems;
  } finally {
    await admin.disconnect();
  }
}
