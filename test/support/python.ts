import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './stack';

/**
 * An independent Avro decoder (fastavro, not this project's code nor avsc) in a project-local
 * virtualenv, created on first use.
 */
const VENV = join(ROOT, '.venv');
const PYTHON = join(VENV, 'bin', 'python');
const FASTAVRO = 'fastavro==1.13.1';

export function ensurePythonTools(): void {
  if (existsSync(PYTHON)) {
    const ok = execFileSync(PYTHON, ['-c', 'import fastavro; print(fastavro.__version__)'], {
      encoding: 'utf8',
    }).trim();
    if (ok.length > 0) return;
  }
  process.stdout.write(`creating .venv with ${FASTAVRO} (independent Avro decoder for tests)\n`);
  execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
  execFileSync(PYTHON, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', FASTAVRO], {
    stdio: 'inherit',
  });
}

/**
 * Decodes Confluent-framed values with fastavro, fetching each writer schema from the registry
 * by the id in the value. Returns fastavro's view of each record (records of a union of records
 * come back as [name, value] pairs).
 */
export function fastavroDecode(registryUrl: string, values: Buffer[]): unknown[] {
  const out = execFileSync(PYTHON, [join(__dirname, 'fastavro_decode.py'), registryUrl], {
    input: JSON.stringify(values.map((v) => v.toString('base64'))),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as unknown[];
}
