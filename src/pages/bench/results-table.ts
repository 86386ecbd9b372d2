/**
 * The results as HTML tables: the comparison (compare.ts's columns, one line per variant,
 * backend and report) and where each report ran.
 */
import { COLUMNS, comparisonLines } from './compare.ts';
import type { BenchReport } from './report.ts';

function cell(tag: 'td' | 'th', text: string, className?: string): HTMLElement {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

export function renderComparison(table: HTMLTableElement, reports: readonly BenchReport[]): void {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const column of COLUMNS) head.append(cell('th', column.header));
  const body = table.createTBody();
  for (const line of comparisonLines(reports)) {
    const tr = body.insertRow();
    if (line.row.status !== 'ok') tr.className = 'not-run';
    else if (line.row.correctness && !line.row.correctness.passed) tr.className = 'mismatch';
    for (const column of COLUMNS) {
      tr.append(cell('td', column.cell(line), column.numeric ? 'num' : undefined));
    }
  }
}

const yesNo = (x: boolean) => (x ? 'yes' : 'no');

export function renderEnvironments(table: HTMLTableElement, reports: readonly BenchReport[]) {
  const fields: [string, (r: BenchReport) => string][] = [
    ['browser', (r) => `${r.environment.browser.name} ${r.environment.browser.version}`],
    ['OS', (r) => r.environment.os],
    ['cores', (r) => String(r.environment.hardwareConcurrency ?? '-')],
    [
      'device memory',
      (r) => (r.environment.deviceMemoryGb ? `${r.environment.deviceMemoryGb} GiB` : '-'),
    ],
    ['cross-origin isolated', (r) => yesNo(r.environment.crossOriginIsolated)],
    [
      'WebAssembly',
      (r) => `SIMD ${yesNo(r.environment.wasm.simd)}, threads ${yesNo(r.environment.wasm.threads)}`,
    ],
    [
      'WebGPU adapter',
      (r) => {
        const w = r.environment.webgpu;
        if (!w.adapter) return `none (${w.reason})`;
        const a = w.adapter;
        const name = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' ');
        return `${name}${a.isFallbackAdapter ? ', fallback adapter' : ''}${w.software ? ': SOFTWARE, not a GPU' : ''}`;
      },
    ],
    ['JS heap exposed', (r) => yesNo(r.environment.jsHeapExposed)],
    ['timer step', (r) => `${r.environment.timerResolutionMs.toFixed(3)} ms`],
    ['flags', (r) => r.environment.flags.join(' ') || '(not known: opened by hand)'],
    ['tfjs', (r) => r.environment.tfjs],
    [
      'sessions',
      (r) =>
        `${r.sessions.count}, mean length ${r.sessions.meanLength.toFixed(1)}: ${r.sessions.source}`,
    ],
    [
      'runs',
      (r) => `${r.params.warmup} warm-up, ${r.params.runs} timed; catalogue ${r.params.catalogue}`,
    ],
    ['measured', (r) => `${r.createdAt} in ${(r.durationMs / 1000).toFixed(0)} s`],
  ];
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  head.append(cell('th', ''), ...reports.map((r) => cell('th', r.label)));
  const body = table.createTBody();
  for (const [name, value] of fields) {
    const tr = body.insertRow();
    tr.append(cell('th', name), ...reports.map((r) => cell('td', value(r))));
  }
}
