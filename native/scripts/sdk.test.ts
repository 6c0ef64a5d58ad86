import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM scripts without type declarations
import { findPython, missingRuntimeLibraries } from './install-mlx.mjs';
// @ts-expect-error plain ESM scripts without type declarations
import { cudnnDefines, libmlxPath, mlxVersion, wheelPlan } from './sdk.mjs';

describe('MLX wheel plan', () => {
  it('pins one version and names frontend and backend together', () => {
    expect(mlxVersion).toMatch(/^0\.32\.\d+$/);
    expect(wheelPlan('linux', 'x64', undefined)).toEqual({
      backend: 'cpu',
      packages: [`mlx==${mlxVersion}`, `mlx-cpu==${mlxVersion}`],
    });
    expect(wheelPlan('linux', 'x64', 'cuda')).toEqual({
      backend: 'cuda',
      packages: [`mlx==${mlxVersion}`, `mlx-cuda-13==${mlxVersion}`],
    });
    expect(wheelPlan('darwin', 'arm64', undefined)).toEqual({
      backend: 'metal',
      packages: [`mlx==${mlxVersion}`, `mlx-metal==${mlxVersion}`],
    });
  });

  it('names unsupported platforms and settings', () => {
    expect(wheelPlan('darwin', 'x64', undefined).error).toMatch(/Apple Silicon/);
    expect(wheelPlan('win32', 'x64', undefined).error).toMatch(/no wheels for win32/);
    expect(wheelPlan('linux', 'x64', 'metal').error).toMatch(/only on macOS/);
    expect(wheelPlan('linux', 'x64', 'rocm').error).toMatch(/ANNEAL_MLX_BACKEND must be/);
  });

  it('says when python is missing', () => {
    const saved = process.env.ANNEAL_PYTHON;
    process.env.ANNEAL_PYTHON = '/nonexistent/python3';
    try {
      expect(() => findPython()).toThrow(/no python3 found/);
    } finally {
      if (saved === undefined) delete process.env.ANNEAL_PYTHON;
      else process.env.ANNEAL_PYTHON = saved;
    }
  });

  it('points CMake at the cuDNN that pip put into a CUDA SDK, and nowhere else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anneal-sdk-'));
    try {
      expect(cudnnDefines(dir)).toEqual([]);
      mkdirSync(join(dir, 'nvidia', 'cudnn', 'include'), { recursive: true });
      writeFileSync(join(dir, 'nvidia', 'cudnn', 'include', 'cudnn.h'), '');
      expect(cudnnDefines(dir)).toEqual([
        `--CDCUDNN_INCLUDE_PATH=${join(dir, 'nvidia', 'cudnn', 'include')}`,
        `--CDCUDNN_LIBRARY_PATH=${join(dir, 'nvidia', 'cudnn', 'lib')}`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds every library libmlx needs at run time', () => {
    expect(missingRuntimeLibraries(libmlxPath)).toEqual([]);
  });

  it('a second setup run does not reinstall', () => {
    const r = spawnSync(process.execPath, ['native/scripts/install-mlx.mjs'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/already installed/);
  });
});
