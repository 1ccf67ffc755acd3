import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, STACK_DIR } from './stack';

/**
 * The partition Kafka's own Java client picks for each key (murmur2 of the UTF-8 key), computed
 * by kafka-clients itself through scripts/stack/StackProbe.java.
 */
export function javaPartitions(numPartitions: number, keys: string[]): Map<string, number> {
  const classpath = readFileSync(join(STACK_DIR, 'kafka.classpath'), 'utf8').trim();
  const out = execFileSync(
    'java',
    [
      '-cp',
      classpath,
      join(ROOT, 'scripts', 'stack', 'StackProbe.java'),
      'partition',
      String(numPartitions),
      ...keys,
    ],
    // the JVM decodes arguments with the locale's charset: make it UTF-8 for non-ASCII keys
    { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } },
  );
  const result = new Map<string, number>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const tab = line.lastIndexOf('\t');
    result.set(line.slice(0, tab), Number(line.slice(tab + 1)));
  }
  return result;
}
