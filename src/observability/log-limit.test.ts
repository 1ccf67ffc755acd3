import { boundedLogValue, createLogLimiter } from './log-limit';

test('at most perWindow lines per key and window; the next window reports what was left out', () => {
  let t = 0;
  const limiter = createLogLimiter({ perWindow: 2, windowMs: 1000, now: () => t });
  const taken = () => [limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')];
  expect(taken().map((r) => r.log)).toEqual([true, true, false, false]);
  // another key has its own budget
  expect(limiter.take('b')).toEqual({ log: true, suppressed: 0 });
  t = 999;
  expect(limiter.take('a')).toEqual({ log: false, suppressed: 0 });
  t = 1000;
  expect(limiter.take('a')).toEqual({ log: true, suppressed: 3 });
  expect(limiter.take('a')).toEqual({ log: true, suppressed: 0 });
  t = 5000;
  expect(limiter.take('a')).toEqual({ log: true, suppressed: 0 });
});

test('request values are cut and made printable', () => {
  expect(boundedLogValue('req-123')).toBe('req-123');
  expect(boundedLogValue('x'.repeat(8192))).toHaveLength(65);
  expect(boundedLogValue('a\nb\u0000c\u00e9')).toBe('a?b?c?');
});
