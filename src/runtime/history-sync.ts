/**
 * The history a recommend answers from, kept on both sides of the worker boundary, so a
 * request carries what changed since the last one (usually one row) rather than the whole
 * history. The page's HistoryMirror holds the events (the stored history, read once, then
 * kept up to date by this tab's track() and other tabs' changes) and their rows in the
 * current model; the worker's HistoryCopy holds the rows it was last sent.
 *
 * An update names the revision of the copy it applies to. A copy the worker does not hold
 * (a new worker after a crash, a request lost on the way) is refused with
 * 'history-out-of-sync', and the page sends the whole history as a new revision: the copy
 * is never trusted beyond what both ends can check.
 */
import { RuntimeError } from './errors.ts';
import type { HistoryEvent } from './history-store.ts';

/** What a recommend request carries of the history (protocol.ts). */
export type HistoryUpdate =
  /** All the rows, oldest first: the worker's copy starts over as revision `rev`. */
  | { kind: 'whole'; rev: number; rows: Int32Array }
  /**
   * To the copy of revision `rev`: append `rows`, then drop the `drop` oldest (events past
   * the cap); `length` is what the copy must hold after, checked.
   */
  | { kind: 'delta'; rev: number; rows: Int32Array; drop: number; length: number };

/** The page's end: the stored history's events, their rows, and what the worker was sent. */
export class HistoryMirror {
  private events: HistoryEvent[];
  /** The rows of the events the model knows, oldest first: what the worker's copy must hold. */
  private rows: number[] = [];
  private rev = 0;
  /** Whether the worker holds revision `rev` (plus the changes below). */
  private synced = false;
  private appended: number[] = [];
  private dropped = 0;

  /**
   * `rowOf`: the current model's row of an item (undefined for one it does not know, whose
   * events stay stored but cannot be encoded).
   */
  constructor(
    events: readonly HistoryEvent[],
    private readonly cap: number,
    private rowOf: (item: string) => number | undefined,
  ) {
    this.events = events.slice(-cap);
    this.reindex(rowOf);
  }

  append(event: HistoryEvent): void {
    this.events.push(event);
    const row = this.rowOf(event.item);
    if (row !== undefined) {
      this.rows.push(row);
      this.appended.push(row);
    }
    const oldest = this.events.length > this.cap ? this.events.shift() : undefined;
    if (oldest && this.rowOf(oldest.item) !== undefined) {
      this.rows.shift();
      this.dropped++;
    }
    // Changes the worker will not be sent (it gets the whole history next) are not kept;
    // past the cap, the whole history is as cheap to send as the changes.
    if (!this.synced || this.appended.length > this.cap) this.forgetChanges();
  }

  private forgetChanges(): void {
    this.synced = false;
    this.appended = [];
    this.dropped = 0;
  }

  clear(): void {
    this.events = [];
    this.rows = [];
    this.forgetChanges();
  }

  /** A new model: its rows for the same events; the worker's copy is of the old ones. */
  reindex(rowOf: (item: string) => number | undefined): void {
    this.rowOf = rowOf;
    this.rows = this.events.flatMap((e) => {
      const row = rowOf(e.item);
      return row === undefined ? [] : [row];
    });
    this.forgetChanges();
  }

  /** The update the next request carries; from here the worker is taken to hold it. */
  next(): HistoryUpdate {
    let update: HistoryUpdate;
    if (this.synced) {
      update = {
        kind: 'delta',
        rev: this.rev,
        rows: Int32Array.from(this.appended),
        drop: this.dropped,
        length: this.rows.length,
      };
    } else {
      this.rev++;
      update = { kind: 'whole', rev: this.rev, rows: Int32Array.from(this.rows) };
      this.synced = true;
    }
    this.appended = [];
    this.dropped = 0;
    return update;
  }

  /** The request carrying the last update failed: the next one sends the whole history. */
  lost(): void {
    this.forgetChanges();
  }
}

/** The worker's end: the rows of the last update, and its revision. */
export class HistoryCopy {
  private rev: number | null = null;
  private rows: Int32Array = new Int32Array(0);

  /** The history after `update`; a copy that does not match is refused, not guessed at. */
  apply(update: HistoryUpdate): Int32Array {
    if (update.kind === 'whole') {
      this.rev = update.rev;
      this.rows = update.rows;
      return this.rows;
    }
    const held = this.rows.length;
    const { rows, drop, length } = update;
    if (update.rev !== this.rev || drop < 0 || length < 0 || length !== held + rows.length - drop) {
      const had = this.rev === null ? 'none' : `revision ${this.rev} (${held} rows)`;
      throw new RuntimeError(
        'history-out-of-sync',
        `the worker's copy of the history is ${had}, not revision ${update.rev} of ${length - rows.length + drop} rows; the page sends it whole`,
      );
    }
    // The old rows then the new, less the `drop` oldest of both.
    const next = new Int32Array(length);
    const oldKept = this.rows.subarray(Math.min(drop, held));
    next.set(oldKept, 0);
    next.set(rows.subarray(Math.max(0, drop - held)), oldKept.length);
    this.rev = update.rev;
    this.rows = next;
    return next;
  }
}
