/**
 * The one interface every next-item model is evaluated through (the SASRec teacher, the
 * TT student, the baselines), so that their numbers come from the same ranking code.
 */
export interface Scorer {
  /** Item ids run 1..numItems; 0 is padding. */
  readonly numItems: number;
  /**
   * One score array of length numItems + 1 per history, higher is better. Index 0 is
   * ignored. -Infinity is allowed (an item the model rules out); NaN is an error.
   * Batched because model scorers amortise a forward pass over many histories.
   * The evaluator only reads the arrays, and is done with them before it asks for the
   * next batch, so a scorer may share one array between histories or reuse its buffers.
   */
  score(histories: readonly Int32Array[]): Promise<Float32Array[]>;
}
