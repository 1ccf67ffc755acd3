/** Tencent's webhook reply bodies (see the reference file, §1). */

export const OK_REPLY = '{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}';

export function failReply(errorInfo: string): string {
  return JSON.stringify({ ActionStatus: 'FAIL', ErrorInfo: errorInfo, ErrorCode: 1 });
}
