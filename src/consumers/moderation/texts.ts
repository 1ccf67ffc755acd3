import type { AfterSendMsgCallback } from '../../tencent/callback';

/**
 * Every text-bearing part of a C2C message, with its path (`MsgBody[0].MsgContent.Text`): the
 * path is what a verdict reports, never the text.
 *
 * What counts as text (reference file §4):
 * - TIMTextElem `Text`; TIMCustomElem `Data`, `Desc`, `Ext`, `Sound`; TIMFileElem `FileName`;
 *   TIMLocationElem `Desc`; TIMFaceElem `Data`;
 * - TIMRelayElem `Title`, `CompatibleText`, `AbstractList[]` (and an `Abstract` string or list,
 *   should one come), and every message of `MsgList[]`, recursively (its `MsgBody` and its
 *   `CloudCustomData`), down to `maxDepth` levels of nesting;
 * - TIMImageElem, TIMSoundElem, TIMVideoFileElem carry no text (ids, URLs, sizes);
 * - any field of a known element that Tencent does not document, and every string value inside
 *   an element of an unknown `MsgType`, as a last resort (objects and arrays walked, depth-capped);
 * - `CloudCustomData` of the message (option `cloudCustomData`, on by default): the sender's
 *   client sets it, and chat UIs put user text there (TUIKit keeps the quoted message of a reply
 *   in it).
 * Empty strings are skipped. Parts come in message order.
 */

export interface TextPart {
  path: string;
  text: string;
}

export interface TextPartsOptions {
  /** Scan `CloudCustomData` (the message's and relayed messages'). Default true. */
  cloudCustomData?: boolean;
  /** Deepest relay nesting followed (a relay inside a relay is depth 2). Default 8. */
  maxDepth?: number;
}

export const DEFAULT_MAX_DEPTH = 8;
/** Nesting followed inside one unknown field or element (objects/arrays). */
const MAX_VALUE_DEPTH = 16;

/** Per element type: its text fields, and its documented fields that carry no text. */
const KNOWN: Readonly<Record<string, { text: readonly string[]; other: readonly string[] }>> = {
  TIMTextElem: { text: ['Text'], other: [] },
  TIMLocationElem: { text: ['Desc'], other: ['Latitude', 'Longitude'] },
  TIMFaceElem: { text: ['Data'], other: ['Index'] },
  TIMCustomElem: { text: ['Data', 'Desc', 'Ext', 'Sound'], other: [] },
  TIMSoundElem: { text: [], other: ['Url', 'UUID', 'Size', 'Second', 'Download_Flag'] },
  TIMImageElem: { text: [], other: ['UUID', 'ImageFormat', 'ImageInfoArray'] },
  TIMFileElem: { text: ['FileName'], other: ['Url', 'UUID', 'FileSize', 'Download_Flag'] },
  TIMVideoFileElem: {
    text: [],
    other: [
      'VideoUrl',
      'VideoUUID',
      'VideoSize',
      'VideoSecond',
      'VideoFormat',
      'VideoDownloadFlag',
      'ThumbUrl',
      'ThumbUUID',
      'ThumbSize',
      'ThumbWidth',
      'ThumbHeight',
      'ThumbFormat',
      'ThumbDownloadFlag',
    ],
  },
  TIMRelayElem: {
    text: ['Title', 'CompatibleText'],
    other: ['MsgNum', 'JsonMsgKey', 'AbstractList', 'Abstract', 'MsgList'],
  },
};
/** Documented fields of a relayed message that carry no text. */
const RELAY_MSG_OTHER = new Set([
  'From_Account',
  'To_Account',
  'GroupId',
  'MsgSeq',
  'MsgRandom',
  'MsgTimeStamp',
  'MsgBody',
  'CloudCustomData',
]);

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A JavaScript-ish path segment: `.Name`, or `["odd key"]` when the key is not an identifier. */
function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

function* stringsIn(value: unknown, path: string, depth: number): Generator<TextPart> {
  if (typeof value === 'string') {
    if (value !== '') yield { path, text: value };
  } else if (depth < MAX_VALUE_DEPTH && Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* stringsIn(value[i], `${path}[${i}]`, depth + 1);
  } else if (depth < MAX_VALUE_DEPTH && isObject(value)) {
    for (const [k, v] of Object.entries(value)) yield* stringsIn(v, `${path}${key(k)}`, depth + 1);
  }
}

export function* textParts(
  callback: Pick<AfterSendMsgCallback, 'MsgBody' | 'CloudCustomData'>,
  options: TextPartsOptions = {},
): Generator<TextPart> {
  const withCloud = options.cloudCustomData ?? true;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;

  function* body(elements: unknown, path: string, depth: number): Generator<TextPart> {
    if (!Array.isArray(elements)) return;
    for (let i = 0; i < elements.length; i++) {
      yield* element(elements[i], `${path}[${i}]`, depth);
    }
  }

  function* element(el: unknown, path: string, depth: number): Generator<TextPart> {
    if (!isObject(el)) return;
    const type = typeof el.MsgType === 'string' ? el.MsgType : '';
    const content = el.MsgContent;
    const contentPath = `${path}.MsgContent`;
    const known = KNOWN[type];
    if (known === undefined || !isObject(content)) {
      // unknown element type (or a content that is no object): every string inside
      yield* stringsIn(content, contentPath, 0);
      return;
    }
    for (const field of known.text) {
      const v = content[field];
      if (typeof v === 'string' && v !== '') yield { path: `${contentPath}.${field}`, text: v };
    }
    if (type === 'TIMRelayElem') yield* relay(content, contentPath, depth);
    for (const [k, v] of Object.entries(content)) {
      if (!known.text.includes(k) && !known.other.includes(k)) {
        yield* stringsIn(v, `${contentPath}${key(k)}`, 0);
      }
    }
  }

  function* relay(content: Json, path: string, depth: number): Generator<TextPart> {
    for (const field of ['AbstractList', 'Abstract']) {
      if (field in content) yield* stringsIn(content[field], `${path}.${field}`, 0);
    }
    if (depth >= maxDepth || !Array.isArray(content.MsgList)) return;
    const list: unknown[] = content.MsgList;
    for (let i = 0; i < list.length; i++) {
      const msg = list[i];
      if (!isObject(msg)) continue;
      const msgPath = `${path}.MsgList[${i}]`;
      yield* body(msg.MsgBody, `${msgPath}.MsgBody`, depth + 1);
      if (withCloud && typeof msg.CloudCustomData === 'string' && msg.CloudCustomData !== '') {
        yield { path: `${msgPath}.CloudCustomData`, text: msg.CloudCustomData };
      }
      for (const [k, v] of Object.entries(msg)) {
        if (!RELAY_MSG_OTHER.has(k)) yield* stringsIn(v, `${msgPath}${key(k)}`, 0);
      }
    }
  }

  yield* body(callback.MsgBody, 'MsgBody', 0);
  const cloud = callback.CloudCustomData;
  if (withCloud && typeof cloud === 'string' && cloud !== '') {
    yield { path: 'CloudCustomData', text: cloud };
  }
}
