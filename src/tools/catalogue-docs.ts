import { loadConfig } from '../config';
import { CATALOGUE, GENERIC_SCHEMA_FILE, type CommandEntry } from '../catalogue/catalogue';
import { defaultTopicOf, routedTopics, routingOptionsOf } from '../catalogue/routes';

/**
 * What is generated from the command catalogue (`npm run config:docs` writes both):
 * the catalogue table of docs/catalogue.md, and the bridge's lines of k8s/base/topics/topics.conf
 * (the topics the Kubernetes Job and compose create), for the default configuration.
 */

const SOURCE = (page: string): string =>
  page.includes('.') ? `https://${page}` : `https://cloud.tencent.com/document/product/${page}`;

function keyCell(entry: CommandEntry): string {
  const paths = entry.key.map((p) => `\`${p}\``).join(' or ');
  const key = paths === '' ? '`SdkAppid` (no entity)' : `${paths}, else \`SdkAppid\``;
  return entry.batch ? `${key}, of each element of \`${entry.batch}\`` : key;
}

/** The catalogue as a Markdown table: command, kind, default topic, key, schema, what it is. */
export function catalogueTable(c2cTopic: string): string {
  const rows = CATALOGUE.map((e) => [
    `[\`${e.command}\`](${SOURCE(e.page)})`,
    e.kind,
    `\`${defaultTopicOf(e, c2cTopic)}\``,
    keyCell(e),
    e.schema
      ? `[\`${e.schema}\`](../schemas/${e.schema})`
      : `generic ([\`${GENERIC_SCHEMA_FILE}\`](../schemas/${GENERIC_SCHEMA_FILE}))`,
    e.summary,
  ]);
  const head = ['Command', 'Kind', 'Default topic', 'Key', 'Schema', 'What'];
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** The bridge's topics.conf lines: every routed topic and the dead letters, as the code would create them. */
export function topicsConfLines(env: NodeJS.ProcessEnv = {}): string {
  const config = loadConfig({ ...env });
  const topics = routedTopics(routingOptionsOf(config));
  const rows = [
    ...topics.map((t) => [t, 'retention.ms=604800000 cleanup.policy=delete']),
    [config.KAFKA_DLQ_TOPIC, 'retention.ms=2592000000 cleanup.policy=delete'],
  ];
  const width = Math.max(...rows.map(([t]) => (t ?? '').length)) + 2;
  return rows
    .map(
      ([t, c]) =>
        `${(t ?? '').padEnd(width)}${String(config.KAFKA_TOPIC_PARTITIONS).padEnd(12)}${c}`,
    )
    .join('\n');
}

if (require.main === module) {
  const what = process.argv[2];
  if (what === 'table') process.stdout.write(`${catalogueTable(loadConfig({}).KAFKA_TOPIC)}\n`);
  else if (what === 'topics') process.stdout.write(`${topicsConfLines()}\n`);
  else throw new Error('usage: catalogue-docs table|topics');
}
