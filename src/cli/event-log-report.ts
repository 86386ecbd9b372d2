/**
 * What loading an event log read, dropped and counted, as rows of text: `data stats` shows
 * them in its table, `train` and `distill` before they start, so that nothing a shop's log
 * loses on the way to the model goes unsaid.
 */
import type { EventLogReport } from '../data/index.ts';
import { type Output, table } from './output.ts';
import type { TrainingData } from './training-data.ts';

const n = (x: number): string => x.toLocaleString('en-US');

export function eventLogRows(report: EventLogReport): [string, string][] {
  const { lines, built, settings } = report;
  const groups = report.kind === 'session' ? 'sessions' : 'users';
  const skipped = Object.entries(lines.skipped);
  const skippedTotal = skipped.reduce((sum, [, count]) => sum + count, 0);
  const byEvent = Object.entries(lines.byEvent).map(([type, count]) => `${type} ${n(count)}`);
  const rows: [string, string][] = [
    ['log', `${report.file} (${report.syntax}), sha256 ${report.sha256.slice(0, 12)}`],
    [
      'columns',
      `${report.columns.read.join(', ')}; ignored: ${report.columns.ignored.join(', ') || 'none'}`,
    ],
    [
      'lines',
      `${n(lines.records)} records, ${n(lines.blankLines)} blank, ${n(skippedTotal)} skipped as bad` +
        (skipped.length > 0
          ? ` (${skipped.map(([why, count]) => `${why} ${n(count)}`).join(', ')})`
          : ''),
    ],
    ...lines.skippedExamples.map((message, i): [string, string] => [
      i === 0 ? 'skipped, e.g.' : '',
      message,
    ]),
    [
      'events',
      `${n(lines.records - skippedTotal)} read` +
        (byEvent.length > 0 ? ` (${byEvent.join(', ')})` : '') +
        `, ${n(lines.notInEvents)} not in --events ${settings.events.join(',')}, ` +
        `${n(lines.zeroWeight)} of weight 0, ${n(lines.events)} kept; ` +
        `${n(built.repeatsMerged)} repeated the item just before and were merged into it`,
    ],
    [
      'items',
      `${n(built.items.inLog)} in the log, ${n(built.items.belowMinCount)} with fewer than ` +
        `${settings.minItemCount} events dropped (${n(built.items.belowMinCountSteps)} events), ` +
        `${n(built.items.onlyInShortSequences)} only in dropped ${groups}, ${n(built.items.kept)} kept`,
    ],
    [
      groups,
      `${n(built.sequences.inLog)} in the log, ${n(built.sequences.tooShort)} left with fewer than ` +
        `${settings.minSequenceLength} events dropped (${n(built.sequences.tooShortSteps)} events), ` +
        `${n(built.sequences.kept)} kept`,
    ],
    ['time', `${report.timeSpan.first} to ${report.timeSpan.last}`],
  ];
  if (report.split) {
    const { testFrom, trainSessions, testSessions } = report.split;
    rows.push([
      'split',
      `${n(testSessions)} sessions ending from ${testFrom} on are the test set, ${n(trainSessions)} train`,
    ]);
  }
  return rows;
}

/** An event log's counts before training starts, on stderr with the epochs (none with --json). */
export function showEventLog(
  data: TrainingData,
  options: { json?: boolean },
  output: Output,
): void {
  if (data.log && !options.json) {
    output.err(`data set ${data.dataset}:\n${table(eventLogRows(data.log))}`);
  }
}
