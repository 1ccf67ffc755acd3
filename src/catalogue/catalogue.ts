/**
 * The command catalogue: one declarative entry per Tencent Chat callback command (the reference:
 * `tencent-chat-webhook-commands.md`). Routing, validation, the record mapping, the metric label
 * set, the topics and subjects to create and the docs table are all derived from it.
 *
 * Adding a command = one entry here, its fixtures in `test/fixtures/commands/<Command>/`, and (to
 * type it) one schema in `schemas/`; without a schema it is kept losslessly with the generic one.
 */

export type CommandKind =
  /** Tencent waits for the reply to decide (allow, block, modify): answered at once or forwarded. */
  | 'before'
  /** Tencent reports what happened: answered OK once the record is durable. */
  | 'after';

export interface CommandEntry {
  command: string;
  kind: CommandKind;
  /** Typed schema file in `schemas/`; absent: the generic schema (`GENERIC_SCHEMA_FILE`). */
  schema?: string;
  /**
   * Where the record key comes from: JSON paths tried in order (`Info.To_Account`,
   * `PairList.0.From_Account`); the first non-empty string (or integer) wins, the query's
   * SdkAppid otherwise. For batches, paths are relative to each event.
   */
  key: readonly string[];
  /** The body is a batch: one record per element of this array (`Push.*`: `Events`). */
  batch?: string;
  /**
   * Top-level fields that Tencent documents loosely: kept in their typed slot when the value fits
   * it, verbatim in `_extra` otherwise, never a reason to refuse. Default for typed schemas: every
   * optional field of a primitive type.
   */
  lenient?: readonly string[];
  /** Integer ranges beyond the Avro type, by `Record.Field` (short record names). */
  ranges?: Readonly<Record<string, Range>>;
  /** Tencent's page for the command (cloud.tencent.com/document/product/…). */
  page: string;
  summary: string;
}

export interface Range {
  minimum?: number;
  maximum?: number;
}

/** How the bridge answered a before-callback (the generic schema's `Decision`). */
export interface Decision {
  Outcome: 'allow' | 'block' | 'drop' | 'modify';
  DecidedBy: 'policy' | 'upstream' | 'fail-open' | 'fail-closed';
  ErrorCode: number;
  Reply: string;
  UpstreamLatencyMs: number | null;
  Problem: string | null;
}

export const GENERIC_SCHEMA_FILE = 'callback.avsc';
/** Metric label of commands the catalogue does not know. */
export const OTHER_COMMAND = 'other';

export const U32: Range = { minimum: 0, maximum: 4294967295 };
/** Ranges of the shared element types, which apply wherever they are used. */
export const ELEMENT_RANGES: Readonly<Record<string, Range>> = {
  'RelayMsg.MsgSeq': U32,
  'RelayMsg.MsgRandom': U32,
};

const A = 'after' as const;
const B = 'before' as const;
const P = (n: number): string => `1047/${n}`;

/** Key paths by the entity whose order matters (the rules, stated per command below). */
const TO = ['To_Account'];
const FROM = ['From_Account'];
const GROUP = ['GroupId'];
const OFFICIAL = ['Official_Account'];
const APP: string[] = []; // no entity: the SdkAppid

