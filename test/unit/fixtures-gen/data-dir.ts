/**
 * A generated stand-in for ../shared/data: every file of the data set registry
 * (src/data/datasets.ts) in its real format, small and made from a fixed pattern, so that
 * tests of loaders, commands and pipelines run on a clone with no data sets beside it
 * (`npm test`; the real files are for `npm run test:data`). Pass the directory with
 * `--data-dir` (or `{ dataDir }` to the loaders).
 *
 * The sequences are learnable on purpose: every user or session walks through consecutive
 * item ids, so a trained model beats MostPop, as the pipeline tests check.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, vi } from 'vitest';
import { AVAZU_LAYOUT, CRITEO_LAYOUT } from '../../../src/data/ctr/csv.ts';
import { DATA_DIR_ENV } from '../../../src/data/data-dir.ts';
import { FEATURE_MAP_HEADER, FRAPPE_LOG_HEADER } from '../../../src/data/frappe.ts';
import { RATINGS_CHRONO_HEADER } from '../../../src/data/ml1m.ts';
import { ITEM_MAP_HEADER } from '../../../src/data/sasrec.ts';

/** ML-1M's SASRec item count: packages made for 'ml-1m' in tests have this many items. */
export const GENERATED_ML1M_ITEMS = 3416;
/** Users of the generated 'ml-1m' (the pipeline slice trains on 300 of them). */
export const GENERATED_ML1M_USERS = 320;
/** The real item counts of Tmall and RetailRocket, which packages made for them in tests have. */
const SESSION_ITEMS = { 'tmall-odrec': 40_727, 'retailrocket-odrec': 36_968 };

/**
 * Writes the generated data sets into a new temporary directory, removed after the test file,
 * and returns its path.
 */
export function useGeneratedDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pocketrec-generated-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeGeneratedDataDir(dir);
  return dir;
}

/**
 * useGeneratedDataDir, made the default data directory of the test file (through
 * $POCKETREC_DATA_DIR), for command tests that name registry data sets without --data-dir.
 */
export function useGeneratedDataAsDefault(): string {
  const dir = useGeneratedDataDir();
  beforeAll(() => {
    vi.stubEnv(DATA_DIR_ENV, dir);
  });
  afterAll(() => {
    vi.unstubAllEnvs();
  });
  return dir;
}

