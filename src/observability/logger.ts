import pino from 'pino';

export type Logger = pino.Logger;

/**
 * JSON logs on stdout. Callers never pass message text or CloudCustomData (users' private
 * content); as a second guard those keys are redacted wherever they appear.
 */
export function createLogger(opts: { level: string; name?: string }): Logger {
  return pino({
    name: opts.name ?? 'tim-kafka-bridge',
    level: opts.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: ['*.Text', '*.CloudCustomData', '*.MsgBody', 'body', '*.body'],
      censor: '[redacted]',
    },
  });
}
