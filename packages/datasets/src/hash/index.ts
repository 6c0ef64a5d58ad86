export { builtinContentHash, refContentHash } from './builtin.ts';
export { digestFile, type FileDigest, md5Hex, sha256Hex } from './digest.ts';
export {
  compareCodePoints,
  type DvcDirEntry,
  type DvcDirObject,
  dvcDirObject,
  dvcFile,
  pythonJsonString,
} from './dvc.ts';
export {
  buildManifest,
  contentHash,
  type DatasetManifest,
  datasetManifestSchema,
  type FitPolicy,
  fitPolicySchema,
  MANIFEST_VERSION,
  type ManifestFile,
  type ManifestInput,
  manifestFileSchema,
  relpathSchema,
} from './manifest.ts';
export {
  IMAGE_EXTENSIONS,
  isImageRelpath,
  type VersionOptions,
  versionOfFiles,
} from './version.ts';
