/**
 * OptPlatform as a bounded metric label: Tencent's documented values under one spelling each
 * (it sends both `iOS` and `IOS`, `Mac` and `macOS`, `iPad` and `IPad`), `none` when absent and
 * `other` for anything else, so that label cardinality cannot grow with what clients send.
 */
const CANONICAL: Record<string, string> = {
  restapi: 'RESTAPI',
  web: 'Web',
  android: 'Android',
  ios: 'iOS',
  windows: 'Windows',
  mac: 'Mac',
  macos: 'Mac',
  ipad: 'iPad',
  unknown: 'Unknown',
};

export function platformLabel(optPlatform: string | undefined): string {
  if (optPlatform === undefined || optPlatform === '') return 'none';
  return CANONICAL[optPlatform.toLowerCase()] ?? 'other';
}

/** Every value platformLabel() can return: the bounded set of `platform` label values. */
export const PLATFORM_LABELS: readonly string[] = [
  ...new Set(Object.values(CANONICAL)),
  'none',
  'other',
];
