import { cpus } from 'node:os';
import { probeHardware } from '@anneal/engine';
import { loadAverage, systemOpenblas, venvVersions } from './env.ts';

/** What every result file records, so numbers from different machines and loads compare honestly. */
export interface MachineRecord {
  date: string;
  backend: string;
  chip: string;
  cpu_model: string;
  cores_logical: number;
  memory_bytes: number;
  os: string;
  engine_blas: string;
  mlx_python_blas: string;
  versions: Record<string, string>;
  threads: number;
  load_avg: number[];
}

export function describeMachine(threads: number): MachineRecord {
  const hw = probeHardware();
  const blas = systemOpenblas();
  return {
    date: new Date().toISOString(),
    backend: hw.backend,
    chip: hw.chip.name,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    cores_logical: hw.cores.logical,
    memory_bytes: hw.memory.totalBytes,
    os: hw.os,
    engine_blas: hw.blas,
    // train_step_mlx/profile_step run with the system OpenBLAS preloaded where there is one.
    mlx_python_blas: blas ? `${blas} (LD_PRELOAD)` : 'as bundled with mlx',
    versions: { 'mlx (engine)': hw.mlxVersion, node: process.versions.node, ...venvVersions() },
    threads,
    load_avg: loadAverage(),
  };
}
