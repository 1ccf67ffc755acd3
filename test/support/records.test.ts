import type { AfterSendMsgCallback } from '../../src/tencent/callback';
import { deliveryReport } from './records';

/** The delivery report is what the outage and spool tests trust: its order check must bite. */
const cb = (key: string, to: string, seq: number) =>
  ({ MsgKey: key, To_Account: to, MsgSeq: seq }) as AfterSendMsgCallback;

test('plain MsgKeys: each To_Account in MsgSeq order; missing and duplicates counted', () => {
  const report = deliveryReport(
    [cb('a1', 'a', 1), cb('b1', 'b', 1), cb('a0', 'a', 0), cb('a1', 'a', 1)],
    ['a0', 'a1', 'b1', 'c0'],
  );
  expect(report).toEqual({ missing: ['c0'], duplicates: 1, outOfOrder: ['a: 0 after 1'] });
});

test('timed sends: concurrent ones in any order, but one OK before another was sent comes first', () => {
  // x and y were in flight together; z was sent after both were OK
  const sends = [
    { key: 'x', sentAt: 0, repliedAt: 10 },
    { key: 'y', sentAt: 1, repliedAt: 10 },
    { key: 'z', sentAt: 11, repliedAt: 20 },
  ];
  const ok = deliveryReport([cb('y', 'a', 9), cb('x', 'a', 5), cb('z', 'a', 0)], sends);
  expect(ok).toEqual({ missing: [], duplicates: 0, outOfOrder: [] });
  const bad = deliveryReport([cb('x', 'a', 0), cb('z', 'a', 0), cb('y', 'a', 0)], sends);
  expect(bad.outOfOrder).toEqual(['a: y (OK at 10.0 ms) after z (sent at 11.0 ms)']);
  // other recipients do not order each other
  const apart = deliveryReport([cb('z', 'b', 0), cb('x', 'a', 0), cb('y', 'a', 0)], sends);
  expect(apart.outOfOrder).toEqual([]);
});
