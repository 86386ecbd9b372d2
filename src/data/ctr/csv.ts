/**
 * Comma-separated CTR logs with a header (the DeepCTR Criteo and Avazu samples). The files
 * have no quoting, so a row is split on every comma, and an empty cell is a missing value.
 */
import { DataFormatError } from '../../errors.ts';
import { expectFieldCount, type Position, quote } from '../fields.ts';
import { GrowableInt32Array } from '../growable.ts';
import { readDataLines } from '../lines.ts';
import { Interner, type RawColumn, type RawTable } from './encode.ts';

/**
 * What a column becomes. 'yymmddhh' is Avazu's `hour` (14102100 = 2014-10-21, 00h): a raw
 * timestamp would be a new value on every test day, so it becomes two categorical fields,
 * `hour_of_day` (0..23) and `weekday` (0 = Sunday).
 */
export type CsvColumnRole = 'label' | 'drop' | 'categorical' | 'numeric' | 'yymmddhh';

export interface CsvLayout {
  /** Header names in file order, with their roles; exactly one is the label. */
  readonly columns: readonly (readonly [name: string, role: CsvColumnRole])[];
}

const range = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);

/** `label,I1..I13,C1..C26`: integer counts (written as floats) and hashed categories. */
export const CRITEO_LAYOUT: CsvLayout = {
  columns: [
    ['label', 'label'],
    ...range('I', 13).map((name) => [name, 'numeric'] as const),
    ...range('C', 26).map((name) => [name, 'categorical'] as const),
  ],
};

/** `id,click,hour,…`: the id is unique per row, so it would only teach the model noise. */
export const AVAZU_LAYOUT: CsvLayout = {
  columns: [
    ['id', 'drop'],
    ['click', 'label'],
    ['hour', 'yymmddhh'],
    ...[
      'C1',
      'banner_pos',
      'site_id',
      'site_domain',
      'site_category',
      'app_id',
      'app_domain',
      'app_category',
      'device_id',
      'device_ip',
      'device_model',
      'device_type',
      'device_conn_type',
      ...range('C', 21).slice(13),
    ].map((name) => [name, 'categorical'] as const),
  ],
};

/** Takes one cell of its column per row and hands back the finished field(s). */
interface ColumnReader {
  read(token: string, at: Position): void;
  finish(): RawColumn[];
}

export async function readCtrCsv(file: string, layout: CsvLayout): Promise<RawTable> {
  const names = layout.columns.map(([name]) => name);
  const labelColumn = layout.columns.findIndex(([, role]) => role === 'label');
  const readers = layout.columns.map(([name, role]) => columnReader(name, role));
  const labels = new GrowableInt32Array(1024);
  for await (const { text, number } of readDataLines(file, { header: names.join(',') })) {
    const at = { file, line: number };
    const cells = text.split(',');
    expectFieldCount(cells, names.length, 'the comma-separated columns of the header', at);
    labels.push(parseLabel(cells[labelColumn] as string, at));
    for (let c = 0; c < cells.length; c++) readers[c]?.read(cells[c] as string, at);
  }
  return {
    numRows: labels.length,
    labels: Uint8Array.from(labels.toArray()),
    columns: readers.flatMap((reader) => reader?.finish() ?? []),
  };
}

function columnReader(name: string, role: CsvColumnRole): ColumnReader | undefined {
  switch (role) {
    case 'label':
    case 'drop':
      return undefined;
    case 'categorical':
      return categoricalReader(name);
    case 'numeric':
      return numericReader(name);
    case 'yymmddhh':
      return yymmddhhReader(name);
  }
}

function categoricalReader(name: string): ColumnReader {
  const interner = new Interner<string>();
  const codes = new GrowableInt32Array(1024);
  return {
    read: (token) => codes.push(token.length === 0 ? -1 : interner.code(token)),
    finish: () => [
      {
        kind: 'categorical',
        name,
        codes: codes.toArray(),
        valueText: (code) => interner.valueAt(code),
      },
    ],
  };
}

/** Plain decimal numbers only: Number() would also take '0x1f', 'Infinity' or ' 3'. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function numericReader(name: string): ColumnReader {
  const values: number[] = [];
  return {
    read(token, at) {
      if (token.length === 0) {
        values.push(Number.NaN);
        return;
      }
      const value = DECIMAL.test(token) ? Number(token) : Number.NaN;
      if (!Number.isFinite(value)) {
        throw new DataFormatError(at.file, at.line, `${name} ${quote(token)} is not a number`);
      }
      values.push(value);
    },
    finish: () => [{ kind: 'numeric', name, values: Float64Array.from(values) }],
  };
}

function yymmddhhReader(name: string): ColumnReader {
  const hours = new GrowableInt32Array(1024);
  const weekdays = new GrowableInt32Array(1024);
  return {
    read(token, at) {
      const { hour, weekday } = parseYymmddhh(name, token, at);
      hours.push(hour);
      weekdays.push(weekday);
    },
    finish: () => [
      // The hour (0..23) and weekday (0 = Sunday) are their own codes.
      { kind: 'categorical', name: 'hour_of_day', codes: hours.toArray(), valueText: String },
      { kind: 'categorical', name: 'weekday', codes: weekdays.toArray(), valueText: String },
    ],
  };
}

function parseYymmddhh(name: string, token: string, at: Position) {
  const match = /^(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(token);
  const [year, month, day, hour] = (match?.slice(1) ?? []).map(Number);
  if (year === undefined || month === undefined || day === undefined || hour === undefined) {
    throw new DataFormatError(at.file, at.line, `${name} ${quote(token)} is not YYMMDDHH`);
  }
  const date = new Date(Date.UTC(2000 + year, month - 1, day));
  if (hour > 23 || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    throw new DataFormatError(at.file, at.line, `${name} ${quote(token)} is not a valid YYMMDDHH`);
  }
  return { hour, weekday: date.getUTCDay() };
}

function parseLabel(token: string, at: Position): 0 | 1 {
  if (token === '0') return 0;
  if (token === '1') return 1;
  throw new DataFormatError(at.file, at.line, `label ${quote(token)} is not 0 or 1`);
}
