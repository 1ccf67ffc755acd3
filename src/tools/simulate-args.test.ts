import { CATALOGUE } from '../catalogue/catalogue';
import {
  OPTION_NAMES,
  USAGE,
  UsageError,
  parsePlatforms,
  parseSimulateArgs,
  type SimulateOptions,
} from './simulate-args';

const options = (argv: string[], env: Record<string, string> = {}): SimulateOptions => {
  const parsed = parseSimulateArgs(argv, env);
  if (parsed.help) throw new Error('help');
  return parsed.options;
};

const usageError = (argv: string[]): string => {
  try {
    parseSimulateArgs(argv, {});
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
};

test('without options: the local bridge, the C2C mix at 100/s for 10 s, unsigned', () => {
  expect(options([])).toEqual({
    url: 'http://127.0.0.1:8080/callback',
    token: undefined,
    sdkAppId: '1400000001',
    commands: ['C2C.CallbackAfterSendMsg'],
    rate: 100,
    concurrency: 16,
    durationSeconds: 10,
    count: undefined,
    duplicates: 0,
    platforms: [
      { platform: 'iOS', weight: 40 },
      { platform: 'Android', weight: 40 },
      { platform: 'Web', weight: 15 },
      { platform: 'RESTAPI', weight: 5 },
    ],
    recipients: 5000,
    seed: 7,
    timeoutMs: 2000,
    dryRun: false,
    json: false,
    quiet: false,
  });
});

test("the token and SdkAppid default to the bridge's own variables; options win", () => {
  const env = { TENCENT_CALLBACK_TOKEN: 'from-env', TENCENT_SDKAPPIDS: ' 1400000002 , 1400000003' };
  expect(options([], env)).toMatchObject({ token: 'from-env', sdkAppId: '1400000002' });
  expect(options(['--token', 't', '--sdkappid', '42'], env)).toMatchObject({
    token: 't',
    sdkAppId: '42',
  });
  // an empty token sends unsigned callbacks, whatever the environment says
  expect(options(['--token', ''], env).token).toBeUndefined();
});

test('every option is read', () => {
  expect(
    options([
      '--url=https://chat.example.com/callback?x=1',
      '--command',
      'Group.CallbackAfterSendMsg,State.StateChange,Group.CallbackAfterSendMsg',
      '--rate',
      '0',
      '--concurrency',
      '4',
      '--duration',
      '2.5',
      '--count',
      '300',
      '--duplicates',
      '0.25',
      '--platforms',
      'iOS=50,Android=40,none=10',
      '--recipients',
      '3',
      '--seed',
      '11',
      '--timeout',
      '500',
      '--dry-run',
      '--json',
      '--quiet',
    ]),
  ).toEqual({
    url: 'https://chat.example.com/callback?x=1',
    token: undefined,
    sdkAppId: '1400000001',
    commands: ['Group.CallbackAfterSendMsg', 'State.StateChange'],
    rate: 0,
    concurrency: 4,
    durationSeconds: 2.5,
    count: 300,
    duplicates: 0.25,
    platforms: [
      { platform: 'iOS', weight: 50 },
      { platform: 'Android', weight: 40 },
      { platform: undefined, weight: 10 },
    ],
    recipients: 3,
    seed: 11,
    timeoutMs: 500,
    dryRun: true,
    json: true,
    quiet: true,
  });
});

test('a count alone runs without a time limit; all is every command of the catalogue', () => {
  expect(options(['--count', '5'])).toMatchObject({ count: 5, durationSeconds: 0 });
  expect(options(['--command', 'all']).commands).toEqual(CATALOGUE.map((e) => e.command));
  expect(options(['--duration', '0']).durationSeconds).toBe(0);
});

test('--help, and the usage documents every option', () => {
  expect(parseSimulateArgs(['--rate', '5', '--help'])).toEqual({ help: true });
  for (const name of OPTION_NAMES) expect(USAGE).toContain(`  ${name}`);
  expect(OPTION_NAMES).toHaveLength(17);
});

test.each([
  [['--rate', 'fast'], "--rate must be a number, not 'fast'"],
  [['--rate=-1'], "--rate must be a number, not '-1'"],
  [['--concurrency', '0'], "--concurrency must be at least 1, not '0'"],
  [['--count', '2.5'], "--count must be a whole number, not '2.5'"],
  [['--duplicates', '1.5'], "--duplicates must be between 0 and 1, not '1.5'"],
  [['--duration', '1e3'], "--duration must be a number, not '1e3'"],
  [['--timeout', '0'], "--timeout must be at least 1, not '0'"],
  [
    ['--url', 'ftp://example.com/callback'],
    "--url must be an http(s) URL, not 'ftp://example.com/callback'",
  ],
  [['--url', 'example.com'], "--url must be an http(s) URL, not 'example.com'"],
  [['--sdkappid', 'app'], "--sdkappid must be numeric, not 'app'"],
  [
    ['--command', 'Group.CallbackAfterNothing'],
    'Group.CallbackAfterNothing is not in the catalogue',
  ],
  [['--command', 'C2C.CallbackAfterSendMsg,'], 'empty entry'],
  [['--nope'], "Unknown option '--nope'"],
  [['--rate'], "Option '--rate <value>' argument missing"],
])('%j is refused: %s', (argv, message) => {
  expect(usageError(argv)).toContain(message);
});

describe('--platforms', () => {
  test('names with weights, in order; a name alone weighs 1; none sends no OptPlatform', () => {
    expect(parsePlatforms('iOS=50,Android=40,Web=10')).toEqual([
      { platform: 'iOS', weight: 50 },
      { platform: 'Android', weight: 40 },
      { platform: 'Web', weight: 10 },
    ]);
    expect(parsePlatforms(' IOS , none=0.5, Mac=0')).toEqual([
      { platform: 'IOS', weight: 1 },
      { platform: undefined, weight: 0.5 },
      { platform: 'Mac', weight: 0 },
    ]);
  });

  test.each([
    ['iOS=a', 'the weight of iOS must be a number'],
    ['iOS=-1', 'the weight of iOS must be a number'],
    ['iOS=0,Web=0', 'at least one weight must be above 0'],
    ['iOS=1,iOS=2', 'iOS is given twice'],
    ['i OS=1', "'i OS' is not an OptPlatform name"],
    ['iOS=1,,Web=1', 'empty entry'],
    ['', 'empty entry'],
  ])('%j is refused: %s', (spec, message) => {
    expect(() => parsePlatforms(spec)).toThrow(message);
  });
});
