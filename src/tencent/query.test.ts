import { BridgeError } from '../errors';
import { parseCallbackQuery } from './query';

const base = {
  SdkAppid: '1400000001',
  CallbackCommand: 'C2C.CallbackAfterSendMsg',
  contenttype: 'json',
  ClientIP: '203.0.113.7',
  OptPlatform: 'iOS',
};

describe("Tencent's query string", () => {
  test('is read by name, whatever the order, with the signature fields when present', () => {
    const { SdkAppid, ...rest } = base;
    const q = parseCallbackQuery({ RequestTime: '1669872112', ...rest, Sign: 'ab', SdkAppid });
    expect(q).toEqual({ ...base, RequestTime: '1669872112', Sign: 'ab' });
    expect(
      parseCallbackQuery({ SdkAppId: '1', CallbackCommand: base.CallbackCommand }).SdkAppid,
    ).toBe('1');
  });

  test.each([
    [{ ...base, SdkAppid: undefined }, 400, 'invalid', 'query parameter SdkAppid is required'],
    [{ ...base, SdkAppid: 'abc' }, 400, 'invalid', 'query parameter SdkAppid must be a number'],
    [
      { ...base, SdkAppid: ['1', '2'] },
      400,
      'invalid',
      'query parameter SdkAppid must appear once',
    ],
    [
      { ...base, CallbackCommand: undefined },
      400,
      'invalid',
      'query parameter CallbackCommand is required',
    ],
    [
      { ...base, CallbackCommand: '' },
      400,
      'invalid',
      'query parameter CallbackCommand "" is not a command word like C2C.CallbackAfterSendMsg',
    ],
    [
      { ...base, CallbackCommand: 'C2C.Callback%00' },
      400,
      'invalid',
      'query parameter CallbackCommand "C2C.Callback%00" is not a command word like C2C.CallbackAfterSendMsg',
    ],
    [{ ...base, contenttype: 'xml' }, 400, 'invalid', 'query parameter contenttype must be json'],
    [
      { ...base, ClientIP: 'x'.repeat(300) },
      400,
      'invalid',
      'query parameter ClientIP is longer than 256 characters',
    ],
  ])('refuses %j', (query, status, reason, message) => {
    expect(() => parseCallbackQuery(query)).toThrow(message);
    try {
      parseCallbackQuery(query);
    } catch (err) {
      expect(err).toBeInstanceOf(BridgeError);
      expect((err as BridgeError).status).toBe(status);
      expect((err as BridgeError).reason).toBe(reason);
    }
  });
});
