// The history's two copies (history-sync.ts): whatever the page does between requests, the
// worker's copy after each update is the rows of the last `cap` events the model knows.
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../src/random.ts';
import { RuntimeError } from '../../../src/runtime/errors.ts';
import type { HistoryEvent } from '../../../src/runtime/history-store.ts';
import { HistoryCopy, HistoryMirror } from '../../../src/runtime/history-sync.ts';

const event = (item: string, ts = 0): HistoryEvent => ({ item, type: 'view', ts });
/** Items '1'..'9' are rows 1..9; 'x' is an item the model does not know. */
const rowOf = (item: string) => (item === 'x' ? undefined : Number(item));
/** Another model: the same items at other rows, and '9' gone. */
const otherRowOf = (item: string) => (item === 'x' || item === '9' ? undefined : 10 - Number(item));

function expected(events: HistoryEvent[], cap: number, rows: typeof rowOf): number[] {
  return events.slice(-cap).flatMap((e) => {
    const row = rows(e.item);
    return row === undefined ? [] : [row];
  });
}

describe('HistoryMirror and HistoryCopy', () => {
  it('keep the same rows through appends past the cap, clears, new models and lost requests', () => {
    const random = seededRandom(7);
    for (let trial = 0; trial < 50; trial++) {
      const cap = 1 + Math.floor(random() * 8);
      let events: HistoryEvent[] = [];
      let rows = rowOf;
      const mirror = new HistoryMirror([], cap, rows);
      let copy = new HistoryCopy();
      let deltas = 0;
      for (let step = 0; step < 200; step++) {
        const r = random();
        if (r < 0.55) {
          const e = event(random() < 0.15 ? 'x' : String(1 + Math.floor(random() * 9)), step);
          events.push(e);
          mirror.append(e);
        } else if (r < 0.58) {
          events = [];
          mirror.clear();
        } else if (r < 0.61) {
          rows = rows === rowOf ? otherRowOf : rowOf;
          mirror.reindex(rows);
        } else if (r < 0.64) {
          // A new worker: its copy is empty; the update is refused, then sent whole.
          copy = new HistoryCopy();
          const refused = mirror.next();
          if (refused.kind === 'delta') {
            expect(() => copy.apply(refused)).toThrow(RuntimeError);
            mirror.lost();
          } else {
            copy.apply(refused);
          }
        } else if (r < 0.67) {
          // A request lost on the way: the copy never saw it.
          mirror.next();
          mirror.lost();
        } else {
          const update = mirror.next();
          if (update.kind === 'delta') deltas++;
          expect(Array.from(copy.apply(update))).toEqual(expected(events, cap, rows));
        }
      }
      expect(deltas).toBeGreaterThan(0);
    }
  });

  it('sends one row for one event once the worker holds the history', () => {
    const mirror = new HistoryMirror([event('1'), event('2'), event('3')], 3, rowOf);
    const copy = new HistoryCopy();
    expect(mirror.next()).toMatchObject({ kind: 'whole', rows: Int32Array.of(1, 2, 3) });
    copy.apply({ kind: 'whole', rev: 1, rows: Int32Array.of(1, 2, 3) });
    mirror.append(event('4'));
    const update = mirror.next();
    expect(update).toEqual({ kind: 'delta', rev: 1, rows: Int32Array.of(4), drop: 1, length: 3 });
    expect(Array.from(copy.apply(update))).toEqual([2, 3, 4]);
  });

  it('refuses an update for a copy it does not hold, naming what it holds', () => {
    const copy = new HistoryCopy();
    const delta = { kind: 'delta', rev: 1, rows: Int32Array.of(4), drop: 0, length: 3 } as const;
    expect(() => copy.apply(delta)).toThrow(
      /copy of the history is none, not revision 1 of 2 rows/,
    );
    copy.apply({ kind: 'whole', rev: 2, rows: Int32Array.of(1, 2) });
    expect(() => copy.apply(delta)).toThrow(/revision 2 \(2 rows\), not revision 1/);
    // The right revision with a length that does not add up.
    expect(() => copy.apply({ ...delta, rev: 2, length: 4 })).toThrow(
      expect.objectContaining({ code: 'history-out-of-sync' }),
    );
    expect(Array.from(copy.apply({ ...delta, rev: 2 }))).toEqual([1, 2, 4]);
  });
});
