import pino from 'pino';

export type Logger = pino.Logger;

/**
 * JSON logs on stdout (or on `destination`: tests read them). Callers never pass message text or
 * CloudCustomData (users' private content); as a second guard those keys are redacted wherever
 * they appear.
 */
export function createLogger(
  opts: { level: string; name?: string },
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    name: opts.name ?? 'tim-kafka-bridge',
    level: opts.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: ['*.Text', '*.CloudCustomData', '*.MsgBody', 'body', '*.body'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * Process warnings go to the JSON log instead of bare stderr lines. KafkaJS 2.2.4 schedules a
 * timer with a negative delay in its request queue (harmless: Node clamps it to 1 ms), which
 * Node 24 reports as a TimeoutNegativeWarning on every connection; that one is dropped.
 */
export function routeProcessWarnings(logger: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name === 'TimeoutNegativeWarning') return;
    logger.warn({ warning: w.name, stack: w.stack }, w.message);
  });
}
