import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { linuxCpuFamily, parseAppleHardware, probeHardware } from './index.ts';

const fixtures = join(import.meta.dirname, 'fixtures', 'apple');
const fixture = (name: string) =>
  parseAppleHardware(
    readFileSync(join(fixtures, `${name}.sysctl.txt`), 'utf8'),
    JSON.parse(readFileSync(join(fixtures, `${name}.device-info.json`), 'utf8')),
  );

describe('hardware probe on this machine', () => {
  it('reports the CPU backend, the MLX version, memory and cores', () => {
    const hw = probeHardware();
    expect(hw.backend).toBe(process.platform === 'darwin' ? 'metal' : 'cpu');
    expect(hw.mlxVersion).toMatch(/^0\.32\.\d+/);
    expect(hw.memory.totalBytes).toBeGreaterThan(1024 ** 3);
    expect(hw.memory.workingSetBytes).toBeGreaterThan(0);
    expect(hw.cores.logical).toBeGreaterThanOrEqual(1);
    expect(hw.chip.name.length).toBeGreaterThan(0);
    expect(['openblas', 'reference', 'accelerate', 'unknown']).toContain(hw.blas);
  });
});

describe("a Linux CPU's family (fixtures/linux/README.md)", () => {
  const cpuinfo = (name: string) =>
    readFileSync(join(import.meta.dirname, 'fixtures', 'linux', `${name}.cpuinfo.txt`), 'utf8');

  it("reads x86's CPUID family and model, not the model name", () => {
    expect(linuxCpuFamily(cpuinfo('xeon-2t'))).toBe('x86 6/167');
    // Another generation under the same name is another family.
    const other = cpuinfo('xeon-2t').replace(/^model\t\t: 167$/m, 'model\t\t: 207');
    expect(linuxCpuFamily(other)).toBe('x86 6/207');
  });

  it("reads arm64's implementer and part", () => {
    expect(linuxCpuFamily(cpuinfo('neoverse-n1-2t'))).toBe('arm 0x41/0xd0c');
  });

  it('is null for what says neither', () => {
    expect(linuxCpuFamily('')).toBeNull();
    expect(linuxCpuFamily('processor\t: 0\nmodel name\t: Some CPU\n')).toBeNull();
  });

  it('is what the probe reports on a Linux CPU', () => {
    const hw = probeHardware();
    if (hw.os !== 'linux' || hw.backend !== 'cpu') return;
    expect(hw.chip.family).toBe(linuxCpuFamily(readFileSync('/proc/cpuinfo', 'utf8')));
  });
});

// Fixtures are synthesized from the documented output formats (see fixtures/apple/README.md).
describe('Apple Silicon parsing (synthesized fixtures)', () => {
  it('M1: base tier, 4P + 4E cores, working set from Metal', () => {
    const hw = fixture('m1');
    expect(hw).toMatchObject({
      backend: 'metal',
      os: 'darwin',
      chip: {
        vendor: 'apple',
        name: 'Apple M1',
        family: 'M1',
        tier: 'base',
        gpuArchitecture: 'applegpu_g13g',
      },
      memory: { totalBytes: 17179869184, workingSetBytes: 11453251584, unified: true },
      cores: { logical: 8, performance: 4, efficiency: 4 },
      blas: 'accelerate',
    });
  });

  it('M2 Pro: Pro tier, 8P + 4E cores', () => {
    const hw = fixture('m2-pro');
    expect(hw.chip).toMatchObject({ family: 'M2', tier: 'Pro', gpuArchitecture: 'applegpu_g14s' });
    expect(hw.memory.totalBytes).toBe(32 * 1024 ** 3);
    expect(hw.memory.workingSetBytes).toBe(22906503168);
    expect(hw.cores).toEqual({ logical: 12, performance: 8, efficiency: 4 });
  });

  it('M3 Max: Max tier, 128 GiB unified memory', () => {
    const hw = fixture('m3-max');
    expect(hw.chip).toMatchObject({ family: 'M3', tier: 'Max' });
    expect(hw.memory.totalBytes).toBe(128 * 1024 ** 3);
    expect(hw.cores).toEqual({ logical: 16, performance: 12, efficiency: 4 });
  });

  it('falls back to the Metal device name and memory when sysctl lacks them', () => {
    const hw = parseAppleHardware('hw.ncpu: 10\n', {
      device_name: 'Apple M4 Ultra',
      memory_size: 68719476736,
      max_recommended_working_set_size: 51539607552,
    });
    expect(hw.chip).toMatchObject({ name: 'Apple M4 Ultra', family: 'M4', tier: 'Ultra' });
    expect(hw.memory.totalBytes).toBe(68719476736);
    expect(hw.cores.logical).toBe(10);
  });

  it('accepts `key = value` lines and ignores noise', () => {
    const hw = parseAppleHardware(
      'garbage line\nmachdep.cpu.brand_string = Apple M2\nhw.memsize = 8589934592\n',
      {},
    );
    expect(hw.chip).toMatchObject({ family: 'M2', tier: 'base' });
    expect(hw.memory.totalBytes).toBe(8589934592);
    expect(hw.memory.workingSetBytes).toBe(8589934592);
  });

  it('rejects a device info value that is neither string nor number, naming it', () => {
    expect(() => parseAppleHardware('', { architecture: {} as unknown as string })).toThrow(
      /deviceInfo\.architecture must be a string or a number/,
    );
  });
});
