/**
 * The multiply-adds of the kernels tfjs ran (a tf.profile's kernels), counted as
 * src/model/ctr/flops.ts and src/model/sequential-flops.ts count them: a matrix product k·n
 * per output row, an element-wise multiplication or square one per element, the rest
 * nothing. A kernel in neither list fails the count: it might be a product not known here.
 */
const MATRIX_PRODUCTS = new Set(['BatchMatMul', 'MatMul', '_FusedMatMul']);
const ELEMENTWISE_PRODUCTS = new Set(['Multiply', 'Square', 'SquaredDifference']);
/**
 * Kernels a request runs that multiply nothing (look-ups, shapes, additions, selections).
 * Any other kernel fails the count: it might be a product this test does not know.
 */
const NO_PRODUCTS = new Set([
  // A look-up's inner kernel, which the profile names with an empty string.
  '',
  'Add',
  'ExpandDims',
  'Cast',
  'Concat',
  'Cumsum',
  'FloorDiv',
  'GatherV2',
  'GreaterEqual',
  'Greater',
  'Identity',
  'LessEqual',
  'LogicalAnd',
  'Maximum',
  'Mean',
  'Mod',
  'Neg',
  'NotEqual',
  'OneHot',
  'Pack',
  'Range',
  'RealDiv',
  'Relu',
  'Reshape',
  'Rsqrt',
  'Select',
  'Sigmoid',
  'Slice',
  'Softmax',
  'Sub',
  'Sum',
  'Tanh',
  'Tile',
  'TopK',
  'Transpose',
  'Unpack',
  'unnamed scope',
]);

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

export function kernelProducts(
  kernels: readonly { name: string; inputShapes: unknown[]; outputShapes: unknown[] }[],
): number {
  let products = 0;
  for (const k of kernels) {
    const out = k.outputShapes[0] as number[];
    if (MATRIX_PRODUCTS.has(k.name)) {
      // No inference product transposes its left operand: its last axis is the inner one.
      products += size(out) * ((k.inputShapes[0] as number[]).at(-1) as number);
    } else if (ELEMENTWISE_PRODUCTS.has(k.name)) products += size(out);
    else if (!NO_PRODUCTS.has(k.name)) throw new Error(`kernel ${k.name} is not classified`);
  }
  return products;
}
