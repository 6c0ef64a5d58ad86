export { AppError, type AppErrorCode, isAppError } from './errors.ts';
export { repoRoot, resolveAnnealHome } from './home.ts';
export { encodePng, tileGrid } from './png.ts';
