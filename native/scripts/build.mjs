#!/usr/bin/env node
// Builds the addon with cmake-js against the project-local MLX SDK. cmake-js reuses the
// build folder, so a second run only recompiles what changed; it configures again only when
// the BLAS to link has changed since the last configure (scripts/blas.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { blasReconfigure, blasStampPath, findOpenBlas, readBlasStamp } from './blas.mjs';
import { addonPath, cudnnDefines, mlxCmakeDir, nativeRoot } from './sdk.mjs';

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
  const buildDir = join(nativeRoot, 'build');
  const blas = findOpenBlas();
  const args = [
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
    `--CDANNEAL_OPENBLAS=${blas ?? 'OFF'}`,
    ...cudnnDefines(),
  ];
  if (debug) args.push('--debug');
  const cmake = (command) => {
    const r = spawnSync(process.execPath, [cmakeJs, command, ...args], {
      stdio: 'inherit',
      cwd: nativeRoot,
    });
    if (r.status !== 0)
      throw new Error(`cmake-js ${command} exited with ${r.status}; see the output above`);
  };
  const started = Date.now();
  const decision = blasReconfigure({
    cacheExists: existsSync(join(buildDir, 'CMakeCache.txt')),
    stamp: readBlasStamp(buildDir),
    detected: blas,
  });
  if (decision.reconfigure) {
    console.log(`[anneal] reconfiguring the native build: ${decision.reason}`);
    cmake('configure');
  }
  console.log('[anneal] building the native addon (cmake-js)');
  cmake('compile');
  writeFileSync(blasStampPath(buildDir), `${JSON.stringify({ blas })}\n`);
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
