import { AppError } from '@anneal/core/errors';
import { digestFile, type FileDigest } from '../hash/digest.ts';
import { compareCodePoints } from '../hash/dvc.ts';
import { relpathSchema } from '../hash/manifest.ts';
import { isImageRelpath } from '../hash/version.ts';
import { checkImage, DEFAULT_LIMITS, fileTooLarge, type ImageLimits } from './check.ts';

/** A file offered to a dataset: its name in the dataset, its size, and a way to read it. */
export interface OfferedFile {
  /** POSIX path relative to the dataset root: the name the manifest and reports use. */
  relpath: string;
  size: number;
  read(): Promise<Uint8Array>;
}

/** A file kept out of a dataset, by name, with why. */
export interface Refusal {
  relpath: string;
  reason: string;
}

export interface ScreenOptions {
  limits?: Partial<ImageLimits>;
  /** Refuse everything, naming every bad file, if any image file is refused. */
  strict?: boolean;
  /** Files already refused by the caller (a folder's symlinks out of it, ...), reported alike. */
  refused?: readonly Refusal[];
  /** Names the source in errors: `folder "/data/pets"`, `the upload`. */
  source: string;
  /** Files decoded at once (sharp decodes on libuv's pool). */
  concurrency?: number;
}

export interface Screened<F extends OfferedFile> {
  /** Decodable images within the limits, with their digests, in the order offered. */
  accepted: Array<F & FileDigest>;
  /** Image files not taken, by name (code-point order), with why. */
  skipped: Refusal[];
  /** Files that are not images by extension (README, .DS_Store, ...); never read. */
  ignored: string[];
}

/** Error messages list at most this many files; the report (`skipped`) has them all. */
const LISTED = 200;

/** `  relpath: reason` lines, at most LISTED of them. */
export function refusalLines(refusals: readonly Refusal[]): string {
  const lines = refusals.slice(0, LISTED).map((s) => `  ${s.relpath}: ${s.reason}`);
  if (refusals.length > LISTED) lines.push(`  ... and ${refusals.length - LISTED} more`);
  return lines.join('\n');
}

/** Runs `fn` over items with at most `limit` in flight. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * The rules every way into a dataset applies (a local folder import, an upload to the
 * control plane), so a version never holds a file an agent cannot decode: files that are
 * not images by extension are ignored unread; image files with names that are not
 * portable dataset paths, over the byte or pixel limits, or not whole decodable PNG, JPEG
 * or WebP are refused by name with the reason. With `strict`, any refusal refuses
 * everything (BAD_REQUEST listing every refused file); without, a source with no image
 * left is refused the same way. Nothing is written here: callers store `accepted`.
 */
export async function screenImages<F extends OfferedFile>(
  files: readonly F[],
  options: ScreenOptions,
): Promise<Screened<F>> {
  const limits: ImageLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const ignored: string[] = [];
  const candidates: F[] = [];
  for (const f of files) {
    if (isImageRelpath(f.relpath)) candidates.push(f);
    else ignored.push(f.relpath);
  }
  const checked = await mapLimit(
    candidates,
    options.concurrency ?? 2,
    async (f): Promise<Refusal | (F & FileDigest)> => {
      const refuse = (reason: string): Refusal => ({ relpath: f.relpath, reason });
      if (!relpathSchema.safeParse(f.relpath).success)
        return refuse('name cannot be a portable dataset path');
      const tooLarge = fileTooLarge(f.size, limits);
      if (tooLarge) return refuse(tooLarge);
      let bytes: Uint8Array;
      try {
        bytes = await f.read();
      } catch (err) {
        // e.g. EACCES on one file of a folder: that file is refused, not the import.
        return refuse(`cannot be read: ${(err as Error).message}`);
      }
      const reason = await checkImage(bytes, limits);
      if (reason) return refuse(reason);
      return { ...f, ...digestFile(bytes) };
    },
  );
  const accepted: Array<F & FileDigest> = [];
  const skipped: Refusal[] = [...(options.refused ?? [])];
  for (const r of checked) {
    if ('reason' in r) skipped.push(r);
    else accepted.push(r);
  }
  skipped.sort((a, b) => compareCodePoints(a.relpath, b.relpath));
  if (options.strict && skipped.length > 0)
    throw new AppError(
      'BAD_REQUEST',
      `strict: ${options.source} has ${skipped.length} file(s) that are not usable images; nothing was written:\n${refusalLines(skipped)}`,
    );
  if (accepted.length === 0) {
    const why =
      skipped.length > 0
        ? `; refused:\n${refusalLines(skipped)}`
        : ignored.length > 0
          ? ` (ignored, not images by extension: ${ignored.slice(0, 5).join(', ')}${ignored.length > 5 ? ', ...' : ''})`
          : '';
    throw new AppError(
      'BAD_REQUEST',
      `${options.source} holds no readable PNG, JPEG or WebP images${why}`,
    );
  }
  return { accepted, skipped, ignored };
}
