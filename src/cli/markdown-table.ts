/** The markdown tables of `pocketrec report`'s pages. */

/** A table cell: package names and paths are whatever their makers chose. */
export const tableCell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s+/g, ' ');

/** A header row, its separator, the rows (each cell escaped) and a blank line. */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(tableCell).join(' | ')} |`),
    '',
  ];
}
