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

export interface NativeAddon extends NativeClasses {
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

export interface NativeSampleSpec {
  sampler: string;
  steps: number;
  n: number;
  seed: number;
  classLabel?: number;
  guidance?: number;
  eta?: number;
  schedule?: string;
  sigmas?: number[];
  chunk?: number;
}

export interface NativeSampleResult {
  images: Uint8Array;
  shape: [number, number, number, number];
  nfe: number;
  steps: number;
}

export interface NativeModel {
  parameterCount(): number;
  parameterNames(): string[];
  forward(
    x: Float32Array,
    shape: [number, number, number, number],
    t: Float32Array,
    labels?: Int32Array,
  ): Float32Array;
  save(path: string, metadata?: Record<string, string>): void;
  cost(): { parameters: number; forwardFlopsPerImage: number; activationBytesPerImage: number };
  measureStep(options: { batch: number; steps: number; warmup?: number }): Promise<{
    stepSeconds: number;
    imagesPerSecond: number;
    peakBytes: number;
    steps: number;
  }>;
  sample(
    spec: NativeSampleSpec,
    onStep?: (p: { step: number; total: number }) => void,
  ): Promise<NativeSampleResult>;
  gradientCheck(options?: { seed?: number; epsilon?: number }): {
    analytic: number;
    numeric: number;
  };
  dispose(): void;
}

export interface NativeStepReport {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
  lrScale: number;
  rolledBack: boolean;
  restoredTo: number;
  peakBytes: number;
  activeBytes: number;
  seconds: number;
}

export interface NativeTrainerOptions {
  batchSize: number;
  totalSteps: number;
  lr?: number;
  minLr?: number;
  warmupSteps?: number;
  gradClip?: number;
  emaDecay?: number;
  weightDecay?: number;
  seed?: number;
  compile?: boolean;
  snapshotEvery?: number;
  maxRollbacks?: number;
  budgetBytes?: number;
  budgetSource?: string;
  shards: string[];
  numClasses?: number;
  dtype?: 'float32' | 'bfloat16' | 'float16';
  cfgDropout?: number;
}

export interface NativeTrainer {
  readonly step: number;
  run(
    steps: number,
    onStep?: (r: NativeStepReport) => void,
  ): Promise<{ step: number; cancelled: boolean }>;
  cancel(): void;
  saveState(path: string): void;
  loadState(path: string): void;
  ema(): NativeModel;
  model(): NativeModel;
}

export interface NativeClasses {
  Model: new (config: unknown, options?: { seed?: number; weights?: string }) => NativeModel;
  Trainer: new (model: NativeModel, options: NativeTrainerOptions) => NativeTrainer;
  sampling: {
    sigmas(
      options: {
        steps: number;
        schedule: string;
        sigmaMin?: number;
        sigmaMax?: number;
        rho?: number;
        sigmas?: number[];
      },
      config?: unknown,
    ): number[];
    gaussian(options: {
      dim: number;
      mean: Float32Array;
      eigvecs: Float32Array;
      eigvals: Float32Array;
      sampler: string;
      steps: number;
      n: number;
      seed?: number;
      eta?: number;
      sigmaMax?: number;
      sigmaMin?: number;
    }): { samples: Float32Array; exact: Float32Array; nfe: number };
  };
}
