#!/usr/bin/env node
// Builds the addon with cmake-js against the project-local MLX SDK. cmake-js reuses the
// build folder, so a second run only recompiles what changed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { addonPath, mlxCmakeDir, nativeRoot } from './sdk.mjs';

const require = createRequire(import.meta.url);

export function buildAddon({ debug = process.env.ANNEAL_NATIVE_DEBUG === '1' } = {}) {
  if (!existsSync(join(mlxCmakeDir, 'MLXConfig.cmake'))) {
    throw new Error(
      `the MLX SDK is not installed (${mlxCmakeDir} missing); run \`npm run setup -w @anneal/native\``,
    );
  }
  const cmakeJs = join(require.resolve('cmake-js/package.json'), '..', 'bin', 'cmake-js');
  const addonApi = dirname(require.resolve('node-addon-api/package.json'));
  const jobs = String(Math.max(1, Number(process.env.ANNEAL_BUILD_JOBS ?? 2)));
  const args = [
    cmakeJs,
    'compile',
    '--log-level',
    'warn',
    '--directory',
    nativeRoot,
    '--out',
    join(nativeRoot, 'build'),
    '--parallel',
    jobs,
    `--CDMLX_DIR=${mlxCmakeDir}`,
    `--CDNODE_ADDON_API_DIR=${addonApi}`,
  ];
  if (debug) args.push('--debug');
  const started = Date.now();
  console.log('[anneal] building the native addon (cmake-js)');
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: nativeRoot });
  if (r.status !== 0)
    throw new Error(`cmake-js exited with ${r.status}; see the compiler output above`);
  if (!existsSync(addonPath)) throw new Error(`the build finished but ${addonPath} is missing`);
  console.log(
    `[anneal] native addon built in ${((Date.now() - started) / 1000).toFixed(1)} s: ${addonPath}`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    buildAddon();
  } catch (err) {
    console.error(`[anneal] native build failed: ${err.message}`);
    process.exit(1);
  }
}
