/**
 * Line plots as SVG text, for the result pages: `pocketrec report` writes them next to the
 * markdown that embeds them, so a figure is regenerated with its numbers by the same
 * command. Plain strings, no plotting library: chart.js needs a canvas, which Node has not,
 * and a page of a few lines and markers does not need one.
 */

export interface PlotPoint {
  x: number;
  y: number;
  /** Shown on hover (an SVG <title>). */
  label?: string;
}

export type PlotMarker = 'circle' | 'square' | 'diamond' | 'triangle';

export interface PlotSeries {
  name: string;
  points: readonly PlotPoint[];
  /** 'line': the points joined in order of x; 'points': markers alone (one model each). */
  kind: 'line' | 'points';
  color: string;
  dashed?: boolean;
  marker?: PlotMarker;
}

export interface Plot {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Log scale on x, ticks at powers of this base (2 for bytes); absent: linear. */
  xLogBase?: number;
  formatX?: (value: number) => string;
  formatY?: (value: number) => string;
  /** Bounds the y axis never goes past, however it is padded (AUC: [0, 1]). */
  yBounds?: [number, number];
  series: readonly PlotSeries[];
}

export const PLOT_DEFAULTS = {
  width: 840,
  height: 480,
  margin: { top: 44, right: 290, bottom: 58, left: 72 },
  font: 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif',
  fontSize: 12,
  /** The most ticks on an axis. */
  ticks: 8,
  markerRadius: 4,
  legendRowHeight: 20,
  /** Legend names past this many characters are cut (the full name is in the tooltip). */
  legendChars: 34,
};

/** Okabe and Ito's colour-blind-safe palette (yellow left out: it vanishes on white). */
export const PLOT_PALETTE = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#000000',
] as const;

export const PLOT_MARKERS: readonly PlotMarker[] = ['circle', 'square', 'diamond', 'triangle'];

type Settings = typeof PLOT_DEFAULTS;

/** One axis: where values go, and the ticks to label. */
interface Axis {
  toPixel(value: number): number;
  ticks: number[];
}

export function plotSvg(plot: Plot, settings: Settings = PLOT_DEFAULTS): string {
  const { width, height, margin } = settings;
  const frame = {
    left: margin.left,
    right: width - margin.right,
    top: margin.top,
    bottom: height - margin.bottom,
  };
  const points = plot.series.flatMap((s) => s.points);
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const x =
    plot.xLogBase === undefined
      ? linearAxis(xs, [frame.left, frame.right], settings.ticks)
      : logAxis(xs, plot.xLogBase, [frame.left, frame.right], settings.ticks);
  const y = linearAxis(ys, [frame.bottom, frame.top], settings.ticks, plot.yBounds);
  const formatX = plot.formatX ?? defaultFormat(x.ticks);
  const formatY = plot.formatY ?? defaultFormat(y.ticks);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${escapeXml(settings.font)}" font-size="${settings.fontSize}">`,
    `<title>${escapeXml(plot.title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${frame.left}" y="${margin.top / 2 + 4}" font-size="${settings.fontSize + 3}" font-weight="bold">${escapeXml(plot.title)}</text>`,
    ...axes(plot, frame, { x, y, formatX, formatY }, settings),
    ...plot.series.map((s) => seriesSvg(s, x, y, settings)),
    ...legend(plot.series, frame, settings),
    '</svg>',
    '',
  ].join('\n');
}

type Frame = { left: number; right: number; top: number; bottom: number };

