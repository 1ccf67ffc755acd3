import { BRIDGE_PROBE_IGNORES, BRIDGE_READINESS_PROBE_PATH, evaluateReadiness } from './readiness';

const check = (name: string, problem?: string) => ({ name, check: () => problem });

test('strict: every check passes; ready: every check but the ignored ones', () => {
  const checks = [check('shutdown'), check('kafka', 'Kafka is away'), check('spool')];
  expect(evaluateReadiness(checks, new Set(['kafka']))).toEqual({
    ready: true,
    strict: false,
    checks: { shutdown: 'ok', kafka: 'Kafka is away', spool: 'ok' },
  });
  expect(evaluateReadiness(checks)).toMatchObject({ ready: false, strict: false });
  const full = [...checks, check('listening', 'not yet')];
  expect(evaluateReadiness(full, new Set(['kafka']))).toMatchObject({
    ready: false,
    strict: false,
  });
  expect(evaluateReadiness([check('kafka')], new Set(['kafka']))).toMatchObject({
    ready: true,
    strict: true,
  });
});

test("the bridge's probe path is /readyz with the ignored checks", () => {
  expect(BRIDGE_PROBE_IGNORES).toEqual(['kafka']);
  const url = new URL(BRIDGE_READINESS_PROBE_PATH, 'http://x');
  expect(url.pathname).toBe('/readyz');
  expect(url.searchParams.get('ignore')?.split(',')).toEqual([...BRIDGE_PROBE_IGNORES]);
});
