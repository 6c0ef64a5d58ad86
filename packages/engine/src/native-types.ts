// The shape of what native/src/addon exports. Kept beside the loader so each binding's
// TypeScript signature sits next to the others.
import type { HardwareProfile } from './config/hardware.ts';

export interface ThroughputResult {
  gflops: number;
  seconds: number;
  flops: number;
  iterations: number;
}

export interface MemoryStats {
  activeBytes: number;
  peakBytes: number;
  cacheBytes: number;
  limitBytes: number;
}

export interface MemoryBudget {
  bytes: number;
  source: string;
}

export interface JobMemorySpec {
  parameterCount: number;
  bytesPerParameter?: number;
  optimizerStatesPerParameter?: number;
  gradients?: boolean;
  ema?: boolean;
  activationBytesPerExample?: number;
  batchSize?: number;
  workspaceFraction?: number;
}

export interface MemoryEstimate {
  parameters: number;
  gradients: number;
  optimizerState: number;
  ema: number;
  activations: number;
  workspace: number;
  total: number;
}

export interface NativeAddon {
  mlxVersion: string;
  hardware: {
    probe(): HardwareProfile;
    parseApple(sysctlText: string, deviceInfo: Record<string, string | number>): HardwareProfile;
  };
  memory: {
    stats(): MemoryStats;
    resetPeak(): void;
    defaultBudget(fraction?: number): MemoryBudget;
    estimate(spec: JobMemorySpec): MemoryEstimate;
    assertFits(spec: JobMemorySpec, budget: MemoryBudget): void;
    applyLimits(budget: MemoryBudget): void;
    checkPeak(budget: MemoryBudget, step?: number): void;
  };
  throughput: {
    matmul(options?: { n?: number; iterations?: number }): Promise<ThroughputResult>;
    conv(options?: {
      batch?: number;
      size?: number;
      channels?: number;
      kernel?: number;
      iterations?: number;
    }): Promise<ThroughputResult>;
  };
  ops: {
    matmul(
      a: Float32Array,
      aShape: [number, number],
      b: Float32Array,
      bShape: [number, number],
    ): { data: Float32Array; shape: [number, number] };
  };
}
