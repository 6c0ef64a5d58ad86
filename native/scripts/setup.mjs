#!/usr/bin/env node
// Run by the root package's postinstall: installs the pinned MLX SDK (once), then builds
// the addon (incrementally). ANNEAL_SKIP_NATIVE=1 skips both, for web-only work.
import { buildAddon } from './build.mjs';
import { installSdk } from './install-mlx.mjs';

if (process.env.ANNEAL_SKIP_NATIVE === '1') {
  console.log('[anneal] ANNEAL_SKIP_NATIVE=1: skipping the MLX SDK and the native addon');
  process.exit(0);
}

try {
  installSdk();
  buildAddon();
} catch (err) {
  console.error(`\n[anneal] native setup failed: ${err.message}\n`);
  process.exit(1);
}