// prettier-ignore
export const CATALOGUE: readonly CommandEntry[] = [
  // online status
  { command: 'State.StateChange', kind: A, schema: 'state-state-change.avsc', key: ['Info.To_Account'], page: P(34357), summary: 'Login, logout, disconnect' },
  // relationship chain, profile, follow
  { command: 'Profile.CallbackPortraitSet', kind: A, schema: 'profile-portrait-set.avsc', key: FROM, page: P(48733), summary: 'Profile updated' },
  { command: 'Sns.CallbackPrevFriendAdd', kind: B, key: FROM, page: P(43468), summary: 'Before a friend request' },
  { command: 'Sns.CallbackPrevFriendResponse', kind: B, key: FROM, page: P(43467), summary: 'Before a friend request is answered' },
  { command: 'Sns.CallbackFriendAdd', kind: A, schema: 'sns-friend-add.avsc', key: ['PairList.0.From_Account'], page: P(34359), summary: 'Friends added' },
  { command: 'Sns.CallbackFriendDelete', kind: A, schema: 'sns-friend-delete.avsc', key: ['PairList.0.From_Account'], page: P(34360), summary: 'Friends deleted' },
  { command: 'Sns.CallbackBlackListAdd', kind: A, key: ['PairList.0.From_Account'], page: P(34361), summary: 'Added to a blocklist' },
  { command: 'Sns.CallbackBlackListDelete', kind: A, key: ['PairList.0.From_Account'], page: P(34362), summary: 'Removed from a blocklist' },
  { command: 'Follow.CallbackAfterFollowAdd', kind: A, key: FROM, page: P(70355), summary: 'Followed users' },
  { command: 'Follow.CallbackAfterFollowDelete', kind: A, key: FROM, page: P(70356), summary: 'Unfollowed users' },
  // one-to-one messages: every message event keyed by To_Account (a recall lands beside its message)
  { command: 'C2C.CallbackBeforeSendMsg', kind: B, key: TO, page: P(34364), summary: 'Before a 1:1 message is delivered' },
  {
    command: 'C2C.CallbackAfterSendMsg',
    kind: A,
    schema: 'c2c-after-send-msg.avsc',
    key: TO,
    lenient: ['MsgId', 'EventTime', 'SupportMessageExtension'],
    ranges: {
      'CallbackAfterSendMsg.MsgSeq': U32,
      'CallbackAfterSendMsg.MsgRandom': U32,
      'CallbackAfterSendMsg.MsgTime': { minimum: 0 },
      'CallbackAfterSendMsg.UnreadMsgNum': { minimum: -1 },
    },
    page: P(34365),
    summary: '1:1 message sent (also when delivery failed)',
  },
  { command: 'C2C.CallbackAfterMsgReport', kind: A, schema: 'c2c-after-msg-report.avsc', key: ['Report_Account'], page: P(43465), summary: 'Read report' },
  { command: 'C2C.CallbackAfterMsgWithDraw', kind: A, schema: 'c2c-after-msg-withdraw.avsc', key: TO, page: P(43466), summary: '1:1 message recalled' },
  { command: 'C2C.CallbackAfterC2CMsgExtension', kind: A, key: TO, page: P(76006), summary: 'Message extension set, deleted or cleared' },
  { command: 'C2C.CallbackAfterModifyMsg', kind: A, key: TO, page: '269/128224', summary: '1:1 message edited' },
  // groups and topics: every event keyed by GroupId
  { command: 'Group.CallbackBeforeCreateGroup', kind: B, key: GROUP, page: P(34368), summary: 'Before a group is created (no GroupId yet)' },
  { command: 'Group.CallbackAfterCreateGroup', kind: A, schema: 'group-after-create-group.avsc', key: ['GroupId', 'groupID'], page: P(34369), summary: 'Group created' },
  { command: 'Group.CallbackBeforeApplyJoinGroup', kind: B, key: GROUP, page: P(34370), summary: 'Before a join request' },
  { command: 'Group.CallbackBeforeInviteJoinGroup', kind: B, key: GROUP, page: P(34371), summary: 'Before invited users are added' },
  { command: 'Group.CallbackAfterNewMemberJoin', kind: A, schema: 'group-after-new-member-join.avsc', key: GROUP, page: P(34372), summary: 'Members joined' },
  { command: 'Group.CallbackAfterMemberExit', kind: A, schema: 'group-after-member-exit.avsc', key: GROUP, page: P(34373), summary: 'Members quit or were removed' },
  { command: 'Group.CallbackBeforeSendMsg', kind: B, key: GROUP, page: P(34374), summary: 'Before a group message is delivered' },
  {
    command: 'Group.CallbackAfterSendMsg',
    kind: A,
    schema: 'group-after-send-msg.avsc',
    key: GROUP,
    ranges: { 'CallbackAfterSendMsg.MsgSeq': U32, 'CallbackAfterSendMsg.Random': U32 },
    page: P(34375),
    summary: 'Group message sent',
  },
  { command: 'Group.CallbackAfterGroupFull', kind: A, key: GROUP, page: P(34376), summary: 'Group reached its member limit' },
  { command: 'Group.CallbackAfterGroupDestroyed', kind: A, schema: 'group-after-group-destroyed.avsc', key: GROUP, page: P(34377), summary: 'Group disbanded' },
  { command: 'Group.CallbackAfterGroupInfoChanged', kind: A, schema: 'group-after-group-info-changed.avsc', key: GROUP, page: P(34378), summary: 'Name, introduction, notification or face changed' },
  { command: 'Group.CallbackOnMemberStateChange', kind: A, key: GROUP, page: P(48734), summary: 'Live group member offline or online' },
  {
    command: 'Group.CallbackSendMsgException',
    kind: A,
    schema: 'group-send-msg-exception.avsc',
    key: GROUP,
    ranges: { 'CallbackSendMsgException.Random': U32 },
    page: P(49462),
    summary: 'Group message failed to deliver',
  },
  { command: 'Group.CallbackAfterRecallMsg', kind: A, schema: 'group-after-recall-msg.avsc', key: GROUP, page: P(46979), summary: 'Group messages recalled' },
  { command: 'Group.CallbackAfterMemberFieldChanged', kind: A, key: GROUP, page: P(60393), summary: 'Member role or name card changed' },
  { command: 'Group.CallbackAfterGroupAttrChanged', kind: A, key: GROUP, page: P(60394), summary: 'Group attributes changed' },
  { command: 'Group.CallbackAfterReadReceipt', kind: A, key: GROUP, page: P(60395), summary: 'Group read receipts' },
  { command: 'Group.CallbackAfterChangeGroupOwner', kind: A, key: GROUP, page: P(60396), summary: 'Owner transferred' },
  { command: 'Group.CallbackOnDailyGroupQuotaAlarm', kind: A, key: APP, page: P(57455), summary: 'Daily group growth passed 70% of the quota' },
  { command: 'Group.CallbackAfterGroupMsgExtension', kind: A, key: GROUP, page: P(76007), summary: 'Group message extension changed' },
  { command: 'Group.CallbackAfterModifyMsg', kind: A, key: GROUP, page: '269/129193', summary: 'Group message edited' },
  { command: 'Group.CallbackBeforeCreateTopic', kind: B, key: GROUP, page: P(49463), summary: 'Before a topic is created (no GroupId in the body)' },
  { command: 'Group.CallbackAfterCreateTopic', kind: A, key: GROUP, page: P(49464), summary: 'Topic created' },
  { command: 'Group.CallbackAfterTopicDestroyed', kind: A, key: GROUP, page: P(49465), summary: 'Topics deleted' },
  { command: 'Group.CallbackAfterTopicInfoChanged', kind: A, key: GROUP, page: P(49466), summary: 'Topic profile changed' },
  // official channels: keyed by Official_Account
  { command: 'OfficialAccount.CallbackBeforeCreateOfficialAccount', kind: B, key: OFFICIAL, page: P(60795), summary: 'Before an official channel is created' },
  { command: 'OfficialAccount.CallbackAfterCreateOfficialAccount', kind: A, key: OFFICIAL, page: P(60796), summary: 'Official channel created' },
  { command: 'OfficialAccount.CallbackAfterOfficialAccountInfoChanged', kind: A, key: OFFICIAL, page: P(60797), summary: 'Official channel profile changed' },
  { command: 'OfficialAccount.CallbackAfterOfficialAccountDestroyed', kind: A, key: OFFICIAL, page: P(60798), summary: 'Official channel destroyed' },
  { command: 'OfficialAccount.CallbackBeforeAddSubscriber', kind: B, key: OFFICIAL, page: P(60799), summary: 'Before subscribers are added' },
  { command: 'OfficialAccount.CallbackAfterAddSubscriber', kind: A, key: OFFICIAL, page: P(60800), summary: 'Subscribers added' },
  { command: 'OfficialAccount.CallbackAfterOfficialAccountFull', kind: A, key: OFFICIAL, page: P(60801), summary: 'Official channel full' },
  { command: 'OfficialAccount.CallbackAfterDeleteSubscriber', kind: A, key: OFFICIAL, page: P(60802), summary: 'Subscribers removed' },
  { command: 'OfficialAccount.CallbackBeforeSendMsg', kind: B, key: OFFICIAL, page: P(60803), summary: 'Before a channel message is delivered' },
  { command: 'OfficialAccount.CallbackAfterSendMsg', kind: A, key: OFFICIAL, page: P(60804), summary: 'Channel message sent' },
  { command: 'OfficialAccount.CallbackAfterMsgWithDraw', kind: A, key: OFFICIAL, page: P(60805), summary: 'Channel message recalled' },
  // chatbots, operations, moderation, push
  { command: 'Bot.OnC2CMessage', kind: A, key: FROM, page: P(68952), summary: '1:1 message to a chatbot (keyed by the user: one bot would be one hot partition)' },
  { command: 'Bot.OnGroupMessage', kind: A, key: GROUP, page: P(68953), summary: 'Chatbot mentioned in a group' },
  { command: 'Chatbot.OnC2CSignalMessage', kind: B, key: FROM, page: P(59057), summary: 'Pass-through content to a chatbot (its reply carries RspData)' },
  { command: 'Alert.RequestOverLimit', kind: A, key: APP, page: P(60256), summary: 'REST API rate passed 80% of its limit' },
  { command: 'ContentCallback.ResultNotify', kind: A, key: FROM, page: 'trtc.io/document/78240', summary: 'Cloud moderation result (no CallbackCommand in the body)' },
  { command: 'Push.OfflinePush', kind: A, key: TO, batch: 'Events', page: P(67552), summary: 'Offline push results (one record per event)' },
  { command: 'Push.AllMemberPush', kind: A, key: TO, batch: 'Events', page: P(67551), summary: 'All-user, tag or single push results (one record per event)' },
];

