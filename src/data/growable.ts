/**
 * An append-only Int32Array that doubles its capacity, so building a million-entry column
 * costs about log2(n) copies instead of a boxed JS array per value.
 */
export class GrowableInt32Array {
  private data: Int32Array;
  private size = 0;

  constructor(initialCapacity = 1024) {
    this.data = new Int32Array(Math.max(1, initialCapacity));
  }

  get length(): number {
    return this.size;
  }

  push(value: number): void {
    if (this.size === this.data.length) this.grow(this.size + 1);
    this.data[this.size++] = value;
  }

  pushAll(values: ArrayLike<number>): void {
    const needed = this.size + values.length;
    if (needed > this.data.length) this.grow(needed);
    for (let i = 0; i < values.length; i++) this.data[this.size + i] = values[i] as number;
    this.size = needed;
  }

  clear(): void {
    this.size = 0;
  }

  /** A copy of exactly the pushed values, not sharing memory with this builder. */
  toArray(): Int32Array {
    return this.data.slice(0, this.size);
  }

  private grow(minCapacity: number): void {
    let capacity = this.data.length * 2;
    while (capacity < minCapacity) capacity *= 2;
    const next = new Int32Array(capacity);
    next.set(this.data.subarray(0, this.size));
    this.data = next;
  }
}

/**
 * Collects many short sequences into one buffer and hands them out as subarray views.
 * Hundreds of thousands of sessions as separate Int32Arrays would each carry their own
 * ArrayBuffer; views over one buffer keep the per-sequence cost to the view object.
 */
export class SequencePacker {
  private readonly items = new GrowableInt32Array(64 * 1024);
  private readonly ends = new GrowableInt32Array(1024);

  get count(): number {
    return this.ends.length;
  }

  add(sequence: ArrayLike<number>): void {
    this.items.pushAll(sequence);
    this.ends.push(this.items.length);
  }

  /** `items` is the shared buffer; `sequences[k]` is a view of it. */
  finish(): { items: Int32Array; sequences: Int32Array[] } {
    const items = this.items.toArray();
    const ends = this.ends.toArray();
    const sequences = new Array<Int32Array>(ends.length);
    let start = 0;
    for (let k = 0; k < ends.length; k++) {
      const end = ends[k] as number;
      sequences[k] = items.subarray(start, end);
      start = end;
    }
    return { items, sequences };
  }
}