export function writeGeneratedDataDir(dir: string): void {
  const write = (name: string, content: string | Uint8Array) => {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  };
  const lines = (rows: readonly string[]) => `${rows.join('\n')}\n`;

  // ML-1M, SASRec format: user u walks from its own start through consecutive items, so
  // item 3416 occurs; for every fifth user, every fourth step is one of the 8 most popular
  // items instead, so that MostPop finds a few test items too (about 1 in 15). The item map
  // sends item i to MovieID 2i (MovieIDs have gaps).
  const ml1m = walks(GENERATED_ML1M_USERS, GENERATED_ML1M_ITEMS, 24, 3).map((items, u) =>
    items.map((item, k) => (u % 5 === 0 && k % 4 === 3 ? ((u + k) % 8) + 1 : item)),
  );
  write(
    'ml-1m/ml-1m.sasrec_format.txt',
    lines(ml1m.flatMap((items, u) => items.map((item) => `${u + 1} ${item}`))),
  );
  const movieIds = Array.from({ length: GENERATED_ML1M_ITEMS }, (_, i) => 2 * (i + 1));
  write(
    'ml-1m/ml-1m.sasrec_format.itemmap.tsv',
    lines([ITEM_MAP_HEADER, ...movieIds.map((movie, i) => `${i + 1}\t${movie}`)]),
  );
  // The same histories as ratings (1..5 stars in turn) with the movies and users they name.
  write(
    'ml-1m/ratings_chrono.tsv',
    lines([
      RATINGS_CHRONO_HEADER,
      ...ml1m.flatMap((items, u) =>
        items.map((item, pos) => `${u + 1}\t${2 * item}\t${((u + pos) % 5) + 1}\t${pos}`),
      ),
    ]),
  );
  const genres = ['Action', 'Comedy', 'Drama', "Children's", 'Musical'];
  write(
    'ml-1m/movies.dat',
    Buffer.from(
      lines(
        movieIds.map(
          (movie, i) =>
            `${movie}::Movie ${movie} (${1950 + (i % 50)})::${genres[i % 5]}|${genres[(i + 2) % 5]}`,
        ),
      ),
      'latin1',
    ),
  );
  write(
    'ml-1m/users.dat',
    lines(
      ml1m.map(
        (_, u) =>
          `${u + 1}::${u % 2 === 0 ? 'F' : 'M'}::${[1, 18, 25, 35][u % 4]}::${u % 21}::${10000 + u}`,
      ),
    ),
  );

  // Amazon Games (SASRec pairs, no item map) and Beauty (S3-Rec lines).
  write(
    'amazon-games-sasrec/Video.txt',
    lines(walks(60, 150, 8, 1).flatMap((items, u) => items.map((item) => `${u + 1} ${item}`))),
  );
  write(
    'amazon-beauty-s3rec/Beauty.txt',
    lines(walks(60, 120, 6, 2).map((items, u) => `${u + 1} ${items.join(' ')}`)),
  );

  // Tmall and RetailRocket: training sessions, and test prefixes whose target is the next
  // item. Every other training session ends by returning to its first item: the real
  // sessions' next clicks often repeat one (what tune-repeats fits, and why their
  // validation leaves the history unmasked).
  for (const [dataset, numItems] of Object.entries(SESSION_ITEMS)) {
    const sessions = shortWalks(400, numItems, 5).map((items, s) =>
      s % 2 === 0 ? [...items, items[0] as number] : items,
    );
    write(`${dataset}/train_sessions.txt`, lines(sessions.map((items) => items.join(' '))));
    write(
      `${dataset}/test_prefix_target.txt`,
      lines(
        shortWalks(120, numItems, 4).map(
          (items) => `${items.slice(0, -1).join(' ')}\t${items.at(-1)}`,
        ),
      ),
    );
  }

  writeFrappe(write, lines);
  writeCtrSamples(write, lines);
}

/**
 * `users` walks over items 1..numItems: walk u starts where walk u-1 started plus
 * numItems / users (so together they cover every item) and has `minLength` + (u mod `spread`)
 * consecutive items, wrapping past the last item.
 */
function walks(users: number, numItems: number, minLength: number, spread: number): number[][] {
  return Array.from({ length: users }, (_, u) => {
    const start = Math.floor((u * numItems) / users);
    const length = Math.max(minLength + (u % spread), Math.ceil(numItems / users) + 1);
    return Array.from({ length }, (_, k) => ((start + k) % numItems) + 1);
  });
}

/**
 * `count` walks of `minLength` + (s mod 4) consecutive items spread over 1..numItems, the
 * first ending on item numItems (a data set's item count is its largest id).
 */
function shortWalks(count: number, numItems: number, minLength: number): number[][] {
  return Array.from({ length: count }, (_, s) => {
    const length = minLength + (s % 4);
    const start = s === 0 ? numItems - length : (s * 97) % (numItems - length);
    return Array.from({ length }, (_, k) => start + k + 1);
  });
}

type Write = (name: string, content: string) => void;
type Lines = (rows: readonly string[]) => string;

/**
 * frappe: 10 fields as in the real feature map; a user clicks the items next to its own
 * number (label 1) and not those half the catalogue away (label -1). 100 users, 36 contexts
 * each, a positive and a negative per context: 4,800 / 1,200 / 1,200 rows (the browser's CTR
 * test ranks 1,000 test rows). Some test rows hold values training never saw (items 40..49,
 * city 2), as real test splits do. CRLF line endings in validation and test, as in NFM's files.
 */
