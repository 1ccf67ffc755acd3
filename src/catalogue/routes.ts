import { CATALOGUE, defaultTopic, familyOf, type CommandEntry } from './catalogue';

/**
 * Where each command goes: `COMMAND_ROUTES` is a comma-separated list of `pattern=target`, where
 * pattern is a command word (`Group.CallbackAfterSendMsg`), a family (`Group.*`) or `*`, and
 * target is a topic name, `on` (the command's default topic) or `off` (answered as usual, counted,
 * not stored). The most specific pattern wins (command, then family, then `*`); without any rule a
 * command goes to its default topic. `C2C.CallbackAfterSendMsg`'s default topic is `KAFKA_TOPIC`.
 */
export interface RouteRule {
  pattern: string;
  target: string;
}

/** Topic names Kafka accepts (legal characters, at most 249). */
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const PATTERN = /^(\*|[A-Za-z0-9]+\.\*|[A-Za-z0-9]+\.[A-Za-z0-9_]+)$/;

/** Parses COMMAND_ROUTES; throws an Error whose message names the bad rule. */
export function parseRoutes(spec: string): RouteRule[] {
  const rules: RouteRule[] = [];
  const seen = new Set<string>();
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`"${item}" is not pattern=target (e.g. State.*=off)`);
    const pattern = item.slice(0, eq).trim();
    const target = item.slice(eq + 1).trim();
    if (!PATTERN.test(pattern)) {
      throw new Error(
        `"${pattern}" is not a command (Group.CallbackAfterSendMsg), a family (Group.*) or *`,
      );
    }
    if (target !== 'on' && target !== 'off' && !TOPIC.test(target)) {
      throw new Error(
        `"${target}" (for ${pattern}) is neither on, off nor a topic name (letters, digits, . _ -)`,
      );
    }
    if (seen.has(pattern)) throw new Error(`${pattern} has two rules`);
    seen.add(pattern);
    rules.push({ pattern, target });
  }
  return rules;
}

export interface ResolvedRoute {
  entry: CommandEntry;
  /** null: off (answered, counted, not stored). */
  topic: string | null;
}

export interface RoutingOptions {
  rules: readonly RouteRule[];
  /** `KAFKA_TOPIC`: the default topic of `C2C.CallbackAfterSendMsg`. */
  c2cTopic: string;
  catalogue?: readonly CommandEntry[];
}

export function defaultTopicOf(entry: CommandEntry, c2cTopic: string): string {
  return entry.command === 'C2C.CallbackAfterSendMsg' ? c2cTopic : defaultTopic(entry.command);
}

/** Every catalogued command with its topic (or off), by the rules. */
export function resolveRoutes(opts: RoutingOptions): Map<string, ResolvedRoute> {
  const byPattern = new Map(opts.rules.map((r) => [r.pattern, r.target]));
  const out = new Map<string, ResolvedRoute>();
  for (const entry of opts.catalogue ?? CATALOGUE) {
    const target =
      byPattern.get(entry.command) ??
      byPattern.get(`${familyOf(entry.command)}.*`) ??
      byPattern.get('*') ??
      'on';
    const topic =
      target === 'off' ? null : target === 'on' ? defaultTopicOf(entry, opts.c2cTopic) : target;
    out.set(entry.command, { entry, topic });
  }
  return out;
}

/** Rules naming a command the catalogue does not know: probably a typo (warned at start). */
export function unknownPatterns(rules: readonly RouteRule[], catalogue = CATALOGUE): string[] {
  const commands = new Set(catalogue.map((e) => e.command));
  const families = new Set(catalogue.map((e) => familyOf(e.command)));
  return rules
    .map((r) => r.pattern)
    .filter((p) =>
      p === '*' ? false : p.endsWith('.*') ? !families.has(p.slice(0, -2)) : !commands.has(p),
    );
}

/**
 * Every topic the bridge writes callbacks to under these rules (routed commands, then the topic of
 * unknown commands unless off), without repeats: what it creates at start, and what the topics Job
 * and compose create (topics.conf, kept equal by test/deploy/kubernetes.test.ts).
 */
export function routedTopics(opts: RoutingOptions & { otherTopic: string | null }): string[] {
  const topics = [...resolveRoutes(opts).values()].map((r) => r.topic);
  return [...new Set([...topics, opts.otherTopic].filter((t): t is string => t !== null))];
}

/** The routing settings of the bridge's configuration (`KAFKA_OTHER_CALLBACKS_TOPIC=off`: null). */
export function routingOptionsOf(config: {
  COMMAND_ROUTES: string;
  KAFKA_TOPIC: string;
  KAFKA_OTHER_CALLBACKS_TOPIC: string;
}): RoutingOptions & { otherTopic: string | null } {
  const other = config.KAFKA_OTHER_CALLBACKS_TOPIC;
  return {
    rules: parseRoutes(config.COMMAND_ROUTES),
    c2cTopic: config.KAFKA_TOPIC,
    otherTopic: other === 'off' ? null : other,
  };
}
