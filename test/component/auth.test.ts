import { endOffsets } from '../../src/kafka/admin';
import { readTopic } from '../../src/kafka/reader';
import { sign } from '../../src/tencent/signature';
import { OK_REPLY } from '../../src/tencent/reply';
import { postCallback, startTestBridge, type TestBridge } from '../support/bridge';
import { loadFixtures } from '../support/fixtures';

/** Only signed callbacks of our own SdkAppid get in; strangers get 401/403 and leave no trace. */
const TOKEN = 'current-token';
const PREVIOUS = 'previous-token';
const APP = '1400000001';
const body = loadFixtures().find((f) => f.name === 'text.json')!.text;
const now = () => Math.floor(Date.now() / 1000);
const signed = (token: string, requestTime = now()) => ({
  RequestTime: String(requestTime),
  Sign: sign(token, requestTime),
});

let bridge: TestBridge;
beforeAll(async () => {
  bridge = await startTestBridge('auth', {
    TENCENT_SDKAPPIDS: `${APP},1400000002`,
    TENCENT_CALLBACK_TOKEN: TOKEN,
    TENCENT_CALLBACK_TOKEN_PREVIOUS: PREVIOUS,
    SIGNATURE_WINDOW_SECONDS: '60',
  });
});
afterAll(async () => {
  await bridge?.dispose();
});

// queries are built when each case runs: a RequestTime taken when the file loads would age
const refusals: [string, () => Record<string, string | undefined>, number, string][] = [
  ['unsigned', () => ({}), 401, 'unauthenticated: Sign is missing'],
  [
    'signed without RequestTime',
    () => ({ Sign: signed(TOKEN).Sign }),
    401,
    'unauthenticated: RequestTime is missing',
  ],
  ['wrongly signed', () => signed('not-the-token'), 401, 'unauthenticated: Sign does not match'],
  [
    'stale (replayed 90 s later)',
    () => signed(TOKEN, now() - 90),
    401,
    'unauthenticated: RequestTime is outside the accepted window of ±60 s',
  ],
  [
    'from the future',
    () => signed(TOKEN, now() + 90),
    401,
    'unauthenticated: RequestTime is outside the accepted window of ±60 s',
  ],
  [
    'a malformed Sign',
    () => ({ ...signed(TOKEN), Sign: 'zz' }),
    401,
    'unauthenticated: Sign must be 64 lowercase hex characters',
  ],
  [
    'from a foreign app',
    () => ({ ...signed(TOKEN), SdkAppid: '1400009999' }),
    403,
    'this SdkAppid is not accepted here',
  ],
  ['naming no app', () => ({ ...signed(TOKEN), SdkAppid: undefined }), 403, 'SdkAppid is missing'],
];

test.each(refusals)('%s is refused', async (_name, query, status, info) => {
  const res = await postCallback(bridge.callbackUrl, body, { query: query() });
  expect(res.status).toBe(status);
  expect(await res.json()).toEqual({ ActionStatus: 'FAIL', ErrorInfo: info, ErrorCode: 1 });
});

test('a foreign app is refused even with a valid signature and an invalid body (nothing read)', async () => {
  const res = await postCallback(bridge.callbackUrl, 'not json at all', {
    query: { ...signed(TOKEN), SdkAppid: '1400009999' },
  });
  expect(res.status).toBe(403);
});

test('signed callbacks of our apps get in, with the current or the previous token', async () => {
  for (const query of [
    signed(TOKEN),
    signed(PREVIOUS),
    { ...signed(TOKEN), SdkAppid: '1400000002' },
  ]) {
    const res = await postCallback(bridge.callbackUrl, body, {
      query: { SdkAppid: APP, ...query },
    });
    expect(await res.text()).toBe(OK_REPLY);
  }
});

test('nothing refused appears in any topic, and refusals are counted by reason', async () => {
  // the three accepted callbacks above are the only records
  const records = await readTopic(bridge.kafka, bridge.topic, { atLeast: 3 });
  expect(records).toHaveLength(3);
  const dlq = await endOffsets(bridge.kafka, bridge.dlqTopic);
  expect([...dlq.values()].every((end) => end === 0n)).toBe(true);
  const metrics = await (await fetch(`${bridge.adminUrl}/metrics`)).text();
  expect(metrics).toMatch(/tim_bridge_callbacks_refused_total\{reason="unauthenticated"\} 6/);
  expect(metrics).toMatch(/tim_bridge_callbacks_refused_total\{reason="foreign_app"\} 3/);
  expect(metrics).toMatch(/tim_bridge_unauthenticated_mode 0/);
});
