export * from './config/index.ts';
export { parseAppleHardware, probeHardware } from './hardware.ts';
export * from './memory.ts';
export {
  CONFIG_FILE,
  MODEL_FILE,
  Model,
  parseModelConfig,
  type SampleResult,
  writeFileAtomic,
} from './model.ts';
export { addonPath, checkAddonInChild, loadNative } from './native.ts';
export type { NativeAddon } from './native-types.ts';
export * from './throughput.ts';
export * from './trainer.ts';
