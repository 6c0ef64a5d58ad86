export {
  assignBuckets,
  type BucketShape,
  bucketShapes,
  MAX_BUCKET_ASPECT,
  type MaterializeBucketsOptions,
  type MaterializedBucket,
  materializeBuckets,
  nearestBucket,
} from './buckets.ts';
export {
  datasetsRoot,
  SHARD_FORMAT,
  type ShardManifest,
  SPLITS,
  type SplitName,
  shardDir,
  shardFileName,
  shardManifestSchema,
} from './layout.ts';
export { type Materialized, type MaterializeOptions, materialize } from './materialize.ts';
export { readShard, type Shard } from './read.ts';
export {
  DTYPE_BYTES,
  type Dtype,
  decodeSafetensors,
  encodeHeader,
  encodeSafetensors,
  type Safetensors,
  type Tensor,
} from './safetensors.ts';
export { type ShardSetOptions, type WrittenShard, writeShardSet } from './write.ts';
