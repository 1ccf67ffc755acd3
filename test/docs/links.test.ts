import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { githubSlug, headingAnchors, relativeLinks } from './markdown';

/**
 * The README and the docs/ pages link to each other and into the repository: every relative link
 * must reach an existing file or directory and, where it names an anchor in a Markdown page, an
 * existing heading of that page (GitHub's anchors).
 */
const ROOT = join(__dirname, '..', '..');
const PAGES = [
  'README.md',
  'CHANGELOG.md',
  'packages/client/README.md',
  'examples/README.md',
  ...['typescript', 'python', 'java', 'go'].map((lang) => `examples/${lang}/README.md`),
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

const anchorsOf = new Map<string, string[]>();
function anchors(file: string): string[] {
  let a = anchorsOf.get(file);
  if (!a) anchorsOf.set(file, (a = headingAnchors(readFileSync(file, 'utf8'))));
  return a;
}

/** What is wrong with each relative link of a page (empty: nothing). */
function brokenLinks(page: string, text = readFileSync(join(ROOT, page), 'utf8')): string[] {
  const file = join(ROOT, page);
  const problems: string[] = [];
  for (const { target, line } of relativeLinks(text)) {
    const hash = target.indexOf('#');
    const path = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
    const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const where = `${page}:${line} ${target}`;
    if (path === '') {
      // an anchor in the page itself
      if (!headingAnchors(text).includes(anchor ?? '')) problems.push(`${where}: no such heading`);
      continue;
    }
    const to = resolve(dirname(file), path);
    if (!existsSync(to)) {
      problems.push(`${where}: no ${relative(ROOT, to) || '.'}`);
      continue;
    }
    if (anchor === undefined || !to.endsWith('.md') || !statSync(to).isFile()) continue;
    if (!anchors(to).includes(anchor)) {
      problems.push(`${where}: no heading #${anchor} in ${relative(ROOT, to)}`);
    }
  }
  return problems;
}

test('the README and docs/ have the pages the README promises', () => {
  expect(PAGES).toEqual(
    expect.arrayContaining([
      'README.md',
      'docs/configuration.md',
      'docs/records.md',
      'docs/consumers.md',
      'docs/reliability.md',
      'docs/deploy.md',
      'docs/operate.md',
      'docs/performance.md',
      'docs/testing.md',
    ]),
  );
});

test.each(PAGES)('every relative link in %s reaches a file and a heading', (page) => {
  expect(brokenLinks(page)).toEqual([]);
});

describe('the checker itself', () => {
  test("anchors follow GitHub's rules", () => {
    expect(githubSlug('Runbook: TimBridgeNoCallbacks')).toBe('runbook-timbridgenocallbacks');
    expect(githubSlug('Runbook: a spool left behind by a scale-down')).toBe(
      'runbook-a-spool-left-behind-by-a-scale-down',
    );
    expect(githubSlug('Analytics (`c2c-analytics`)')).toBe('analytics-c2c-analytics');
    expect(githubSlug('At-least-once: dedupe by `MsgKey`')).toBe('at-least-once-dedupe-by-msgkey');
    expect(githubSlug('Keyed by `To_Account`, in order')).toBe('keyed-by-to_account-in-order');
    expect(githubSlug('Dependencies, and why')).toBe('dependencies-and-why');
    expect(headingAnchors('# A\n\n```sh\n# not a heading\n```\n\n## A\n### B.\n')).toEqual([
      'a',
      'a-1',
      'b',
    ]);
  });

  test('links in code and absolute links are not checked; the others are found', () => {
    const page = [
      'See [a](a.md#x), ![chart](../c.svg "title") and [site](https://example.com).',
      '`[not](code.md)` <http://example.com>',
      '```md',
      '[not](fenced.md)',
      '```',
      '[ref]: docs/b.md',
      '[here](#local)',
    ].join('\n');
    expect(relativeLinks(page)).toEqual([
      { target: 'a.md#x', line: 1 },
      { target: '../c.svg', line: 1 },
      { target: 'docs/b.md', line: 6 },
      { target: '#local', line: 7 },
    ]);
  });

  test('a missing file, a missing heading and a missing own heading are reported', () => {
    const page = [
      '# Here',
      '[ok](operate.md#runbook-timbridgenocallbacks) [ok](../k8s/) [ok](#here)',
      '[a](operate.md#runbook-timbridgenocallback)',
      '[b](../no-such-file.md)',
      '[c](#nowhere)',
    ].join('\n');
    expect(brokenLinks('docs/example.md', page)).toEqual([
      'docs/example.md:3 operate.md#runbook-timbridgenocallback: no heading #runbook-timbridgenocallback in docs/operate.md',
      'docs/example.md:4 ../no-such-file.md: no no-such-file.md',
      'docs/example.md:5 #nowhere: no such heading',
    ]);
  });
});
