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

/** A callback answered OK, with when it was sent and when its OK came (performance.now()). */
export interface AckedSend {
  key: string;
  sentAt: number;
  repliedAt: number;
}

/** Sends one request, timing it for deliveryReport's order check. */
export async function timed<T>(
  key: string,
  send: () => Promise<T>,
): Promise<{ key: string; sentAt: number; repliedAt: number; reply: T }> {
  const sentAt = performance.now();
  const reply = await send();
  return { key, sentAt, repliedAt: performance.now(), reply };
}

/**
 * Delivery report of a topic against what got OK: missing MsgKeys, duplicates, and whether the
 * first occurrences of each To_Account's messages keep the order the bridge promises (the order
 * it accepted them in).
 *
 * How that order is known depends on the sender. Given plain MsgKeys, the sender sent each
 * To_Account's messages one after another (each after the previous one's OK) in MsgSeq order.
 * Given timed sends (AckedSend), concurrent requests have no order between them; what is
 * ordered is a callback answered OK before another was sent: it must come first.
 */
export function deliveryReport(
  callbacks: AfterSendMsgCallback[],
  acked: Iterable<string> | AckedSend[],
): { missing: string[]; duplicates: number; outOfOrder: string[] } {
  const sends = new Map<string, AckedSend>();
  const keys: string[] = [];
  for (const a of acked) {
    if (typeof a === 'string') keys.push(a);
    else {
      keys.push(a.key);
      sends.set(a.key, a);
    }
  }
  const seen = new Set<string>();
  let duplicates = 0;
  const lastSeq = new Map<string, number>();
  // per To_Account, the latest-sent callback so far in the topic
  const latestSent = new Map<string, AckedSend>();
  const outOfOrder: string[] = [];
  for (const c of callbacks) {
    if (seen.has(c.MsgKey)) {
      duplicates++;
      continue;
    }
    seen.add(c.MsgKey);
    const send = sends.get(c.MsgKey);
    if (send === undefined) {
      const last = lastSeq.get(c.To_Account) ?? -1;
      if (c.MsgSeq < last) outOfOrder.push(`${c.To_Account}: ${c.MsgSeq} after ${last}`);
      lastSeq.set(c.To_Account, c.MsgSeq);
      continue;
    }
    const before = latestSent.get(c.To_Account);
    if (before !== undefined && send.repliedAt < before.sentAt) {
      outOfOrder.push(
        `${c.To_Account}: ${send.key} (OK at ${send.repliedAt.toFixed(1)} ms) after ${before.key} (sent at ${before.sentAt.toFixed(1)} ms)`,
      );
    }
    if (before === undefined || send.sentAt > before.sentAt) latestSent.set(c.To_Account, send);
  }
  const missing = keys.filter((k) => !seen.has(k));
  return { missing, duplicates, outOfOrder };
}
