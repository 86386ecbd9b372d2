/**
 * Turns a user's history into the query vector the item table is scored against, doing
 * as little work as the model allows between requests.
 *
 * Requests come one event apart, so the encoder keeps the last window it encoded. The
 * same window again costs nothing. A window that extends the last one by a few items
 * costs one row per block per new item (encodeNext), when the model numbers positions
 * from the oldest item; anything else (a from-latest model, a window that slid past
 * maxLen, a different history) is encoded whole, and the keys and values kept for next
 * time. Every path gives the numbers `encode` gives for the whole window.
 */
import * as tf from '@tensorflow/tfjs';
import {
  encode,
  encodeNext,
  encodesIncrementally,
  type KeyValueCache,
} from '../../model/sasrec.ts';
import type { SequentialModel } from '../../model/sequential.ts';
import { windowStartsWith } from '../../model/sequential-items.ts';

/** Above this many new items one whole-window pass beats row-by-row steps. */
const MAX_STEPS = 8;

export interface EncodedQuery {
  /** [1, dim]; owned by the encoder, valid until its next call. */
  query: tf.Tensor2D;
  /** Positions whose keys and values were reused rather than recomputed. */
  reused: number;
}

interface Cached {
  window: Int32Array;
  hidden: tf.Tensor2D;
  cache: KeyValueCache | null;
}

function keepCache(cache: KeyValueCache): KeyValueCache {
  return {
    keys: cache.keys.map((t) => tf.keep(t)),
    values: cache.values.map((t) => tf.keep(t)),
    length: cache.length,
    ...(cache.capacity ? { capacity: cache.capacity } : {}),
  };
}

function disposeCache(cache: KeyValueCache | null): void {
  if (!cache) return;
  tf.dispose([...cache.keys, ...cache.values]);
}

export class SessionEncoder {
  private last: Cached | null = null;
  /** Whether requests may reuse earlier positions (asked for, and the positions allow it). */
  readonly incremental: boolean;
  private readonly fixedShapes: boolean;
  /** Item vectors of ids: from the built table when there is one. */
  private readonly lookup: (ids: tf.Tensor) => tf.Tensor;

  /**
   * `fixedShapes`: every tensor has the same shape whatever the history's length (windows
   * padded to maxLen, keys and values kept at maxLen slots). On WebGPU a new shape can mean
   * a new shader to compile, so there everything compiles during warm-up; elsewhere the
   * padding would only be work.
   */
  constructor(
    private readonly model: SequentialModel,
    options: { incremental: boolean; fixedShapes?: boolean; table?: tf.Tensor2D },
  ) {
    const table = options.table;
    this.lookup = table ? (ids) => tf.gather(table, ids) : (ids) => model.items.lookup(ids);
    // Appending an item changes an 'attention' readout's weights over every earlier state.
    this.incremental = options.incremental && encodesIncrementally(model.config);
    this.fixedShapes = options.fixedShapes ?? false;
  }

  /**
   * The query after `history` (internal ids, oldest first, at least one item). With
   * `reuse` false the whole window is encoded afresh (and kept for the next request).
   */
  encode(history: Int32Array, reuse = true): EncodedQuery {
    const { maxLen } = this.model.config;
    const window = history.slice(Math.max(0, history.length - maxLen));
    const last = reuse ? this.last : null;
    if (last && last.window.length === window.length && windowStartsWith(window, last.window)) {
      return { query: last.hidden, reused: window.length };
    }
    const extend =
      this.incremental &&
      last?.cache &&
      window.length - last.window.length <= MAX_STEPS &&
      windowStartsWith(window, last.window);
    const next = extend ? this.extend(last as Cached, window) : this.whole(window);
    this.forget();
    this.last = next;
    return { query: next.hidden, reused: extend ? (last as Cached).window.length : 0 };
  }

  /** Drops what is cached (a new history, or tensors about to be rebuilt elsewhere). */
  forget(): void {
    if (!this.last) return;
    this.last.hidden.dispose();
    disposeCache(this.last.cache);
    this.last = null;
  }

  private whole(window: Int32Array): Cached {
    const { model, incremental, fixedShapes } = this;
    const { maxLen, positions } = model.config;
    // Padded to maxLen in fixed-shape mode: after the window when positions count from the
    // oldest item (its keys and values then sit in slots 0.. for encodeNext), before it
    // otherwise, as encode expects.
    const width = fixedShapes ? maxLen : window.length;
    const start = fixedShapes && positions === 'from-latest' ? width - window.length : 0;
    const padded = new Int32Array(width);
    padded.set(window, start);
    const latestRow = start + window.length - 1;
    let result: Cached | undefined;
    // tf.tidy's typing only lets tensors out: the kept ones leave through `result`.
    tf.tidy(() => {
      const ids = tf.tensor2d(padded, [1, width], 'int32');
      const keys: tf.Tensor4D[] = [];
      const values: tf.Tensor4D[] = [];
      const hidden = encode(model.config, model.encoder, ids, this.lookup(ids) as tf.Tensor3D, {
        training: false,
        ...(incremental
          ? {
              keepKeysValues: (_: number, k: tf.Tensor4D, v: tf.Tensor4D) => {
                keys.push(k);
                values.push(v);
              },
            }
          : {}),
      });
      const latest = hidden.slice([0, latestRow, 0], [1, 1, model.config.dim]).reshape([1, -1]);
      const cache = {
        keys,
        values,
        length: window.length,
        ...(fixedShapes ? { capacity: maxLen } : {}),
      };
      result = {
        window,
        hidden: tf.keep(latest as tf.Tensor2D),
        cache: incremental ? keepCache(cache) : null,
      };
    });
    return result as Cached;
  }

  private extend(from: Cached, window: Int32Array): Cached {
    const { model } = this;
    let result: Cached | undefined;
    tf.tidy(() => {
      let cache = from.cache as KeyValueCache;
      let hidden: tf.Tensor2D | null = null;
      for (let at = from.window.length; at < window.length; at++) {
        const row = this.lookup(tf.tensor1d([window[at] as number], 'int32')) as tf.Tensor2D;
        const step = encodeNext(model.config, model.encoder, cache, row);
        cache = step.cache;
        hidden = step.hidden;
      }
      result = { window, hidden: tf.keep(hidden as tf.Tensor2D), cache: keepCache(cache) };
    });
    return result as Cached;
  }
}
