export { checkImage, DEFAULT_LIMITS, decodeImage, type ImageLimits } from './decode.ts';
export { type ImportFolderOptions, type ImportReport, importFolder } from './import.ts';
export { loadVersionImages, type VersionImages } from './version.ts';
export { type Candidate, IMAGE_EXTENSIONS, type Refusal, type Walk, walkFolder } from './walk.ts';