const byCommand = new Map(CATALOGUE.map((e) => [e.command, e]));

export function catalogueEntry(command: string): CommandEntry | undefined {
  return byCommand.get(command);
}

/** The command as a bounded metric label: itself when catalogued, `other` otherwise. */
export function commandLabel(command: string): string {
  return byCommand.has(command) ? command : OTHER_COMMAND;
}

/**
 * The default topic of a command: the family in lower case, a dot, the name in kebab case without
 * the `Callback` prefix (`Group.CallbackAfterSendMsg` -> `group.after-send-msg`); Tencent's
 * `WithDraw` is read as one word and `C2C` as one (`c2c.after-msg-withdraw`, `bot.on-c2c-message`).
 */
export function defaultTopic(command: string): string {
  const dot = command.indexOf('.');
  const family = command.slice(0, dot).toLowerCase();
  const name = command
    .slice(dot + 1)
    .replace(/^Callback/, '')
    .replace(/WithDraw/g, 'Withdraw')
    .replace(/C2C/g, 'C2c');
  const kebab = name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
  return `${family}.${kebab}`;
}

/** The family of a command (`Group` for `Group.CallbackAfterSendMsg`). */
export function familyOf(command: string): string {
  const dot = command.indexOf('.');
  return dot > 0 ? command.slice(0, dot) : command;
}

/**
 * The record key reader of a list of paths: the first path that names a non-empty string (or an
 * integer, as text) in the JSON value; null when none does (the caller falls back to the SdkAppid).
 * The paths are split once, here, not per callback.
 */
export function keyReader(paths: readonly string[]): (json: unknown) => string | null {
  const steps = paths.map((p) => p.split('.'));
  return (json) => {
    for (const path of steps) {
      let v: unknown = json;
      for (const step of path) {
        if (v === null || typeof v !== 'object') {
          v = undefined;
          break;
        }
        v = Array.isArray(v) ? v[Number(step)] : (v as Record<string, unknown>)[step];
      }
      if (typeof v === 'string' && v !== '') return v;
      if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
    }
    return null;
  };
}
