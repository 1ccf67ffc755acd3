/**
 * What consumers of `c2c.after-send-msg` written in Node.js can reuse: decode a record by the
 * schema id in it, and turn it back into the exact callback JSON Tencent sent.
 */
export { Registry, type RegistryOptions } from './kafka/registry';
export { avroType, readWireHeader, MAGIC_BYTE } from './kafka/codec';
export { loadSchema, CALLBACK_SCHEMA_FILE } from './schemas';
export { buildSchemaModel } from './tencent/schema-model';
export { createRecordMapper, type CallbackRecordMapper } from './tencent/record';
export type { AfterSendMsgCallback, Envelope, MsgElement } from './tencent/callback';
export { HEADER_COMMAND, HEADER_SDKAPPID, DLQ_HEADERS } from './record-headers';
