import { loadCommandFixtures } from '../../test/support/fixtures';
import {
  GROUP_AFTER_SEND_MSG,
  GROUP_MESSAGES_TOPIC,
  groupMessageEntry,
  groupMessageKey,
  groupTypeLabel,
  isKnownGroupType,
  msgSeqOf,
  topicIdOf,
  whole,
  type GroupMessageCallback,
} from './group';

const fixture = (name: string): GroupMessageCallback => {
  const f = loadCommandFixtures().find(
    (x) => x.command === GROUP_AFTER_SEND_MSG && x.name === `${name}.json`,
  );
  if (!f) throw new Error(`no fixture ${name}`);
  return f.json as GroupMessageCallback;
};

describe('group messages', () => {
  it('are the catalogue entry with a typed schema, on the default topic group.after-send-msg', () => {
    expect(GROUP_MESSAGES_TOPIC).toBe('group.after-send-msg');
    expect(groupMessageEntry().schema).toBe('group-after-send-msg.avsc');
  });

  it('are recognised twice by group, topic and MsgSeq', () => {
    const sample = fixture('sample');
    expect(groupMessageKey(sample)).toBe(JSON.stringify(['@TGS#2J4SZEAEL', '', 123]));
    expect(groupMessageKey({ ...sample })).toBe(groupMessageKey(sample));
    // another group, another topic of the same group, another MsgSeq: other keys
    const keys = new Set([
      groupMessageKey(sample),
      groupMessageKey({ ...sample, GroupId: '@TGS#other' }),
      groupMessageKey({ ...sample, TopicId: '@TGS#2J4SZEAEL@TOPIC#_a' }),
      groupMessageKey({ ...sample, TopicId: '@TGS#2J4SZEAEL@TOPIC#_b' }),
      groupMessageKey({ ...sample, MsgSeq: 124 }),
    ]);
    expect(keys.size).toBe(5);
    // an empty TopicId is no topic
    expect(groupMessageKey({ ...sample, TopicId: '' })).toBe(groupMessageKey(sample));
    // without a usable MsgSeq: never skipped as a duplicate
    expect(groupMessageKey({ ...sample, MsgSeq: undefined })).toBeUndefined();
    expect(groupMessageKey({ ...sample, MsgSeq: -1 })).toBeUndefined();
  });

  it('read integers from numbers or decimal strings only', () => {
    expect(whole(4294967295)).toBe(4294967295);
    expect(whole('1764116400')).toBe(1764116400);
    for (const bad of [-1, 1.5, '12a', '', null, undefined, {}, 2 ** 60]) {
      expect(whole(bad)).toBeUndefined();
    }
    expect(msgSeqOf(fixture('max-uint32'))).toBe(4294967295);
    expect(topicIdOf(fixture('topic-id'))).toBe(
      '@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_@TOPIC#cRTE3HIM62C5',
    );
    expect(topicIdOf(fixture('sample'))).toBeUndefined();
  });

  it('name group types once: Work is Private, Meeting is ChatRoom, none when absent', () => {
    expect(
      ['Public', 'Private', 'Work', 'ChatRoom', 'Meeting', 'AVChatRoom', 'Community'].map(
        groupTypeLabel,
      ),
    ).toEqual(['Public', 'Private', 'Private', 'ChatRoom', 'ChatRoom', 'AVChatRoom', 'Community']);
    expect(groupTypeLabel(undefined)).toBe('none');
    expect(groupTypeLabel('')).toBe('none');
    expect(groupTypeLabel(7)).toBe('none');
    expect(groupTypeLabel('BChatRoom')).toBe('BChatRoom');
    expect(isKnownGroupType('none')).toBe(true);
    expect(isKnownGroupType('BChatRoom')).toBe(false);
  });
});
