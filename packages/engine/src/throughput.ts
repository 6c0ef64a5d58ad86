import { loadNative } from './native.ts';
import type { ThroughputResult } from './native-types.ts';

export type { ThroughputResult };

/** Square float32 GEMM throughput: the machine's ceiling for dense math. */
export function measureMatmul(options: { n?: number; iterations?: number } = {}) {
  return loadNative().throughput.matmul(options);
}

/**
 * 3x3 convolution forward + backward at U-Net-like shapes (default batch 64, 32x32,
 * 64 channels): what a training step actually spends its time on.
 */
export function measureConv(
  options: {
    batch?: number;
    size?: number;
    channels?: number;
    kernel?: number;
    iterations?: number;
  } = {},
) {
  return loadNative().throughput.conv(options);
}
