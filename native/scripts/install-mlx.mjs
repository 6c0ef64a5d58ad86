#!/usr/bin/env node
// Installs the pinned MLX release from its official PyPI wheels into native/mlx-sdk with
// ONE `pip install --target` call naming the frontend and the backend together (two calls
// into one folder silently clobber each other's files). Idempotent through a stamp file.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { libmlxPath, mlxCmakeDir, mlxVersion, sdkDir, sdkStampPath, wheelPlan } from './sdk.mjs';

const log = (msg) => console.log(`[anneal] ${msg}`);

/** Finds a Python >= 3.10 with pip; throws naming what is missing. */
export function findPython() {
  const candidates = process.env.ANNEAL_PYTHON
    ? [process.env.ANNEAL_PYTHON]
    : ['python3', 'python'];
  for (const exe of candidates) {
    const r = spawnSync(exe, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
      encoding: 'utf8',
    });
    if (r.status !== 0) continue;
    const [major, minor] = r.stdout.trim().split('.').map(Number);
    if (major < 3 || (major === 3 && minor < 10)) {
      throw new Error(`${exe} is Python ${r.stdout.trim()}; MLX's wheels need Python >= 3.10`);
    }
    const pip = spawnSync(exe, ['-m', 'pip', '--version'], { encoding: 'utf8' });
    if (pip.status !== 0) {
      throw new Error(`${exe} has no pip; install it (Debian: apt-get install python3-pip)`);
    }
    return exe;
  }
  throw new Error(
    'no python3 found on PATH; MLX is installed from its Python wheels, so Python >= 3.10 with pip is required (or set ANNEAL_PYTHON)',
  );
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(sdkStampPath, 'utf8'));
  } catch {
    return null;
  }
}

/** Shared libraries libmlx needs at run time that the dynamic loader cannot find. */
export function missingRuntimeLibraries(lib = libmlxPath) {
  if (process.platform !== 'linux') return [];
  const r = spawnSync('ldd', [lib], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .filter((line) => line.includes('not found'))
    .map((line) => line.trim().split(/\s+/)[0]);
}

export function installSdk() {
  const plan = wheelPlan();
  if ('error' in plan) throw new Error(plan.error);
  const stamp = readStamp();
  if (
    stamp?.version === mlxVersion &&
    stamp.backend === plan.backend &&
    existsSync(libmlxPath) &&
    existsSync(join(mlxCmakeDir, 'MLXConfig.cmake'))
  ) {
    log(`MLX ${mlxVersion} (${plan.backend}) already installed in ${sdkDir}`);
    return stamp;
  }
  const python = findPython();
  const staging = `${sdkDir}.staging-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  log(`installing MLX ${mlxVersion} (${plan.packages.join(' ')}) into ${sdkDir}`);
  const pip = spawnSync(
    python,
    [
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '--no-input',
      '--target',
      staging,
      ...plan.packages,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (pip.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    const out = `${pip.stdout}\n${pip.stderr}`;
    const notFound = out.match(/No matching distribution found for (\S+)/);
    if (notFound) {
      throw new Error(
        `MLX ${mlxVersion} is not published for this platform: pip found no distribution for ${notFound[1]} (${process.platform}/${process.arch}, ${python})`,
      );
    }
    throw new Error(
      `pip install of ${plan.packages.join(' ')} failed:\n${out.trim().split('\n').slice(-15).join('\n')}`,
    );
  }
  rmSync(sdkDir, { recursive: true, force: true });
  renameSync(staging, sdkDir);
  if (!existsSync(libmlxPath)) {
    throw new Error(
      `the MLX wheels installed, but ${libmlxPath} is missing; the backend wheel did not land`,
    );
  }
  const missing = missingRuntimeLibraries();
  if (missing.length > 0) {
    throw new Error(`libmlx needs system libraries that are not installed: ${missing.join(', ')}`);
  }
  const newStamp = { version: mlxVersion, backend: plan.backend, packages: plan.packages };
  writeFileSync(sdkStampPath, `${JSON.stringify(newStamp, null, 2)}\n`);
  log(`MLX ${mlxVersion} (${plan.backend}) installed`);
  return newStamp;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    installSdk();
  } catch (err) {
    console.error(`[anneal] MLX SDK setup failed: ${err.message}`);
    process.exit(1);
  }
}
