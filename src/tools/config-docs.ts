import { configSpec, specTableMarkdown, type VarSpec } from '../config';
import { analyticsSpec, moderationSpec } from '../consumers/config';

/**
 * The configuration tables in docs/ (the bridge's in configuration.md, the consumers' in
 * consumers.md), generated from the config schemas: the bridge's, then each consumer's own
 * variables (the Kafka and registry ones are the bridge's, listed once).
 */
export const CONFIG_TABLES: Record<string, Record<string, VarSpec>> = {
  bridge: configSpec,
  analytics: ownVariables(analyticsSpec),
  moderation: ownVariables(moderationSpec),
};

/** A consumer's variables that the bridge's table does not already document the same way. */
function ownVariables(spec: Record<string, VarSpec>): Record<string, VarSpec> {
  const bridge: Record<string, VarSpec> = configSpec;
  return Object.fromEntries(Object.entries(spec).filter(([name, v]) => bridge[name] !== v));
}

if (require.main === module) {
  const which = process.argv[2] ?? 'bridge';
  const spec = CONFIG_TABLES[which];
  if (!spec) throw new Error(`no config table ${which}`);
  process.stdout.write(`${specTableMarkdown(spec)}\n`);
}
