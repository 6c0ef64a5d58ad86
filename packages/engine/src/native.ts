// Loads the native addon. The binary is first loaded in a child process: a missing shared
// library or an ABI mismatch then fails that child with a readable message instead of
// taking down this process. A verified binary is remembered by a stamp beside it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AppError, type AppErrorCode } from '@anneal/core/errors';
import { NATIVE_ERROR_CODES, type NativeAddon, type NativeErrorCode } from './native-types.ts';

const require = createRequire(import.meta.url);

const REBUILD_HINT =
  'Rebuild it with `npm run build:native` (or `npm install` at the repository root, which also installs the MLX SDK).';

/** Path of the compiled addon; ANNEAL_ADDON_PATH overrides it (tests, custom builds). */
export function addonPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ANNEAL_ADDON_PATH) return env.ANNEAL_ADDON_PATH;
  const nativeRoot = dirname(require.resolve('@anneal/native/package.json'));
  return join(nativeRoot, 'build', 'Release', 'anneal.node');
}

function fingerprint(path: string): string {
  const st = statSync(path);
  return `${st.size}:${st.mtimeMs}:${process.version}:${process.arch}`;
}

/**
 * Loads the addon at `path` in a child Node process and returns null when it loads, or the
 * reason it does not.
 */
export function checkAddonInChild(path: string): string | null {
  const probe = `const m = require(${JSON.stringify(path)}); if (typeof m.hardware?.probe !== 'function') { console.error('the binary loaded but exports no hardware.probe'); process.exit(3); } m.hardware.probe();`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0) return null;
  if (r.signal) return `loading it killed the process with ${r.signal}`;
  const lines = `${r.stderr ?? ''}`.split('\n').filter((l) => l.trim() && !l.startsWith('    at '));
  return lines.find((l) => /Error|error/.test(l)) ?? lines[0] ?? `exit code ${r.status}`;
}

let cached: NativeAddon | undefined;

/** The native addon, loaded once. Throws AppError(PRECONDITION_FAILED) saying how to rebuild. */
export function loadNative(): NativeAddon {
  if (cached) return cached;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new AppError(
      'PRECONDITION_FAILED',
      `The Anneal native addon is not built (${path} is missing). ${REBUILD_HINT}`,
    );
  }
  const stamp = `${path}.verified`;
  const print = fingerprint(path);
  const verified = existsSync(stamp) && readFileSync(stamp, 'utf8') === print;
  if (!verified) {
    const reason = checkAddonInChild(path);
    if (reason) {
      throw new AppError(
        'PRECONDITION_FAILED',
        `The Anneal native addon at ${path} cannot be loaded: ${reason}. ${REBUILD_HINT}`,
      );
    }
    try {
      writeFileSync(stamp, print);
    } catch {
      // A read-only install still works; it just checks again next time.
    }
  }
  cached = require(path) as NativeAddon;
  return cached;
}

/** The NativeErrorCode of an error the addon threw, or undefined for anything else. */
export function nativeErrorCode(err: unknown): NativeErrorCode | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (NATIVE_ERROR_CODES as readonly string[]).includes(code)
    ? (code as NativeErrorCode)
    : undefined;
}

/**
 * How each native failure reads to a caller of the engine. The code decides whether a job
 * is retried (BAD_REQUEST, NOT_FOUND, CONFLICT, PRECONDITION_FAILED are not; see the agent's
 * failure.ts).
 */
const APP_CODE: Record<NativeErrorCode, AppErrorCode> = {
  ANNEAL_INVALID_ARGUMENT: 'BAD_REQUEST',
  // The files the engine reads and writes are mostly the agent's own (the shard cache, a
  // downloaded checkpoint, the output folder): a missing or unreadable one may be this
  // machine's doing (a full disk, a cut download, a cache cleaned meanwhile), so another
  // attempt may succeed. A caller that knows a file came from the job's own inputs refuses
  // it itself, as the dataset decode does (BAD_REQUEST).
  ANNEAL_NOT_FOUND: 'INTERNAL',
  ANNEAL_IO: 'INTERNAL',
  ANNEAL_MEMORY_BUDGET: 'RESOURCE_EXHAUSTED',
  ANNEAL_OUT_OF_MEMORY: 'RESOURCE_EXHAUSTED',
  // Training is exact: the same spec, seed and resume point diverge again on any machine.
  ANNEAL_DIVERGED: 'BAD_REQUEST',
  ANNEAL_INVALID_STATE: 'PRECONDITION_FAILED',
  ANNEAL_INTERNAL: 'INTERNAL',
};

/** What a caller can do about a failure, where the native message cannot know it. */
const REMEDY: Partial<Record<NativeErrorCode, string>> = {
  ANNEAL_DIVERGED:
    'the same seed diverges again; lower the learning rate (lr) or the gradient clipping norm (grad_clip)',
};

/**
 * An AppError for an error the addon threw, with `context` before its message and the native
 * error as `cause` (its `code` stays readable there). Other values are returned unchanged
 * (an Error) or wrapped in one.
 */
export function fromNativeError(err: unknown, context?: string): Error {
  const code = nativeErrorCode(err);
  const message = (err as Error | null)?.message ?? String(err);
  if (!code) return err instanceof Error ? err : new Error(message);
  const remedy = REMEDY[code];
  const full = `${context ? `${context}: ` : ''}${message}${remedy ? `; ${remedy}` : ''}`;
  return new AppError(APP_CODE[code], full, { cause: err });
}
