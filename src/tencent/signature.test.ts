import { SignatureError, sign, verifySignature } from './signature';

const policy = { tokens: ['xxxxyyyy'], windowSeconds: 60 };
const at = (seconds: number) => seconds * 1000;

/** A builder of signed query fields, as Tencent sends them. */
const signed = (token: string, requestTime: number) => ({
  sign: sign(token, requestTime),
  requestTime: String(requestTime),
});

describe('webhook signature', () => {
  test("Tencent's known answer", () => {
    expect(sign('xxxxyyyy', 1669872112)).toBe(
      '17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061',
    );
    expect(() =>
      verifySignature(
        {
          sign: '17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061',
          requestTime: '1669872112',
        },
        policy,
        at(1669872112),
      ),
    ).not.toThrow();
  });

  test('accepts the edges of the window and either token during a rotation', () => {
    expect(() => verifySignature(signed('xxxxyyyy', 1000), policy, at(1060))).not.toThrow();
    expect(() => verifySignature(signed('xxxxyyyy', 1060), policy, at(1000))).not.toThrow();
    const rotating = { tokens: ['new-token', 'xxxxyyyy'], windowSeconds: 60 };
    expect(() => verifySignature(signed('xxxxyyyy', 1000), rotating, at(1000))).not.toThrow();
    expect(() => verifySignature(signed('new-token', 1000), rotating, at(1000))).not.toThrow();
  });

  // one mutation per negative case
  const good = signed('xxxxyyyy', 1000);
  test.each([
    ['no Sign', { ...good, sign: undefined }, 'Sign is missing'],
    ['no RequestTime', { ...good, requestTime: undefined }, 'RequestTime is missing'],
    [
      'RequestTime in milliseconds with a dot',
      { ...good, requestTime: '1000.5' },
      'RequestTime must be Unix seconds',
    ],
    [
      'an uppercase Sign',
      { ...good, sign: good.sign.toUpperCase() },
      'Sign must be 64 lowercase hex characters',
    ],
    [
      'a short Sign',
      { ...good, sign: good.sign.slice(1) },
      'Sign must be 64 lowercase hex characters',
    ],
    [
      'a stale RequestTime',
      signed('xxxxyyyy', 939),
      'RequestTime is outside the accepted window of ±60 s',
    ],
    [
      'a RequestTime from the future',
      signed('xxxxyyyy', 1061),
      'RequestTime is outside the accepted window of ±60 s',
    ],
    ['another token', signed('xxxyyy', 1000), 'Sign does not match'],
    ['a Sign for another RequestTime', { ...good, requestTime: '1001' }, 'Sign does not match'],
    [
      'a separator between token and time',
      { ...good, sign: sign('xxxxyyyy+', 1000) },
      'Sign does not match',
    ],
  ])('refuses %s', (_name, input, message) => {
    expect(() => verifySignature(input, policy, at(1000))).toThrow(new SignatureError(message));
  });
});

describe('the digest memo', () => {
  const memoised = { ...policy, digests: new Map<string, readonly Buffer[]>() };

  test('gives the same answers as no memo, for the same second signed twice', () => {
    const good = signed('xxxxyyyy', 1000);
    expect(() => verifySignature(good, memoised, at(1000))).not.toThrow();
    expect(() => verifySignature(good, memoised, at(1000))).not.toThrow();
    expect(() =>
      verifySignature({ ...good, sign: sign('xxxyyy', 1000) }, memoised, at(1000)),
    ).toThrow(new SignatureError('Sign does not match'));
  });

  test('keeps only the last few seconds', () => {
    for (let t = 1000; t < 1050; t++) verifySignature(signed('xxxxyyyy', t), memoised, at(1000));
    expect(memoised.digests.size).toBeLessThanOrEqual(8);
    expect(memoised.digests.has('1049')).toBe(true);
  });
});
