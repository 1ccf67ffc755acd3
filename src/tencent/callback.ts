/**
 * Domain facts about `C2C.CallbackAfterSendMsg` (see the reference file on Tencent's webhooks)
 * that the Avro schema alone cannot say.
 */

/** Fields of the record that come from the query string or the bridge, never from the body. */
export const ENVELOPE_FIELDS: ReadonlySet<string> = new Set([
  'SdkAppid',
  'OptPlatform',
  'ClientIP',
  'ReceivedAt',
]);

/**
 * Top-level fields that Tencent sends but does not document for this callback. They are kept in
 * their typed slot when their value fits it, verbatim in `_extra` otherwise; never rejected.
 */
export const LENIENT_FIELDS: ReadonlySet<string> = new Set([
  'MsgId',
  'EventTime',
  'SupportMessageExtension',
]);

const U32 = { minimum: 0, maximum: 4294967295 };

/** Value ranges beyond the Avro type, keyed by `Record.Field`. */
export const RANGES: Readonly<Record<string, IntegerRange>> = {
  'CallbackAfterSendMsg.MsgSeq': U32,
  'CallbackAfterSendMsg.MsgRandom': U32,
  'CallbackAfterSendMsg.MsgTime': { minimum: 0 },
  'CallbackAfterSendMsg.UnreadMsgNum': { minimum: -1 },
  'RelayMsg.MsgSeq': U32,
  'RelayMsg.MsgRandom': U32,
};

export interface IntegerRange {
  minimum?: number;
  maximum?: number;
}

/** What a schema alone cannot say about a callback: its loosely documented fields and ranges. */
export interface CallbackRules {
  /** Top-level fields kept in their typed slot when the value fits, in `_extra` otherwise. */
  lenient: ReadonlySet<string>;
  /** Integer ranges beyond the Avro type, keyed by `Record.Field` (short record names). */
  ranges: Readonly<Record<string, IntegerRange>>;
}

/** The rules of `C2C.CallbackAfterSendMsg`. */
export const AFTER_SEND_MSG_RULES: CallbackRules = { lenient: LENIENT_FIELDS, ranges: RANGES };

/** The record names whose element is known; any other MsgType is kept as `UnknownElem`. */
export const UNKNOWN_ELEMENT = 'UnknownElem';

export interface MsgElement {
  MsgType: string;
  MsgContent: unknown;
  [extra: string]: unknown;
}

/** A validated callback body: the documented fields typed, anything else kept as received. */
export interface AfterSendMsgCallback {
  CallbackCommand: string;
  From_Account: string;
  To_Account: string;
  MsgSeq: number;
  MsgRandom: number;
  MsgTime: number;
  MsgKey: string;
  MsgBody: MsgElement[];
  MsgId?: unknown;
  OnlineOnlyFlag?: number;
  SendMsgResult?: number;
  ErrorInfo?: string;
  UnreadMsgNum?: number;
  CloudCustomData?: string;
  EventTime?: unknown;
  SupportMessageExtension?: unknown;
  [extra: string]: unknown;
}

/** What the bridge adds to the body: the query's values and its own clock. */
export interface Envelope {
  SdkAppid: string;
  OptPlatform: string | null;
  ClientIP: string | null;
  /** Unix milliseconds. */
  ReceivedAt: number;
}
