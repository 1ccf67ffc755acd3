import { OK_REPLY, failReply } from './reply';

test("the OK reply is exactly Tencent's", () => {
  expect(JSON.parse(OK_REPLY)).toEqual({ ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0 });
  expect(OK_REPLY).toBe('{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}');
});

test('a FAIL reply names the problem with ErrorCode 1', () => {
  expect(JSON.parse(failReply('To_Account is required'))).toEqual({
    ActionStatus: 'FAIL',
    ErrorInfo: 'To_Account is required',
    ErrorCode: 1,
  });
  expect(JSON.parse(failReply('quote " and \\ survive'))).toMatchObject({
    ErrorInfo: 'quote " and \\ survive',
  });
});
