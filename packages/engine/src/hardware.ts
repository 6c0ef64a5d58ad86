import { readFileSync } from 'node:fs';
import { type HardwareProfile, hardwareProfileSchema } from './config/hardware.ts';
import { loadNative } from './native.ts';

/**
 * Probes this machine: backend, chip, memory, cores, MLX version and the BLAS in use. On a
 * Linux CPU the chip's family is its generation from /proc/cpuinfo (linuxCpuFamily): cloud
 * machines often name every CPU "Intel(R) Xeon(R) Processor", and two that did so here ran
 * the same models 1.3-1.8x apart.
 */
export function probeHardware(): HardwareProfile {
  const hw = hardwareProfileSchema.parse(loadNative().hardware.probe());
  if (hw.os === 'linux' && hw.backend === 'cpu' && !hw.chip.family) {
    let cpuinfo = '';
    try {
      cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      // No /proc (a restricted sandbox): the profile goes without the family.
    }
    hw.chip.family = linuxCpuFamily(cpuinfo);
  }
  return hw;
}

/**
 * A Linux CPU's generation from /proc/cpuinfo's first processor: x86 "family/model"
 * ("x86 6/167", Intel's and AMD's CPUID numbers, which name the microarchitecture), arm64
 * "implementer/part" ("arm 0x41/0xd0c", Neoverse N1). Null when it has neither.
 */
export function linuxCpuFamily(cpuinfo: string): string | null {
  const first = cpuinfo.split(/\n\s*\n/)[0] ?? '';
  const fields = new Map<string, string>();
  for (const line of first.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const family = fields.get('cpu family');
  const model = fields.get('model');
  if (family && model && /^\d+$/.test(family) && /^\d+$/.test(model))
    return `x86 ${family}/${model}`;
  const implementer = fields.get('CPU implementer');
  const part = fields.get('CPU part');
  if (implementer && part) return `arm ${implementer}/${part}`;
  return null;
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
