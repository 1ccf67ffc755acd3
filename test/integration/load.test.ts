import { readTopic } from '../../src/kafka/reader';
import { Registry } from '../../src/kafka/registry';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';
import { SCHEMA_REGISTRY_URL } from '../support/stack';

const CLIENTS = 50;
const PER_CLIENT = 40; // 2,000 callbacks
const ACCOUNTS_PER_CLIENT = 2;

let bridge: TestBridge;
beforeAll(async () => {
  bridge = await startTestBridge('load');
});
afterAll(async () => {
  await bridge?.dispose();
});

test('2,000 callbacks from 50 concurrent clients all land, in order per To_Account', async () => {
  const base = loadFixtures().find((f) => f.name === 'text.json')!.json;
  // each client owns its recipients and sends to them one request after the other, so the order
  // of its requests is the order their records must have
  const client = async (c: number): Promise<number> => {
    let ok = 0;
    for (let i = 0; i < PER_CLIENT; i++) {
      const to = `user-${c}-${i % ACCOUNTS_PER_CLIENT}`;
      const body = { ...base, To_Account: to, MsgSeq: i, MsgKey: `${c}_${i}`, MsgRandom: c };
      const res = await postCallback(bridge.callbackUrl, JSON.stringify(body));
      if (res.status === 200 && (await res.text()) === OK_REPLY) ok++;
    }
    return ok;
  };
  const oks = await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  expect(oks.reduce((a, b) => a + b, 0)).toBe(CLIENTS * PER_CLIENT);

  const records = await readTopic(bridge.kafka, bridge.topic, { atLeast: CLIENTS * PER_CLIENT });
  expect(records).toHaveLength(CLIENTS * PER_CLIENT);
  const registry = new Registry({ url: SCHEMA_REGISTRY_URL });
  const seqByAccount = new Map<string, { partition: number; seqs: number[] }>();
  for (const r of records) {
    const { record } = await registry.decode(r.value as Buffer);
    const { To_Account: to, MsgSeq: seq } = record as { To_Account: string; MsgSeq: number };
    expect(r.key?.toString('utf8')).toBe(to);
    const entry = seqByAccount.get(to) ?? { partition: r.partition, seqs: [] };
    expect(r.partition).toBe(entry.partition); // one key, one partition
    entry.seqs.push(seq); // records come in offset order within a partition
    seqByAccount.set(to, entry);
  }
  for (const [to, { seqs }] of seqByAccount) {
    const k = Number(to.split('-')[2]);
    const sent = Array.from({ length: PER_CLIENT }, (_, i) => i).filter(
      (i) => i % ACCOUNTS_PER_CLIENT === k,
    );
    expect(seqs).toEqual(sent);
  }
  expect(seqByAccount.size).toBe(CLIENTS * ACCOUNTS_PER_CLIENT);
});
