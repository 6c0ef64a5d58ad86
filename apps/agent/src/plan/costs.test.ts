import { probeHardware } from '@anneal/engine';
import { describe, expect, it } from 'vitest';
import { costTablePath, isUnsupportedDtype, profileKey } from './costs.ts';

const nativeError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('isUnsupportedDtype', () => {
  it('is the engine refusing the dtype itself', () => {
    expect(
      isUnsupportedDtype(
        nativeError('ANNEAL_INVALID_ARGUMENT', '[matmul] bfloat16 is not supported on this device'),
        'bfloat16',
      ),
    ).toBe(true);
    expect(
      isUnsupportedDtype(
        nativeError('ANNEAL_INVALID_ARGUMENT', 'dtype must be float32, bfloat16 or float16'),
        'bfloat16',
      ),
    ).toBe(true);
  });

  it('is not memory, a shape error or any other failure', () => {
    expect(
      isUnsupportedDtype(nativeError('ANNEAL_OUT_OF_MEMORY', 'std::bad_alloc'), 'bfloat16'),
    ).toBe(false);
    expect(
      isUnsupportedDtype(
        nativeError('ANNEAL_MEMORY_BUDGET', 'bfloat16 batch 64 needs 9 GiB'),
        'bfloat16',
      ),
    ).toBe(false);
    expect(
      isUnsupportedDtype(
        nativeError('ANNEAL_INVALID_ARGUMENT', '[reshape] Cannot reshape array of size 12'),
        'float32',
      ),
    ).toBe(false);
    expect(isUnsupportedDtype(new Error('bfloat16 failed'), 'bfloat16')).toBe(false);
    expect(isUnsupportedDtype(null, 'bfloat16')).toBe(false);
  });
});

describe('the cost cache key', () => {
  it('does not depend on the BLAS probe, which is not stable between runs', () => {
    const hw = probeHardware();
    const a = profileKey({ ...hw, blas: 'openblas' });
    expect(profileKey({ ...hw, blas: 'reference' })).toBe(a);
    expect(a).toMatch(/^[A-Za-z0-9._-]+$/);
  });

  it("names a CPU's family, so two CPUs of one name keep their own costs", () => {
    const hw = { ...probeHardware(), backend: 'cpu' as const };
    const a = profileKey({ ...hw, chip: { ...hw.chip, name: 'Xeon', family: 'x86 6/167' } }, {});
    const b = profileKey({ ...hw, chip: { ...hw.chip, name: 'Xeon', family: 'x86 6/207' } }, {});
    expect(a).toMatch(/^cpu-Xeon-x86_6_167-\d+t-mlx/);
    expect(b).not.toBe(a);
    const unknown = profileKey({ ...hw, chip: { ...hw.chip, name: 'Xeon', family: null } }, {});
    expect(unknown).toMatch(/^cpu-Xeon-\d+t-mlx/);
    // A Mac's key is its chip's name, as it always was.
    const mac = { ...hw, backend: 'metal' as const };
    expect(
      profileKey({ ...mac, chip: { ...mac.chip, name: 'Apple M2 Pro', family: 'M2' } }, {}),
    ).toMatch(/^metal-Apple_M2_Pro-\d+t-mlx/);
  });

  it('names the BLAS threads a CPU process was limited to, and only then', () => {
    const hw = { ...probeHardware(), backend: 'cpu' as const };
    const free = profileKey(hw, {});
    expect(profileKey(hw, { OPENBLAS_NUM_THREADS: '1' })).toBe(`${free}-blas1`);
    expect(profileKey(hw, { OMP_NUM_THREADS: '2' })).toBe(`${free}-blas2`);
    expect(profileKey(hw, { OPENBLAS_NUM_THREADS: 'x' })).toBe(free);
    expect(profileKey({ ...hw, backend: 'metal' }, { OPENBLAS_NUM_THREADS: '1' })).not.toMatch(
      /blas/,
    );
  });

  it('names how long idle BLAS workers wait on a CPU, when it was set', () => {
    const hw = { ...probeHardware(), backend: 'cpu' as const };
    const free = profileKey(hw, {});
    expect(profileKey(hw, { OPENBLAS_THREAD_TIMEOUT: '4' })).toBe(`${free}-blaswait4`);
    expect(profileKey(hw, { OPENBLAS_NUM_THREADS: '1', OPENBLAS_THREAD_TIMEOUT: '4' })).toBe(
      `${free}-blas1-blaswait4`,
    );
    expect(profileKey(hw, { OPENBLAS_THREAD_TIMEOUT: '' })).toBe(free);
    expect(profileKey({ ...hw, backend: 'metal' }, { OPENBLAS_THREAD_TIMEOUT: '4' })).not.toMatch(
      /blas/,
    );
  });

  it('keeps a median table and a min table in two files', () => {
    const key = { profile: 'p', engine: 'e', config: 'c', guided: false };
    expect(costTablePath('/h', key, 'median')).not.toBe(costTablePath('/h', key, 'min'));
    expect(costTablePath('/h', key, 'min')).not.toBe(
      costTablePath('/h', { ...key, engine: 'f' }, 'min'),
    );
  });
});
