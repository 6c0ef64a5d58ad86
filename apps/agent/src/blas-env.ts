/**
 * How long OpenBLAS's worker threads wait for work, for the commands that train.
 *
 * After each multi-threaded gemm, OpenBLAS's workers spin (sched_yield in a loop) for 2^28
 * cycles, a tenth of a second, before they sleep. A training step calls gemm between long
 * stretches of MLX's own single-threaded CPU work (copies, norms, activations), so on the
 * CPU backend the workers spin most of the step: measured on a 2-core Xeon, the 0.54M-parameter
 * search winner's training step took 1,108 ms and 23 CPU-seconds per 10 steps with the default
 * wait, 1,112 ms and 14 CPU-seconds with OPENBLAS_THREAD_TIMEOUT=4 (2^4 cycles); a second
 * training on the other core ran beside it at full speed instead of 25-35% slower. Sampling at
 * batch 1 is the other way round: waking a sleeping worker for each of a step's small gemms
 * made a step 13-19% slower (teacher 21.5 -> 24.7 ms), so commands that sample or measure
 * latency keep OpenBLAS's default. The value read here is part of the cost cache's profile
 * key (plan/costs.ts profileKey), so latencies measured under either never mix.
 *
 * MLX on Metal does not use OpenBLAS; there the variable is never read.
 */
export const TRAINING_COMMANDS: ReadonlySet<string> = new Set(['train', 'distill', 'search']);

/** 2^4 cycles: OpenBLAS's smallest wait (it raises anything lower to 4). */
export const TRAINING_BLAS_WAIT = '4';

/**
 * The variables to set before the engine loads for `command` (OpenBLAS reads them once, when
 * it loads). Nothing for the other commands, or when the user set OPENBLAS_THREAD_TIMEOUT
 * (an empty value keeps OpenBLAS's default).
 */
export function blasEnvFor(
  command: string | undefined,
  env: NodeJS.ProcessEnv,
): Record<string, string> {
  if (command === undefined || !TRAINING_COMMANDS.has(command)) return {};
  if (env.OPENBLAS_THREAD_TIMEOUT !== undefined) return {};
  return { OPENBLAS_THREAD_TIMEOUT: TRAINING_BLAS_WAIT };
}
