import type { ConsumedRecord } from '../../src/kafka/reader';
import { Registry } from '../../src/kafka/registry';
import { loadSchema } from '../../src/schemas';
import type { AfterSendMsgCallback } from '../../src/tencent/callback';
import { createRecordMapper } from '../../src/tencent/record';
import { buildSchemaModel } from '../../src/tencent/schema-model';
import { SCHEMA_REGISTRY_URL } from './stack';

const mapper = createRecordMapper(buildSchemaModel(loadSchema()));
const registries = new Map<string, Registry>();

/**
 * Decodes records through the registry (by the id in each) back to callbacks; schema ids are
 * per registry, so a test on another stack names its registry.
 */
export async function decodeCallbacks(
  records: ConsumedRecord[],
  registryUrl: string = SCHEMA_REGISTRY_URL,
): Promise<AfterSendMsgCallback[]> {
  let registry = registries.get(registryUrl);
  if (registry === undefined)
    registries.set(registryUrl, (registry = new Registry({ url: registryUrl })));
  const out: AfterSendMsgCallback[] = [];
  for (const r of records) {
    const { record } = await registry.decode(r.value as Buffer);
    out.push(mapper.fromRecord(record as Record<string, unknown>).callback);
  }
  return out;
}

/**
 * Delivery report of a topic against what got OK: missing MsgKeys, duplicates, and whether the
 * first occurrences of each To_Account's messages come in the order they were sent (MsgSeq).
 */
export function deliveryReport(
  callbacks: AfterSendMsgCallback[],
  acked: Iterable<string>,
): { missing: string[]; duplicates: number; outOfOrder: string[] } {
  const seen = new Set<string>();
  let duplicates = 0;
  const lastSeq = new Map<string, number>();
  const outOfOrder: string[] = [];
  for (const c of callbacks) {
    if (seen.has(c.MsgKey)) {
      duplicates++;
      continue;
    }
    seen.add(c.MsgKey);
    const last = lastSeq.get(c.To_Account) ?? -1;
    if (c.MsgSeq < last) outOfOrder.push(`${c.To_Account}: ${c.MsgSeq} after ${last}`);
    lastSeq.set(c.To_Account, c.MsgSeq);
  }
  const missing = [...acked].filter((k) => !seen.has(k));
  return { missing, duplicates, outOfOrder };
}
