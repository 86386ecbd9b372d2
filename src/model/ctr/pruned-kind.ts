/**
 * The kind of a CTR package whose embedding table is pruned (pruned-package.ts reads and
 * writes it); alone here so code that only tells kinds apart loads none of the reader.
 */
export const CTR_PRUNED_KIND = 'ctr-pruned';
