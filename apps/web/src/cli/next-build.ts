import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '@anneal/core';

/** apps/web: where Next finds its app directory and writes `.next`. */
export const webDir = fileURLToPath(new URL('../..', import.meta.url));

// What the browser bundle is built from; server-only code runs from source through tsx.
const INPUTS = ['src/app', 'src/ui', 'next.config.ts', 'package.json'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** True when there is no production build, or a UI source changed after it was made. */
export function buildIsStale(): boolean {
  const buildId = join(webDir, '.next', 'BUILD_ID');
  if (!existsSync(buildId)) return true;
  const built = statSync(buildId).mtimeMs;
  return INPUTS.some((input) => newestMtime(join(webDir, input)) > built);
}

/** Runs `next build` in apps/web, streaming its output. */
export async function buildNext(log: (line: string) => void): Promise<void> {
  const nextBin = createRequire(import.meta.url).resolve('next/dist/bin/next');
  log('anneal-server: building the dashboard (next build); this happens once per change');
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [nextBin, 'build'], {
      cwd: webDir,
      stdio: 'inherit',
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
    });
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code !== 0) throw new AppError('INTERNAL', `next build failed (exit code ${code})`);
}

export async function ensureBuild(log: (line: string) => void, force = false): Promise<boolean> {
  if (!force && !buildIsStale()) return false;
  await buildNext(log);
  return true;
}
