import { catalogueEntry, defaultTopic, type CommandEntry } from '../catalogue/catalogue';
import type { MsgElement } from '../tencent/callback';
import type { InputDefinition } from './start';

/**
 * `Group.CallbackAfterSendMsg` as the consumers see it: the callback JSON that the runner decodes
 * from a record of `schemas/group-after-send-msg.avsc` (the bridge's `group.after-send-msg`,
 * keyed by GroupId), and the few facts about it that the consumers share.
 *
 * The bridge keeps every field Tencent sends, but it is lenient with this command's optional
 * fields: a value that does not fit its typed slot is kept verbatim in `_extra` and comes back
 * here with its JSON type (a `MsgTime` sent as a string stays a string). So every field but
 * `GroupId`, `CallbackCommand` and `MsgBody` is read through the guards below, never trusted.
 */

export const GROUP_AFTER_SEND_MSG = 'Group.CallbackAfterSendMsg';

/** The bridge's default topic of group messages (`group.after-send-msg`). */
export const GROUP_MESSAGES_TOPIC = defaultTopic(GROUP_AFTER_SEND_MSG);

/** The catalogue entry of group messages (its schema file and its lenient fields). */
export function groupMessageEntry(): CommandEntry {
  const entry = catalogueEntry(GROUP_AFTER_SEND_MSG);
  if (entry?.schema === undefined) {
    throw new Error(`the catalogue has no typed schema for ${GROUP_AFTER_SEND_MSG}`);
  }
  return entry;
}

/** A group message callback (Tencent's JSON), documented fields typed as Tencent sends them. */
export interface GroupMessageCallback {
  CallbackCommand: string;
  GroupId: string;
  /** Group type: Public, Private (Work), ChatRoom (Meeting), AVChatRoom, Community. */
  Type?: unknown;
  From_Account?: unknown;
  Operator_Account?: unknown;
  Random?: unknown;
  /** The message's sequence number in its group (in its topic for topic-enabled communities). */
  MsgSeq?: unknown;
  MsgId?: unknown;
  /** Send time, Unix seconds. */
  MsgTime?: unknown;
  OnlineOnlyFlag?: unknown;
  MsgBody: MsgElement[];
  CloudCustomData?: unknown;
  /** Topic-enabled communities only; `""` or absent otherwise. */
  TopicId?: unknown;
  EventTime?: unknown;
  [extra: string]: unknown;
}

/** A non-empty string, else undefined. */
export function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * A non-negative safe integer, from a JSON number or a decimal string (Tencent writes some
 * integers as strings), else undefined.
 */
export function whole(value: unknown): number | undefined {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d+$/.test(value)
        ? Number(value)
        : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** The message's sequence number (what `group_msg_recall` recalls by), when usable. */
export function msgSeqOf(callback: GroupMessageCallback): number | undefined {
  return whole(callback.MsgSeq);
}

/** The topic of a topic-enabled community, when the message is in one. */
export function topicIdOf(callback: GroupMessageCallback): string | undefined {
  return text(callback.TopicId);
}

/**
 * The key a group message is recognised by when the bridge delivers it twice: group, topic and
 * sequence number (Tencent assigns `MsgSeq` per group, ascending; per topic in communities, so the
 * topic is part of the key). Undefined without a usable `MsgSeq`: such a message is never skipped.
 */
export function groupMessageKey(callback: GroupMessageCallback): string | undefined {
  const seq = msgSeqOf(callback);
  if (seq === undefined) return undefined;
  return JSON.stringify([callback.GroupId, topicIdOf(callback) ?? '', seq]);
}

/**
 * What every input of group messages declares alike (the command its records are written with,
 * how a redelivered message is recognised); the consumer adds its name, logic and delivery.
 */
export function groupMessagesInput(
  name: string,
  topic: string,
  groupId: string,
): Pick<
  InputDefinition<GroupMessageCallback>,
  'name' | 'topic' | 'groupId' | 'command' | 'dedupeKey'
> {
  return { name, topic, groupId, command: GROUP_AFTER_SEND_MSG, dedupeKey: groupMessageKey };
}

/** Tencent's group type ids and the newer names that mean the same type. */
export const GROUP_TYPES: readonly string[] = [
  'Public',
  'Private',
  'ChatRoom',
  'AVChatRoom',
  'Community',
];
const SYNONYMS: Readonly<Record<string, string>> = { Work: 'Private', Meeting: 'ChatRoom' };
const KNOWN_TYPES: ReadonlySet<string> = new Set(GROUP_TYPES);

/** Label of a message without a (string) `Type`. */
export const NO_GROUP_TYPE = 'none';

/**
 * The group type under one spelling: Tencent's type id (`Work` is `Private` and `Meeting` is
 * `ChatRoom` in Tencent's group-type table), `none` when absent, any other string as sent
 * (callers bound those).
 */
export function groupTypeLabel(value: unknown): string {
  const type = text(value);
  if (type === undefined) return NO_GROUP_TYPE;
  return SYNONYMS[type] ?? type;
}

/** True for the documented group types (and `none`), whose labels are a bounded set. */
export function isKnownGroupType(label: string): boolean {
  return KNOWN_TYPES.has(label) || label === NO_GROUP_TYPE;
}
