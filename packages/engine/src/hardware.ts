import { type HardwareProfile, hardwareProfileSchema } from './config/hardware.ts';
import { loadNative } from './native.ts';

/** Probes this machine: backend, chip, memory, cores, MLX version and the BLAS in use. */
export function probeHardware(): HardwareProfile {
  return hardwareProfileSchema.parse(loadNative().hardware.probe());
}

/**
 * Builds an Apple Silicon profile from `sysctl` output and MLX's Metal device info. Pure:
 * the probe uses the same code on a Mac, and tests feed it fixtures elsewhere.
 */
export function parseAppleHardware(
  sysctlText: string,
  deviceInfo: Record<string, string | number>,
): HardwareProfile {
  return hardwareProfileSchema.parse(loadNative().hardware.parseApple(sysctlText, deviceInfo));
}
