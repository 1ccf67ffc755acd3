import { invalid } from '../errors';

/** Tencent's query string, read by name (its order differs between callbacks). */
export interface CallbackQuery {
  SdkAppid: string;
  CallbackCommand: string;
  contenttype?: string;
  ClientIP?: string;
  OptPlatform?: string;
  RequestTime?: string;
  Sign?: string;
}

const MAX_PARAM_LENGTH = 256;

/**
 * A command word as Tencent writes them (`C2C.CallbackAfterSendMsg`, `Bot.OnC2CMessage`): a family
 * and a name of letters and digits. Anything else is not a command, known or not.
 */
export const COMMAND_WORD = /^[A-Za-z][A-Za-z0-9]{0,31}(\.[A-Za-z][A-Za-z0-9_]{0,63}){1,2}$/;

function one(
  query: Record<string, unknown>,
  name: string,
  ...aliases: string[]
): string | undefined {
  for (const key of [name, ...aliases]) {
    const v = query[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw invalid(`query parameter ${name} must appear once`);
    if (v.length > MAX_PARAM_LENGTH) {
      throw invalid(`query parameter ${name} is longer than ${MAX_PARAM_LENGTH} characters`);
    }
    return v;
  }
  return undefined;
}

/** Validates the query of a callback; throws a 400 BridgeError naming the parameter. */
export function parseCallbackQuery(query: Record<string, unknown>): CallbackQuery {
  const SdkAppid = one(query, 'SdkAppid', 'SdkAppId');
  if (SdkAppid === undefined) throw invalid('query parameter SdkAppid is required');
  if (!/^\d{1,20}$/.test(SdkAppid)) throw invalid('query parameter SdkAppid must be a number');
  const CallbackCommand = one(query, 'CallbackCommand');
  if (CallbackCommand === undefined) throw invalid('query parameter CallbackCommand is required');
  if (!COMMAND_WORD.test(CallbackCommand)) {
    throw invalid(
      `query parameter CallbackCommand ${JSON.stringify(CallbackCommand)} is not a command word like C2C.CallbackAfterSendMsg`,
    );
  }
  const contenttype = one(query, 'contenttype');
  if (contenttype !== undefined && contenttype.toLowerCase() !== 'json') {
    throw invalid('query parameter contenttype must be json');
  }
  const out: CallbackQuery = { SdkAppid, CallbackCommand };
  const optional = ['contenttype', 'ClientIP', 'OptPlatform', 'RequestTime', 'Sign'] as const;
  for (const name of optional) {
    const v = name === 'contenttype' ? contenttype : one(query, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}
