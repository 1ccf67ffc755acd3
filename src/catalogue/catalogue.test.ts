import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  CATALOGUE,
  catalogueEntry,
  commandLabel,
  defaultTopic,
  keyReader,
  OTHER_COMMAND,
} from './catalogue';
import { parseRoutes, resolveRoutes, unknownPatterns } from './routes';
import { COMMAND_WORD } from '../tencent/query';

test('every catalogued command is a command word the query accepts; garbage is not', () => {
  for (const e of CATALOGUE) expect(e.command).toMatch(COMMAND_WORD);
  for (const bad of ['', 'C2C', '.x', 'C2C.', 'C2C..X', 'a.b c', 'C2C.X%00', 'é.x'])
    expect(bad).not.toMatch(COMMAND_WORD);
  expect('Tim.CallbackAfterSomethingNew2027').toMatch(COMMAND_WORD);
});

test("default topics: the family in lower case, the name in kebab case without 'Callback'", () => {
  expect(defaultTopic('C2C.CallbackAfterSendMsg')).toBe('c2c.after-send-msg');
  expect(defaultTopic('Group.CallbackAfterSendMsg')).toBe('group.after-send-msg');
  expect(defaultTopic('C2C.CallbackAfterMsgWithDraw')).toBe('c2c.after-msg-withdraw');
  expect(defaultTopic('State.StateChange')).toBe('state.state-change');
  expect(defaultTopic('Sns.CallbackFriendAdd')).toBe('sns.friend-add');
  expect(defaultTopic('Bot.OnC2CMessage')).toBe('bot.on-c2c-message');
  expect(defaultTopic('C2C.CallbackAfterC2CMsgExtension')).toBe('c2c.after-c2c-msg-extension');
  expect(defaultTopic('OfficialAccount.CallbackAfterOfficialAccountInfoChanged')).toBe(
    'officialaccount.after-official-account-info-changed',
  );
  expect(defaultTopic('Push.OfflinePush')).toBe('push.offline-push');
});

test('every catalogued command has its own default topic, and every fixture folder an entry', () => {
  const topics = CATALOGUE.map((e) => defaultTopic(e.command));
  expect(new Set(topics).size).toBe(CATALOGUE.length);
  const folders = readdirSync(join(__dirname, '..', '..', 'test', 'fixtures', 'commands'), {
    withFileTypes: true,
  })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  expect(CATALOGUE.map((e) => e.command).sort()).toEqual(folders);
});

test('metric labels: a catalogued command is itself, anything else is other', () => {
  expect(commandLabel('Group.CallbackAfterSendMsg')).toBe('Group.CallbackAfterSendMsg');
  expect(commandLabel('Group.CallbackAfterSomethingNew')).toBe(OTHER_COMMAND);
  expect(commandLabel('__proto__')).toBe(OTHER_COMMAND);
});

test('keys: the first path naming a non-empty string or an integer, else null', () => {
  const key = keyReader(['GroupId', 'groupID']);
  expect(key({ GroupId: '@TGS#1' })).toBe('@TGS#1');
  expect(key({ groupID: 'g2' })).toBe('g2');
  expect(key({ GroupId: '', groupID: 'g3' })).toBe('g3');
  expect(key({ GroupId: 123 })).toBe('123');
  expect(key({ GroupId: { nested: 1 } })).toBeNull();
  expect(key(null)).toBeNull();
  expect(keyReader(['Info.To_Account'])({ Info: { To_Account: 'u1' } })).toBe('u1');
  expect(keyReader(['PairList.0.From_Account'])({ PairList: [{ From_Account: 'a' }] })).toBe('a');
  expect(keyReader(['PairList.0.From_Account'])({ PairList: [] })).toBeNull();
  expect(keyReader([])({ To_Account: 'x' })).toBeNull();
});

test('the issue’s key rules hold for the entries', () => {
  const keyOf = (c: string) => catalogueEntry(c)?.key;
  expect(keyOf('C2C.CallbackAfterSendMsg')).toEqual(['To_Account']);
  expect(keyOf('C2C.CallbackAfterMsgWithDraw')).toEqual(['To_Account']);
  expect(keyOf('C2C.CallbackAfterMsgReport')).toEqual(['Report_Account']);
  expect(keyOf('State.StateChange')).toEqual(['Info.To_Account']);
  expect(keyOf('Profile.CallbackPortraitSet')).toEqual(['From_Account']);
  expect(keyOf('Group.CallbackAfterRecallMsg')).toEqual(['GroupId']);
  expect(keyOf('OfficialAccount.CallbackAfterSendMsg')).toEqual(['Official_Account']);
  expect(keyOf('Alert.RequestOverLimit')).toEqual([]);
  const groupEvents = CATALOGUE.filter(
    (x) => x.command.startsWith('Group.') && x.command !== 'Group.CallbackOnDailyGroupQuotaAlarm',
  );
  for (const e of groupEvents) {
    expect(e.key[0]).toBe('GroupId');
  }
});

describe('COMMAND_ROUTES', () => {
  const route = (spec: string, command: string) =>
    resolveRoutes({ rules: parseRoutes(spec), c2cTopic: 'my.c2c' }).get(command)?.topic;

  test('unset: every command to its default topic, C2C to KAFKA_TOPIC', () => {
    expect(route('', 'C2C.CallbackAfterSendMsg')).toBe('my.c2c');
    expect(route('', 'Group.CallbackAfterSendMsg')).toBe('group.after-send-msg');
  });

  test('the most specific pattern wins: command, then family, then *', () => {
    const spec = '*=off, Group.*=on, Group.CallbackAfterSendMsg=chat.group-messages';
    expect(route(spec, 'Group.CallbackAfterSendMsg')).toBe('chat.group-messages');
    expect(route(spec, 'Group.CallbackAfterMemberExit')).toBe('group.after-member-exit');
    expect(route(spec, 'State.StateChange')).toBeNull();
    expect(route(spec, 'C2C.CallbackAfterSendMsg')).toBeNull();
    expect(route('*=off,C2C.CallbackAfterSendMsg=on', 'C2C.CallbackAfterSendMsg')).toBe('my.c2c');
  });

  test('bad rules are refused with a message naming them', () => {
    expect(() => parseRoutes('Group.*')).toThrow('"Group.*" is not pattern=target');
    expect(() => parseRoutes('Group=off')).toThrow('"Group" is not a command');
    expect(() => parseRoutes('Group.*=bad topic')).toThrow('"bad topic" (for Group.*)');
    expect(() => parseRoutes('*=off,*=on')).toThrow('* has two rules');
  });

  test('patterns the catalogue does not know are reported (typos)', () => {
    expect(unknownPatterns(parseRoutes('Grop.*=off,Group.CallbackAfterSendMsgg=on,*=on'))).toEqual([
      'Grop.*',
      'Group.CallbackAfterSendMsgg',
    ]);
  });
});
