import { AppError } from '@anneal/core';

/**
 * A run-relative artifact path: forward slashes, no empty, `.` or `..` segments, no
 * absolute paths or drive letters, no control characters. Paths are names in the database,
 * never filesystem paths, but refusing traversal keeps them safe to mirror to disk (DVC,
 * MLflow) and unambiguous.
 */
export function normalizeArtifactPath(raw: string): string {
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new AppError('BAD_REQUEST', 'path: not valid percent-encoding');
  }
  if (path.length === 0 || path.length > 1024)
    throw new AppError('BAD_REQUEST', 'path: must be 1 to 1024 characters');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f\\]/.test(path))
    throw new AppError('BAD_REQUEST', 'path: control characters and backslashes are not allowed');
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path))
    throw new AppError('BAD_REQUEST', 'path: must be relative to the run');
  const segments = path.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..'))
    throw new AppError('BAD_REQUEST', 'path: empty, "." and ".." segments are not allowed');
  return segments.join('/');
}

const TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
  log: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  safetensors: 'application/octet-stream',
};

export function contentTypeOf(path: string): string {
  const ext = path.split('.').pop()?.toLowerCase() ?? '';
  return TYPES[ext] ?? 'application/octet-stream';
}
