/**
 * Helpers for the tests that keep generated text (`npm run config:docs`) equal to the code: the
 * text between two marker lines, and a Markdown table (or whitespace-aligned lines) as cells,
 * since Prettier pads columns.
 */
export function between(doc: string, start: string, end: string): string | undefined {
  const a = doc.indexOf(`${start}\n`);
  const b = doc.indexOf(`\n${end}`, a);
  return a < 0 || b < 0 ? undefined : doc.slice(a + start.length + 1, b);
}

export function tableCells(md: string): string[][] {
  return md
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.split('|').map((c) => (/^\s*-+\s*$/.test(c) ? '---' : c.trim())));
}

export function columns(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => line.trim().split(/\s+/));
}
