import { PendingWork } from './pending';

test('settled waits for tracked work, including work tracked meanwhile, and reports a timeout', async () => {
  const pending = new PendingWork();
  let finish!: () => void;
  const first = pending.track(new Promise<void>((r) => (finish = r)));
  expect(pending.size).toBe(1);
  const waiting = pending.settled(5000);
  let rejectLater!: (e: Error) => void;
  const second = pending.track(new Promise<void>((_, j) => (rejectLater = j)));
  second.catch(() => undefined);
  finish();
  await first;
  rejectLater(new Error('refused')); // a failure settles too
  expect(await waiting).toBe(true);
  expect(pending.size).toBe(0);

  pending.track(new Promise<void>(() => undefined)); // never settles
  expect(await pending.settled(20)).toBe(false);
  expect(pending.size).toBe(1);
});