function axes(
  plot: Plot,
  frame: Frame,
  a: { x: Axis; y: Axis; formatX: (v: number) => string; formatY: (v: number) => string },
  settings: Settings,
): string[] {
  const grid = 'stroke="#e0e0e0" stroke-width="1"';
  const xTicks = a.x.ticks.map((t) => {
    const px = n(a.x.toPixel(t));
    return `<line x1="${px}" y1="${frame.top}" x2="${px}" y2="${frame.bottom}" ${grid}/><text x="${px}" y="${frame.bottom + 16}" text-anchor="middle">${escapeXml(a.formatX(t))}</text>`;
  });
  const yTicks = a.y.ticks.map((t) => {
    const py = n(a.y.toPixel(t));
    return `<line x1="${frame.left}" y1="${py}" x2="${frame.right}" y2="${py}" ${grid}/><text x="${frame.left - 6}" y="${n(a.y.toPixel(t) + 4)}" text-anchor="end">${escapeXml(a.formatY(t))}</text>`;
  });
  const midX = n((frame.left + frame.right) / 2);
  const midY = n((frame.top + frame.bottom) / 2);
  const labelSize = settings.fontSize + 1;
  return [
    '<g class="axes">',
    ...xTicks,
    ...yTicks,
    `<rect x="${frame.left}" y="${frame.top}" width="${frame.right - frame.left}" height="${frame.bottom - frame.top}" fill="none" stroke="#333333"/>`,
    `<text x="${midX}" y="${frame.bottom + 40}" text-anchor="middle" font-size="${labelSize}">${escapeXml(plot.xLabel)}</text>`,
    `<text x="${frame.left - 54}" y="${midY}" text-anchor="middle" font-size="${labelSize}" transform="rotate(-90 ${frame.left - 54} ${midY})">${escapeXml(plot.yLabel)}</text>`,
    '</g>',
  ];
}

function seriesSvg(series: PlotSeries, x: Axis, y: Axis, settings: Settings): string {
  const sorted = [...series.points].sort((a, b) => a.x - b.x);
  const at = (p: PlotPoint) => [x.toPixel(p.x), y.toPixel(p.y)] as const;
  const line =
    series.kind === 'line'
      ? `<polyline points="${sorted.map((p) => at(p).map(n).join(',')).join(' ')}" fill="none" stroke="${series.color}" stroke-width="2"${series.dashed ? ' stroke-dasharray="6 4"' : ''}/>`
      : '';
  const markers = sorted.map((p) => {
    const [px, py] = at(p);
    const tip = p.label ?? `${series.name}: ${p.x}, ${p.y}`;
    return `${marker(series.marker ?? 'circle', px, py, settings.markerRadius, series.color)}<title>${escapeXml(tip)}</title></g>`;
  });
  return [
    `<g class="series" data-series="${escapeXml(series.name)}">`,
    ...(line ? [line] : []),
    ...markers,
    '</g>',
  ].join('\n');
}

/** A marker opened as a <g> (its tooltip goes inside; the caller closes it). */
function marker(kind: PlotMarker, x: number, y: number, r: number, color: string): string {
  const paint = `fill="${color}" stroke="#ffffff" stroke-width="1"`;
  const shape = {
    circle: `<circle cx="${n(x)}" cy="${n(y)}" r="${r}" ${paint}/>`,
    square: `<rect x="${n(x - r)}" y="${n(y - r)}" width="${2 * r}" height="${2 * r}" ${paint}/>`,
    diamond: `<polygon points="${n(x)},${n(y - r * 1.3)} ${n(x + r * 1.3)},${n(y)} ${n(x)},${n(y + r * 1.3)} ${n(x - r * 1.3)},${n(y)}" ${paint}/>`,
    triangle: `<polygon points="${n(x)},${n(y - r * 1.3)} ${n(x + r * 1.2)},${n(y + r)} ${n(x - r * 1.2)},${n(y + r)}" ${paint}/>`,
  }[kind];
  return `<g>${shape}`;
}

function legend(series: readonly PlotSeries[], frame: Frame, settings: Settings): string[] {
  const left = frame.right + 16;
  return [
    '<g class="legend">',
    ...series.map((s, i) => {
      const y = frame.top + 8 + i * settings.legendRowHeight;
      const sample =
        s.kind === 'line'
          ? `<line x1="${left}" y1="${y}" x2="${left + 28}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`
          : '';
      const name =
        s.name.length > settings.legendChars
          ? `${s.name.slice(0, settings.legendChars - 1)}…`
          : s.name;
      return `${sample}${marker(s.marker ?? 'circle', left + 14, y, settings.markerRadius, s.color)}<title>${escapeXml(s.name)}</title></g><text x="${left + 36}" y="${y + 4}">${escapeXml(name)}</text>`;
    }),
    '</g>',
  ];
}