function writeFrappe(write: Write, lines: Lines): void {
  const users = 100;
  const fields: [name: string, values: readonly string[]][] = [
    ['user', range(users)],
    ['item', range(50)],
    ['daytime', ['morning', 'afternoon', 'evening']],
    ['weekday', ['monday', 'sunday']],
    ['isweekend', ['workday', 'weekend']],
    ['homework', ['unknown', 'home']],
    ['cost', ['free', 'paid']],
    ['weather', ['sunny', 'rainy']],
    ['country', ['United States', 'Spain']],
    ['city', ['0', '1', '2']],
  ];
  const starts: number[] = [];
  const mapRows: string[] = [FEATURE_MAP_HEADER];
  for (const [name, values] of fields) {
    starts.push(mapRows.length - 1);
    for (const value of values) mapRows.push(`${mapRows.length - 1}\t${name}\t${value}`);
  }
  write('frappe/frappe.libfm_feature_map.tsv', lines(mapRows));

  type Row = { label: number; codes: number[] };
  const splits: Record<'train' | 'validation' | 'test', Row[]> = {
    train: [],
    validation: [],
    test: [],
  };
  for (let user = 0; user < users; user++) {
    for (let k = 0; k < 36; k++) {
      const split = k % 6 < 4 ? 'train' : k % 6 === 4 ? 'validation' : 'test';
      const unseen = split === 'test' && user % 10 === 9;
      const city = split === 'test' && user % 10 === 3 ? 2 : k % 2;
      const context = [k % 3, k % 2, k % 2, (user + k) % 2, k % 2, user % 2, user % 2, city];
      const item = (2 * user + k) % 40;
      splits[split].push({ label: 1, codes: [user, unseen ? 40 + (k % 10) : item, ...context] });
      splits[split].push({ label: -1, codes: [user, (item + 20) % 40, ...context] });
    }
  }
  const libfm = (rows: readonly Row[]) =>
    lines(
      rows.map(
        ({ label, codes }) =>
          `${label} ${codes.map((c, f) => `${(starts[f] ?? 0) + c}:1`).join(' ')}`,
      ),
    );
  write('frappe/frappe.train.reconstructed.libfm', libfm(splits.train));
  write('frappe/frappe.validation.libfm', libfm(splits.validation).replaceAll('\n', '\r\n'));
  write('frappe/frappe.test.libfm', libfm(splits.test).replaceAll('\n', '\r\n'));
  const positives = [...splits.train, ...splits.validation, ...splits.test].filter(
    (row) => row.label === 1,
  );
  const logRow = ({ codes }: Row) =>
    [codes[0], codes[1], 1, ...codes.slice(2).map((c, f) => fields[f + 2]?.[1][c])].join('\t');
  write('frappe/frappe.csv', lines([FRAPPE_LOG_HEADER, ...positives.map(logRow)]));
}

/**
 * The DeepCTR Criteo (200 rows) and Avazu (100 rows) samples' layouts. The label follows
 * the first categorical column, so a model has something to learn; some numbers are missing.
 */
function writeCtrSamples(write: Write, lines: Lines): void {
  const header = (layout: typeof CRITEO_LAYOUT) => layout.columns.map(([name]) => name).join(',');
  const criteo = Array.from({ length: 200 }, (_, r) => {
    const label = r % 3 === 0 ? 1 : 0;
    const numbers = Array.from({ length: 13 }, (_, i) =>
      (r + i) % 7 === 0 ? '' : String((r * (i + 1)) % 50),
    );
    const categories = Array.from({ length: 26 }, (_, i) =>
      i === 0 ? `a${label}${r % 2}` : `c${(r + i) % (i + 2)}`,
    );
    return [label, ...numbers, ...categories].join(',');
  });
  write('ctr-small-samples/deepctr_criteo_sample.txt', lines([header(CRITEO_LAYOUT), ...criteo]));
  const avazu = Array.from({ length: 100 }, (_, r) => {
    const click = r % 4 === 0 ? 1 : 0;
    const hour = `141021${String(r % 24).padStart(2, '0')}`;
    const rest = Array.from({ length: 21 }, (_, i) =>
      i === 0 ? `s${click}` : `v${(r + i) % (i + 3)}`,
    );
    return [`${1000 + r}`, click, hour, ...rest].join(',');
  });
  write('ctr-small-samples/deepctr_avazu_sample.txt', lines([header(AVAZU_LAYOUT), ...avazu]));
}

function range(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String(i));
}
