export * from './attention.ts';
export * from './config/index.ts';
export {
  consistencySigmas,
  halveGrid,
  progressiveGrid,
} from './distill.ts';
export * from './distributed.ts';
export {
  defaultExtractor,
  EXTRACTOR_METADATA,
  EXTRACTOR_WEIGHTS,
  type ExtractorConfig,
  type ExtractorMetadata,
  type ExtractorSource,
  type ExtractorTraining,
  extractorConfigSchema,
  extractorKey,
  extractorTrainingSchema,
  FeatureExtractor,
  type Features,
  shippedExtractorDirs,
} from './extractor.ts';
export { linuxCpuFamily, parseAppleHardware, probeHardware } from './hardware.ts';
export { learnScheduleResumable, type ResumableLearnResult } from './learn-resumable.ts';
export { LEARNED_METHOD, learnedRecord } from './learned-record.ts';
export * from './memory.ts';
export {
  CONFIG_FILE,
  type LearnScheduleSpec,
  MODEL_FILE,
  Model,
  nfeStats,
  parseModelConfig,
  type SampleResult,
  writeFileAtomic,
} from './model.ts';
export {
  addonPath,
  checkAddonInChild,
  fromNativeError,
  loadNative,
  nativeErrorCode,
} from './native.ts';
export {
  NATIVE_ERROR_CODES,
  type NativeAddon,
  type NativeError,
  type NativeErrorCode,
  type NativeLearnCheckpoint,
  type NativeLearnReference,
  type NativeLearnScheduleProgress,
  type NativeLearnScheduleResult,
} from './native-types.ts';
export {
  pairedMse,
  type ResumableResult,
  type ResumableSpec,
  resumableKey,
  SamplingStopped,
  sampleResumable,
} from './sample-resumable.ts';
export { type ResolvedSchedule, readLearnedSchedule, resolveSchedule } from './schedules.ts';
export * from './step-calibration.ts';
export * from './step-predictor.ts';
export * from './throughput.ts';
export * from './trainer.ts';
export { weightsSha256 } from './weights-digest.ts';
