/** Saving a report as a JSON file, and reading reports back from files to compare. */
import { type BenchReport, parseReport } from './report.ts';

/** bench-results style name: <browser>-<date>.json */
export function reportFileName(report: BenchReport): string {
  const browser = report.environment.browser.name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const date = report.createdAt.replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  return `${browser}-${date}.json`;
}

export function downloadReport(report: BenchReport): void {
  const blob = new Blob([`${JSON.stringify(report, null, 2)}\n`], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = reportFileName(report);
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Every file as a report; a file that is not one is an error naming it and why. */
export async function readReports(files: Iterable<File>): Promise<BenchReport[]> {
  const reports: BenchReport[] = [];
  for (const file of files) reports.push(parseReport(await file.text(), file.name));
  return reports;
}
