import { ConfigError } from './config';
import type { Logger } from './observability/logger';

/**
 * What the bridge's and the consumers' processes share: the configuration read before anything
 * starts (exit 2 naming the bad variables), and SIGTERM/SIGINT handled as a graceful stop.
 */

export function loadConfigOrExit<C>(load: (env: NodeJS.ProcessEnv) => C, program: string): C {
  try {
    return load(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${program}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * The first SIGTERM or SIGINT runs `stop` and exits 0 when it is done (1 on an error, or when
 * `deadlineMs` passes first); a second signal exits 1 at once.
 */
export function stopOnSignals(opts: {
  logger: Logger;
  deadlineMs: number;
  stop: () => Promise<void>;
}): void {
  const { logger } = opts;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, deadlineMs: opts.deadlineMs }, 'stopping');
    setTimeout(() => {
      logger.error('grace period exceeded: exiting');
      process.exit(1);
    }, opts.deadlineMs).unref();
    opts.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
