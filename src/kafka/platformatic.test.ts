import { asKafkaError, refusalOf } from './platformatic';

/** Failed requests shaped as @platformatic/kafka throws them (a ResponseError holding protocol errors). */
describe('the refusal a failed request carries', () => {
  const tooLarge = Object.assign(new Error('Message too large'), { apiId: 'MESSAGE_TOO_LARGE' });
  const response = Object.assign(new AggregateError([tooLarge], 'Received response with error'), {
    errors: [tooLarge],
  });

  test('is found inside the aggregate and its causes', () => {
    expect(refusalOf(response)).toBe('MESSAGE_TOO_LARGE');
    expect(refusalOf(new Error('outer', { cause: response }))).toBe('MESSAGE_TOO_LARGE');
    expect(refusalOf(new Error('a network error'))).toBeUndefined();
  });

  test("becomes the error's type, as KafkaJS's errors carry it", () => {
    const err = asKafkaError(response);
    expect(err.type).toBe('MESSAGE_TOO_LARGE');
    expect(err.message).toBe('MESSAGE_TOO_LARGE: Received response with error');
    expect(err.cause).toBe(response);
    expect(asKafkaError(new Error('socket closed')).type).toBeUndefined();
  });
});
