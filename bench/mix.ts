/**
 * The benchmark's callbacks: a realistic mix drawn from the real callback fixtures, to many
 * distinct recipients, each request with its own MsgKey. The generator lives in
 * `src/tools/callback-mix.ts`, shared with `npm run simulate`: one generator, not two.
 */
export {
  MIX,
  bodyOf,
  callbackTemplates,
  msgKeyOf,
  type CallbackTemplate,
} from '../src/tools/callback-mix';
