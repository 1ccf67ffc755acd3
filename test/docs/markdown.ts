/**
 * Just enough Markdown for checking links: headings and the anchors GitHub gives them, and the
 * relative links of a page (fenced code blocks and code spans left out).
 */

const FENCE = /^\s{0,3}(`{3,}|~{3,})/;

/** Each line of a page, with fenced code blocks blanked (line numbers kept). */
function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const m = FENCE.exec(line);
    if (m) {
      const marker = m[1]!;
      if (fence === undefined) fence = marker;
      else if (marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

/**
 * GitHub's anchor for a heading: its text as rendered (code spans, links, emphasis and HTML
 * reduced to their text), lower-cased, punctuation dropped except '-' and '_', spaces to '-'.
 */
export function githubSlug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a page defines: its headings' (a repeated one gets -1, -2, ...) and HTML ids. */
export function headingAnchors(markdown: string): string[] {
  const seen = new Map<string, number>();
  const anchors: string[] = [];
  for (const line of proseLines(markdown)) {
    const h = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (h) {
      const slug = githubSlug(h[1]!);
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      anchors.push(n === 0 ? slug : `${slug}-${n}`);
    }
    for (const id of line.matchAll(/<a\s[^>]*(?:name|id)="([^"]+)"/g)) anchors.push(id[1]!);
  }
  return anchors;
}

export interface Link {
  /** the target as written, e.g. `../k8s/`, `operate.md#runbook`, `#the-record` */
  target: string;
  /** 1-based */
  line: number;
}

/**
 * The page's links and images whose target is relative (no scheme, not protocol-relative),
 * inline (`[text](target)`) and reference definitions (`[label]: target`).
 */
export function relativeLinks(markdown: string): Link[] {
  const links: Link[] = [];
  proseLines(markdown).forEach((raw, i) => {
    const line = raw.replace(/(`+)[\s\S]*?\1/g, '');
    const targets = [
      ...[...line.matchAll(/\]\(\s*<?([^()\s<>]+)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)].map(
        (m) => m[1]!,
      ),
      ...[...line.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g)].map((m) => m[1]!),
    ];
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue;
      links.push({ target, line: i + 1 });
    }
  });
  return links;
}
