export {
  checkImage,
  DEFAULT_LIMITS,
  decoderReason,
  fileTooLarge,
  type ImageLimits,
} from './check.ts';
export { FORMAT_NAMES, type HeaderReading, type ImageFormat, readImageHeader } from './header.ts';
export {
  type OfferedFile,
  type Refusal,
  refusalLines,
  type Screened,
  type ScreenOptions,
  screenImages,
} from './screen.ts';
export { cp437, zipEntryName } from './zip-names.ts';
