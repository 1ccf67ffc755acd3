import { Kafka, logLevel, type LogEntry, type logCreator } from 'kafkajs';
import type { Logger } from '../observability/logger';

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
}

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** KafkaJS's log lines, routed to our JSON logger (they never carry record values). */
function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      logger[LEVELS[level] ?? 'info']({ kafka: extra }, `kafkajs: ${message}`);
    };
}

export function createKafka(opts: KafkaOptions): Kafka {
  return new Kafka({
    clientId: opts.clientId,
    brokers: opts.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(opts.logger),
    connectionTimeout: 3000,
    requestTimeout: 10000,
    retry: { initialRetryTime: 100, retries: 8, maxRetryTime: 5000 },
  });
}

export type { Kafka };
