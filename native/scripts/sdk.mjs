// Where the MLX SDK lives and which release it is. The release is pinned in exactly one
// place: the "mlx.version" field of native/package.json.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const nativeRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const pkg = JSON.parse(readFileSync(join(nativeRoot, 'package.json'), 'utf8'));

/** The pinned MLX release, e.g. "0.32.4". */
export const mlxVersion = pkg.mlx.version;

/** Project-local folder that `pip install --target` fills with MLX's wheels. */
export const sdkDir = process.env.ANNEAL_MLX_SDK ?? join(nativeRoot, 'mlx-sdk');

/** Folder holding MLXConfig.cmake inside the SDK. */
export const mlxCmakeDir = join(sdkDir, 'mlx', 'share', 'cmake', 'MLX');

/** The shared library the addon links against. */
export const libmlxPath = join(
  sdkDir,
  'mlx',
  'lib',
  process.platform === 'darwin' ? 'libmlx.dylib' : 'libmlx.so',
);

/** The addon binary cmake-js produces. */
export const addonPath = join(nativeRoot, 'build', 'Release', 'anneal.node');

/** Stamp written after a complete SDK install; its contents make setup idempotent. */
export const sdkStampPath = join(sdkDir, '.anneal-sdk.json');

/**
 * Which MLX backend wheel this platform gets: metal on macOS arm64, cpu on Linux, cuda
 * when ANNEAL_MLX_BACKEND=cuda on Linux. Returns an error string for anything else.
 * @returns {{backend: 'metal'|'cpu'|'cuda', packages: string[]} | {error: string}}
 */
export function wheelPlan(
  platform = process.platform,
  arch = process.arch,
  requested = process.env.ANNEAL_MLX_BACKEND,
) {
  const v = mlxVersion;
  if (requested && !['cpu', 'cuda', 'metal'].includes(requested)) {
    return { error: `ANNEAL_MLX_BACKEND must be cpu, cuda or metal (got "${requested}")` };
  }
  if (platform === 'darwin') {
    if (arch !== 'arm64') {
      return {
        error: `MLX needs Apple Silicon; this Mac is ${arch} (Intel Macs are not supported)`,
      };
    }
    if (requested && requested !== 'metal') {
      return { error: `on macOS the MLX backend is metal (ANNEAL_MLX_BACKEND=${requested})` };
    }
    // The frontend wheel depends on mlx-metal at the same version; naming both keeps the
    // single pip call explicit about what it installs.
    return { backend: 'metal', packages: [`mlx==${v}`, `mlx-metal==${v}`] };
  }
  if (platform === 'linux') {
    if (arch !== 'x64' && arch !== 'arm64') {
      return { error: `MLX wheels exist for Linux x86_64 and aarch64, not ${arch}` };
    }
    if (requested === 'metal') return { error: 'the metal backend exists only on macOS' };
    if (requested === 'cuda') {
      return { backend: 'cuda', packages: [`mlx==${v}`, `mlx-cuda-13==${v}`] };
    }
    return { backend: 'cpu', packages: [`mlx==${v}`, `mlx-cpu==${v}`] };
  }
  return {
    error: `MLX has no wheels for ${platform}/${arch}; Anneal runs on macOS arm64 and Linux`,
  };
}

/**
 * CMake definitions a CUDA SDK needs: MLX's CMake package for the cuda backend looks for
 * cuDNN's headers (FindCUDNN) when the addon is configured, and pip puts the
 * nvidia-cudnn-cu13 wheel that mlx-cuda-13 depends on under <sdk>/nvidia/cudnn, where CMake
 * does not look. Empty for the cpu and metal SDKs, which carry no cuDNN.
 * @returns {string[]} cmake-js `--CD` flags
 */
export function cudnnDefines(dir = sdkDir) {
  const cudnn = join(dir, 'nvidia', 'cudnn');
  if (!existsSync(join(cudnn, 'include', 'cudnn.h'))) return [];
  return [
    `--CDCUDNN_INCLUDE_PATH=${join(cudnn, 'include')}`,
    `--CDCUDNN_LIBRARY_PATH=${join(cudnn, 'lib')}`,
  ];
}
