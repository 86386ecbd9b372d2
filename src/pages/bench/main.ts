/**
 * bench.html: reads the run from the URL into the form, runs it when asked (`run=1`, or
 * the form's Run), and shows the report (table, charts, where it ran), with reports from
 * other browsers loaded beside it.
 *
 * `window.pocketrecBench` is how `npm run bench:browsers` and the tests drive the page:
 * `start({ sessions, flags })` runs the URL's parameters with the given sessions, and
 * `document.body.dataset.state` goes loading -> idle -> running -> done | failed.
 */
import { headlines } from './compare.ts';
import { type CtrBenchRow, parseCtrParams, renderCtrTable, runCtrBench } from './ctr-bench.ts';
import { fillForm, formToSearch } from './form.ts';
import { BenchParamError, DEFAULT_PARAMS, parseParams } from './params.ts';
import type { BenchReport } from './report.ts';
import { downloadReport, readReports } from './report-io.ts';
import { renderComparison, renderEnvironments } from './results-table.ts';
import { type RunOptions, runBench } from './run.ts';

type State = 'idle' | 'running' | 'done' | 'failed';

interface BenchApi {
  state: State;
  report: BenchReport | null;
  error: string | null;
  log: string[];
  start(options?: Pick<RunOptions, 'sessions' | 'flags'>): Promise<void>;
  /** The CTR section (ctr-bench.ts): its own state, rows and start. */
  ctr: { state: State; rows: CtrBenchRow[]; error: string | null; start(): Promise<void> };
}

declare global {
  interface Window {
    pocketrecBench: BenchApi;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('params');
const paramError = $<HTMLParagraphElement>('param-error');
const logView = $<HTMLPreElement>('log');

let parsed: ReturnType<typeof parseParams>;
try {
  parsed = parseParams(new URLSearchParams(location.search));
} catch (error) {
  paramError.textContent = (error as Error).message;
  paramError.hidden = false;
  parsed = { params: DEFAULT_PARAMS, autorun: false };
}
const { params, autorun } = parsed;
fillForm(form, params);
let ctrRun: ReturnType<typeof parseCtrParams> = null;
try {
  ctrRun = parseCtrParams(new URLSearchParams(location.search), params.backends);
} catch (error) {
  paramError.textContent = (error as Error).message;
  paramError.hidden = false;
}

let current: BenchReport | null = null;
let loaded: BenchReport[] = [];

function setState(state: State): void {
  api.state = state;
  document.body.dataset.state = state;
}

function log(line: string): void {
  const stamped = `${(performance.now() / 1000).toFixed(1).padStart(7)} s  ${line}`;
  api.log.push(stamped);
  logView.textContent += `${stamped}\n`;
}

async function render(): Promise<void> {
  const reports = [...(current ? [current] : []), ...loaded];
  if (reports.length === 0) return;
  $('results').hidden = false;
  renderComparison($<HTMLTableElement>('table'), reports);
  renderEnvironments($<HTMLTableElement>('environment'), reports);
  $('headline').replaceChildren(
    ...headlines(reports).map((text) =>
      Object.assign(document.createElement('li'), { textContent: text }),
    ),
  );
  $('notes').replaceChildren(
    ...[...new Set(reports.flatMap((r) => r.notes))].map((text) =>
      Object.assign(document.createElement('li'), { textContent: text }),
    ),
  );
  // Chart.js is only loaded once there is something to draw.
  const { renderCharts } = await import('./charts.ts');
  renderCharts(reports);
}

const api: BenchApi = {
  state: 'idle',
  report: null,
  error: null,
  log: [],
  async start(options = {}) {
    if (api.state === 'running') throw new Error('a run is already in progress');
    setState('running');
    $('progress').hidden = false;
    try {
      current = await runBench(params, { ...options, log });
      api.report = current;
      ($('download') as HTMLButtonElement).disabled = false;
      log(`done: correctness ${current.correctness.passed ? 'passed' : 'FAILED'}`);
      await render();
      setState('done');
    } catch (error) {
      api.error = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error);
      log(`failed: ${api.error}`);
      setState('failed');
    }
  },
  ctr: {
    state: 'idle',
    rows: [],
    error: null,
    async start() {
      if (!ctrRun) throw new Error('no CTR packages: add ?ctr=<package URL>,... to the address');
      const ctr = api.ctr;
      ctr.state = 'running';
      document.body.dataset.ctrState = 'running';
      $('ctr').hidden = false;
      $('progress').hidden = false;
      try {
        ctr.rows = await runCtrBench(ctrRun.params, log);
        renderCtrTable($<HTMLTableElement>('ctr-table'), ctr.rows);
        ctr.state = 'done';
      } catch (error) {
        ctr.error = error instanceof Error ? error.message : String(error);
        log(`ctr failed: ${ctr.error}`);
        ctr.state = 'failed';
      }
      document.body.dataset.ctrState = ctr.state;
    },
  },
};
window.pocketrecBench = api;

form.addEventListener('submit', (event) => {
  event.preventDefault();
  try {
    location.search = formToSearch(form).toString();
  } catch (error) {
    if (!(error instanceof BenchParamError)) throw error;
    paramError.textContent = error.message;
    paramError.hidden = false;
  }
});

$('download').addEventListener('click', () => {
  if (current) downloadReport(current);
});

$<HTMLInputElement>('load').addEventListener('change', async (event) => {
  const input = event.target as HTMLInputElement;
  try {
    loaded = [...loaded, ...(await readReports(input.files ?? []))];
    paramError.hidden = true;
    await render();
  } catch (error) {
    paramError.textContent = (error as Error).message;
    paramError.hidden = false;
  }
  input.value = '';
});

setState('idle');
if (ctrRun) {
  $('ctr').hidden = false;
  $('ctr-packages').textContent = ctrRun.params.packages.join(', ');
  $('ctr-run').addEventListener('click', () => void api.ctr.start());
}
if (autorun && paramError.hidden) void api.start();
else if (ctrRun?.autorun) void api.ctr.start();
