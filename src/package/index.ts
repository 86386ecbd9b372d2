// The model package format (versions 1 and 2), shared by the Node toolkit and the browser runtime.
// Node-only helpers (directories) live in node-fs.ts and are not exported here.
export {
  byteLength,
  DTYPES,
  type Dtype,
  encodeFloat16,
  quantizeInt8,
  type StoredArray,
} from './dtypes.ts';
export { ModelPackageError, type ModelPackageProblem } from './errors.ts';
export type { ItemIdEncoding } from './item-map.ts';
export {
  type FileEntry,
  FORMAT_VERSION,
  FORMAT_VERSIONS,
  type FormatVersion,
  MANIFEST_FILE,
  type Manifest,
  type ModelKind,
  type SizeFigures,
  type TensorEntry,
} from './manifest.ts';
export {
  type ModelPackage,
  type PackageTensor,
  readItemIds,
  readModelPackage,
  tensorValues,
} from './reader.ts';
export { type DenseEquivalent, sizeFigures } from './size.ts';
export { memorySource, type PackageSource, urlSource } from './source.ts';
export {
  type BuiltPackage,
  buildModelPackage,
  type PackageSpec,
  type TensorSpec,
} from './writer.ts';
