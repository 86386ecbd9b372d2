// The model package format v1, shared by the Node toolkit and the browser runtime.
// Node-only helpers (directories) live in node-fs.ts and are not exported here.
export {
  BYTES_PER_ELEMENT,
  DTYPES,
  type Dtype,
  encodeFloat16,
  quantizeInt8,
  type StoredArray,
} from './dtypes.ts';
export { ModelPackageError, type ModelPackageProblem } from './errors.ts';
export {
  type FileEntry,
  FORMAT_VERSION,
  MANIFEST_FILE,
  type Manifest,
  type ModelKind,
  type SizeFigures,
  type TensorEntry,
} from './manifest.ts';
export { type ModelPackage, type PackageTensor, readModelPackage, tensorValues } from './reader.ts';
export { type DenseEquivalent, sizeFigures } from './size.ts';
export { memorySource, type PackageSource, urlSource } from './source.ts';
export {
  type BuiltPackage,
  buildModelPackage,
  type PackageSpec,
  type TensorSpec,
} from './writer.ts';
