import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '@anneal/core/errors';

/** The repository root and the folders the benchmarks read and write. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const referenceDir = join(repoRoot, 'bench', 'reference');
export const resultsDir = join(repoRoot, 'bench', 'results');
export const venvPython = join(repoRoot, 'bench', '.venv', 'bin', 'python');
export const hasVenv = (): boolean => existsSync(venvPython);

/**
 * The system OpenBLAS. The mlx-cpu wheel bundles netlib's reference BLAS (about 10x slower at
 * GEMM here); the engine's addon links OpenBLAS ahead of libmlx, so MLX Python gets the same
 * library through LD_PRELOAD, or the comparison would measure BLAS builds, not bindings.
 */
export const openblasCandidates = [
  '/usr/lib/x86_64-linux-gnu/libopenblas.so.0',
  '/lib/x86_64-linux-gnu/libopenblas.so.0',
  '/usr/lib/aarch64-linux-gnu/libopenblas.so.0',
];
export function systemOpenblas(): string | null {
  if (process.platform !== 'linux') return null;
  return openblasCandidates.find((p) => existsSync(p)) ?? null;
}

/** Thread counts pinned for every contender: oversubscribed OpenMP stalls on a shared CPU. */
export function threadEnv(threads: number): Record<string, string> {
  const n = String(threads);
  return { OMP_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, MKL_NUM_THREADS: n };
}

export function loadAverage(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}

export interface ChildResult {
  line: Record<string, unknown>;
  stderr: string;
  seconds: number;
}

/**
 * Runs one contender as a child process and returns the JSON object on its last stdout line.
 * Every contender runs in its own process, so each gets the same thread environment and a
 * crash or a leak in one cannot skew the next.
 */
export function runJsonChild(
  label: string,
  command: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {},
): Promise<ChildResult> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new AppError('INTERNAL', `${label}: cannot start ${command}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        const why = signal ? `killed by ${signal}` : `exit ${code}`;
        reject(
          new AppError('INTERNAL', `${label} failed (${why}):\n${stderr.trim().slice(-2000)}`),
        );
        return;
      }
      try {
        resolvePromise({ line: JSON.parse(last), stderr, seconds });
      } catch {
        reject(
          new AppError('INTERNAL', `${label}: last stdout line is not JSON: ${last.slice(0, 300)}`),
        );
      }
    });
  });
}

/** Runs a TypeScript file of this package in a child Node (tsx compiles it). */
export function runTsChild(
  label: string,
  file: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ChildResult> {
  const script = join(dirname(fileURLToPath(import.meta.url)), file);
  return runJsonChild(label, process.execPath, ['--import', 'tsx', script, ...args], options);
}

/** Versions of the reference venv's packages, read from their dist-info (no Python start). */
export function venvVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  const lib = join(repoRoot, 'bench', '.venv', 'lib');
  if (!existsSync(lib)) return out;
  const pyDir = readdirNames(lib).find((d) => d.startsWith('python'));
  if (!pyDir) return out;
  const site = join(lib, pyDir, 'site-packages');
  for (const name of readdirNames(site)) {
    const m = /^(torch|diffusers|mlx|mlx_cpu|mlx_metal|numpy)-([^-]+)\.dist-info$/.exec(name);
    if (m?.[1] && m[2]) out[m[1].replace('_', '-')] = m[2];
  }
  return out;
}

function readdirNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}
