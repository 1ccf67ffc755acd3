import {
  AdminRecallClient,
  ERROR_INTERNAL_RETRY,
  tencentFailure,
  type Attempt,
  type RecallClientOptions,
  type TencentReply,
} from './recall';

/**
 * Recalls group messages through Tencent's REST API `v4/group_open_http_svc/group_msg_recall`,
 * as the app admin, with the same machinery as the C2C recall (`AdminRecallClient`: rate limit,
 * retries with backoff and jitter, UserSig from `tls-sig-api-v2`, timeouts; nothing logged).
 *
 * What was verified in Tencent's documentation ("Recalling Group Messages", trtc.io/document/34965,
 * tencentcloud.com/document/product/1047/34965, cloud.tencent.com/document/product/269/12341):
 * - `POST https://<domain>/v4/group_open_http_svc/group_msg_recall` with the usual query
 *   (`sdkappid`, `identifier` = an app admin, `usersig`, `random`, `contenttype=json`); at most
 *   200 calls a second.
 * - Body `{"GroupId": "...", "MsgSeqList": [{"MsgSeq": 100}], "TopicId"?: "..."}`: GroupId and
 *   MsgSeqList required, up to 10 MsgSeq per request; TopicId optional, "topic-enabled
 *   communities only" (recall in that topic). The GroupId and MsgSeq are those of the
 *   `Group.CallbackAfterSendMsg` webhook, which Tencent names as the way to recall client messages.
 * - Reply `ActionStatus`, `ErrorCode` (0 = success), `ErrorInfo` and `RecallRetList`
 *   `[{"MsgSeq": 100, "RetCode": 10030}, {"MsgSeq": 101, "RetCode": 0}]`: one result per MsgSeq,
 *   0 = recalled; the sample shows ErrorCode 0 with a failed RetCode beside a good one, so the
 *   per-message RetCode decides.
 * - Applicable to every group type (Private/Work, Public, ChatRoom/Meeting, Community; AVChatRoom
 *   since native SDK 7.4.4634 / web 3.1.2, and only online members see it there); the message
 *   must still be within roaming retention.
 * - Error codes (Tencent's error-code list of the web SDK): 10002 internal error, retry;
 *   10004 invalid parameter; 10006 operation rate limited; 10007 no permission; 10010 / 10015
 *   group gone or invalid; 10030 the message to recall does not exist; 10031 recall time limit
 *   exceeded; 10032 message cannot be recalled; 10033 the group type does not support recall;
 *   10041 the app has group-message recall disabled. The REST common code 91000 (internal error,
 *   retry) applies to every API.
 *
 * What remains unconfirmed, and what this client does about it:
 * - An optional `Reason` (seen in the Chinese page's sample request, not in its English field
 *   table; limits and visibility to users unknown): not sent.
 * - Tencent's code for a message that was already recalled: none is documented for groups (C2C has
 *   20023), so no group answer is read as `already_recalled`; a second recall reports Tencent's
 *   code as `failed`.
 * - A successful reply (ErrorCode 0) without a `RecallRetList` entry for our MsgSeq: taken as
 *   `recalled` (the request succeeded and named no failure for it).
 * - Whether the per-message RetCode 10002 is retryable like the top-level one: retried.
 * - Whether 10006 (rate limited) clears on retry: retried with backoff, like 91000.
 *
 * One message per call (the webhook gives one), so the per-message result is the call's result.
 */

export const GROUP_MSG_RECALL_PATH = '/v4/group_open_http_svc/group_msg_recall';
/** Group API: internal error, retry. */
export const ERROR_GROUP_INTERNAL_RETRY = 10002;
/** Group API: operation rate limited. */
export const ERROR_GROUP_RATE_LIMITED = 10006;
/** Codes worth another attempt (top-level ErrorCode or per-message RetCode). */
export const GROUP_RETRYABLE: ReadonlySet<number> = new Set([
  ERROR_INTERNAL_RETRY,
  ERROR_GROUP_INTERNAL_RETRY,
  ERROR_GROUP_RATE_LIMITED,
]);

export interface GroupRecallTarget {
  GroupId: string;
  /** Unsigned 32-bit, as the webhook gave it. */
  MsgSeq: number;
  /** Topic-enabled communities only. */
  TopicId?: string;
}

export class GroupRecallClient extends AdminRecallClient<GroupRecallTarget> {
  constructor(options: RecallClientOptions) {
    super(GROUP_MSG_RECALL_PATH, options);
  }

  protected body(target: GroupRecallTarget): string {
    return JSON.stringify({
      GroupId: target.GroupId,
      MsgSeqList: [{ MsgSeq: target.MsgSeq }],
      ...(target.TopicId !== undefined && target.TopicId !== '' ? { TopicId: target.TopicId } : {}),
    });
  }

  protected interpret(
    code: number,
    info: string,
    reply: TencentReply,
    target: GroupRecallTarget,
  ): Attempt {
    if (code !== 0) return tencentFailure(code, info, GROUP_RETRYABLE);
    const list = Array.isArray(reply.RecallRetList) ? (reply.RecallRetList as unknown[]) : [];
    const mine = list.find(
      (r): r is { RetCode?: unknown } =>
        r !== null && typeof r === 'object' && (r as { MsgSeq?: unknown }).MsgSeq === target.MsgSeq,
    );
    const ret = mine?.RetCode;
    if (mine === undefined || ret === 0) {
      return { kind: 'done', result: { outcome: 'recalled' }, call: 'ok' };
    }
    if (typeof ret !== 'number') {
      return {
        kind: 'retry',
        errorInfo: 'RecallRetList entry has no numeric RetCode',
        call: 'bad_reply',
      };
    }
    const retInfo = info === '' ? `RetCode ${ret} for MsgSeq ${target.MsgSeq}` : info;
    return tencentFailure(ret, retInfo, GROUP_RETRYABLE);
  }
}