/** Ticks at round steps (1, 2 or 5 times a power of ten) covering the values. */
function linearAxis(
  values: readonly number[],
  pixels: [number, number],
  most: number,
  bounds: [number, number] = [-Infinity, Infinity],
): Axis {
  let [lo, hi] = extent(values, [0, 1]);
  // One value (or all equal) still needs a span to place it in.
  const pad = hi - lo < 1e-12 ? Math.max(Math.abs(lo) * 0.01, 0.01) : (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const step = niceStep((hi - lo) / Math.max(1, most - 1));
  const start = Math.max(bounds[0], Math.floor(lo / step) * step);
  const end = Math.min(bounds[1], Math.ceil(hi / step) * step);
  const ticks: number[] = [];
  for (let t = start; t <= end + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { toPixel: scale(start, end, pixels), ticks };
}

function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/**
 * Tick mantissas on a log axis, sparsest first: a narrow range (the pruned models of one
 * data set often differ by less than 2x) gets ticks between the powers of the base.
 */
const LOG_TICK_MANTISSAS: Record<number, readonly (readonly number[])[]> = {
  2: [[1], [1, 1.5], [1, 1.25, 1.5, 1.75]],
  10: [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]],
};
/** Fewer ticks than this on a log axis, and round linear steps are used instead. */
const MIN_LOG_TICKS = 4;

/** The values' range padded in log space, ticks at mantissas times powers of `base`. */
function logAxis(
  values: readonly number[],
  base: number,
  pixels: [number, number],
  most: number,
): Axis {
  const log = (v: number) => Math.log(v) / Math.log(base);
  const [lo, hi] = extent(
    values.filter((v) => v > 0),
    [1, base],
  ).map(log) as [number, number];
  const pad = Math.max((hi - lo) * 0.06, 0.05);
  const [from, to] = [lo - pad, hi + pad];
  const inside = (t: number) => t > 0 && log(t) >= from && log(t) <= to;
  let ticks: number[] = [];
  for (const mantissas of LOG_TICK_MANTISSAS[base] ?? [[1]]) {
    ticks = [];
    for (let k = Math.floor(from); k <= Math.ceil(to); k++) {
      for (const m of mantissas) ticks.push(m * base ** k);
    }
    ticks = ticks.filter(inside);
    if (ticks.length >= MIN_LOG_TICKS) break;
  }
  if (ticks.length < MIN_LOG_TICKS) ticks = unitSteps(base ** from, base ** to, base, most);
  const every = Math.max(1, Math.ceil(ticks.length / most));
  const toLog = scale(from, to, pixels);
  return {
    toPixel: (v) => toLog(log(Math.max(v, base ** from))),
    ticks: ticks.filter(inside).filter((_, i) => i % every === 0),
  };
}

/**
 * Round linear steps over a range too narrow for log ticks, round in the unit the values
 * are read in: for base 2 (bytes) a power of 1024, so 1.45 MiB rather than 1,520,435 B.
 */
function unitSteps(lo: number, hi: number, base: number, most: number): number[] {
  const unit = base === 2 ? 1024 ** Math.max(0, Math.floor(Math.log(hi) / Math.log(1024))) : 1;
  const step = niceStep((hi - lo) / unit / Math.max(1, most - 1)) * unit;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) ticks.push(t);
  return ticks;
}

function extent(values: readonly number[], empty: [number, number]): [number, number] {
  const finite = values.filter(Number.isFinite);
  return finite.length === 0 ? empty : [Math.min(...finite), Math.max(...finite)];
}

function scale(from: number, to: number, [a, b]: [number, number]): (v: number) => number {
  const span = to - from || 1;
  return (v) => a + ((v - from) / span) * (b - a);
}

function defaultFormat(ticks: readonly number[]): (v: number) => string {
  const step = ticks.length > 1 ? Math.abs((ticks[1] as number) - (ticks[0] as number)) : 1;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return (v) => v.toFixed(decimals);
}

/** Bytes as a short tick label: 512 B, 16 KiB, 1.5 MiB. */
export function compactBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(2))} ${units[unit]}`;
}

const n = (v: number) => (Math.round(v * 10) / 10).toString();

/** Names come from model packages: whatever their makers wrote must stay text. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );
}
