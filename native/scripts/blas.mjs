// Which BLAS the addon links, decided here rather than by a cached CMake find_library:
// cmake-js reuses native/build, and a configure that already ran never looks again, so
// installing OpenBLAS after the first build changed nothing until native/build was deleted.
// build.mjs detects the library on every build, passes it to CMake (ANNEAL_OPENBLAS) and
// reconfigures when it differs from what the last configure used (a stamp in native/build).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Debian/Ubuntu multiarch folder names, where distribution packages put libraries. */
const MULTIARCH = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/**
 * Folders searched for libopenblas, in order: $ANNEAL_OPENBLAS_DIR, $LIBRARY_PATH, then the
 * prefixes CMake's find_library searches on Linux ($CMAKE_PREFIX_PATH, /usr/local, /usr, /),
 * each with lib/<multiarch>, lib64 and lib.
 */
export function blasSearchDirs(env = process.env, arch = process.arch) {
  const split = (v) => (v ? v.split(':').filter(Boolean) : []);
  const multiarch = MULTIARCH[arch];
  const dirs = [...split(env.ANNEAL_OPENBLAS_DIR), ...split(env.LIBRARY_PATH)];
  for (const prefix of [...split(env.CMAKE_PREFIX_PATH), '/usr/local', '/usr', '/']) {
    if (multiarch) dirs.push(join(prefix, 'lib', multiarch));
    dirs.push(join(prefix, 'lib64'), join(prefix, 'lib'));
  }
  return [...new Set(dirs)];
}

/**
 * The OpenBLAS library to link, or null for MLX's bundled reference BLAS: null on macOS
 * (MLX uses Accelerate) and when ANNEAL_NO_OPENBLAS=1. `exists` is injected for tests.
 * @returns {string | null}
 */
export function findOpenBlas({
  platform = process.platform,
  env = process.env,
  dirs = blasSearchDirs(env),
  exists = existsSync,
} = {}) {
  if (platform !== 'linux' || env.ANNEAL_NO_OPENBLAS === '1') return null;
  for (const dir of dirs) {
    const candidate = join(dir, 'libopenblas.so');
    if (exists(candidate)) return candidate;
  }
  return null;
}

/** Stamp beside CMake's cache recording the BLAS the last configure was given. */
export function blasStampPath(buildDir) {
  return join(buildDir, 'anneal-blas.json');
}

/** The stamp's contents, or undefined when it is missing or unreadable. */
export function readBlasStamp(buildDir) {
  try {
    const stamp = JSON.parse(readFileSync(blasStampPath(buildDir), 'utf8'));
    return stamp && 'blas' in stamp ? { blas: stamp.blas ?? null } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the build folder must be configured again before building, and why. Pure.
 * @param {{cacheExists: boolean, stamp: {blas: string | null} | undefined, detected: string | null}} s
 * @returns {{reconfigure: boolean, reason: string}}
 */
export function blasReconfigure({ cacheExists, stamp, detected }) {
  const name = (blas) => blas ?? "MLX's bundled reference BLAS";
  if (!cacheExists) return { reconfigure: false, reason: 'first configure' };
  if (!stamp) {
    return {
      reconfigure: true,
      reason: `the build folder does not record its BLAS; configuring for ${name(detected)}`,
    };
  }
  if (stamp.blas !== detected) {
    return {
      reconfigure: true,
      reason: `BLAS changed from ${name(stamp.blas)} to ${name(detected)}`,
    };
  }
  return { reconfigure: false, reason: `BLAS unchanged (${name(detected)})` };
}
