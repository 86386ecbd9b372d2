/**
 * The quotient-remainder item table (Shi, Mudigere, Naumov & Yang, "Compositional Embeddings
 * Using Complementary Partitions for Memory-Efficient Recommendation Systems", KDD 2020).
 * A table of n rows stores no row per item: with m remainder rows, row i is
 * Q[⌊i/m⌋] ∘ R[i mod m], Q of ⌈n/m⌉ rows and R of m rows, so the stored rows are
 * ⌈n/m⌉ + m instead of n. The two partitions (by quotient, by remainder) are complementary:
 * no two rows share both their quotient and their remainder, so every row is its own pair of
 * factors. The paper's best operation is the element-wise product ('mult'); the sum ('add')
 * is its other cheap one. m = ⌈√n⌉ is the complementary partition of fewest stored rows
 * (⌈n/m⌉ + m is smallest near √n), and the default.
 *
 * Nothing here is drawn from the data: the partition is arithmetic on the id, so a run's
 * workers, a resumed run and a loader all rebuild it from m alone.
 */

/** How a row combines its two factors: 'mult' the element-wise product, 'add' the sum. */
export const QR_OPERATIONS = ['mult', 'add'] as const;
export type QrOperation = (typeof QR_OPERATIONS)[number];

/** A quotient-remainder table's shape: m remainder rows, and the operation that joins them. */
export interface QrShape {
  /** m: remainder rows; the quotient table has ⌈numRows / m⌉. */
  buckets: number;
  operation: QrOperation;
}

export function isQrOperation(value: unknown): value is QrOperation {
  return (QR_OPERATIONS as readonly unknown[]).includes(value);
}

/** Rows of the quotient table for `numRows` table rows in `buckets` remainders. */
export const qrQuotientRows = (numRows: number, buckets: number): number =>
  Math.ceil(numRows / buckets);

/** ⌈√numRows⌉: the complementary partition of fewest stored rows (see the header). */
export const defaultQrBuckets = (numRows: number): number => Math.ceil(Math.sqrt(numRows));

/**
 * Why `buckets` cannot partition `numRows` rows, or null. More remainder rows than table
 * rows would store rows no item reads.
 */
export function qrBucketsProblem(numRows: number, buckets: number): string | null {
  if (!Number.isSafeInteger(buckets) || buckets < 1 || buckets > numRows) {
    return `remainder rows must be an integer in 1..${numRows} (the table's rows), got ${buckets}`;
  }
  return null;
}

/**
 * The standard deviation each factor is drawn with so that a row starts at the dense
 * table's scale (entries of variance 1/dim, rows of norm about 1). For 'mult' both factors
 * are drawn at dim^(-1/4): a product of two independent zero-mean draws has the product of
 * their variances. Drawing R near 1 instead would start every item of a quotient row as
 * nearly the same vector, which the softmax cannot tell apart until R moves; two rows that
 * share a factor here start uncorrelated, as two dense rows do. For 'add', variances add, so
 * each factor takes half of 1/dim.
 */
export function qrFactorStd(dim: number, operation: QrOperation): number {
  return operation === 'mult' ? dim ** -0.25 : 1 / Math.sqrt(2 * dim);
}
