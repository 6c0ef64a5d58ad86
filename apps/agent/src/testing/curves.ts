import { expect } from 'vitest';

/** One logged step of a training curve: its position (step or iteration), loss, grad norm. */
export interface CurvePoint {
  at: number;
  loss: number;
  grad_norm: number;
}

/**
 * Two runs logged the same curve: the same steps, and loss and gradient norm at each within
 * float32 summation-order noise (relative 1e-5), as data-parallel ranks do against one
 * process at the same batch.
 */
export function expectSameCurve(a: CurvePoint[], b: CurvePoint[]): void {
  expect(a.map((m) => m.at)).toEqual(b.map((m) => m.at));
  for (const [i, m] of a.entries()) {
    const o = b[i] as CurvePoint;
    expect(Math.abs(m.loss - o.loss)).toBeLessThanOrEqual(1e-5 * o.loss);
    expect(Math.abs(m.grad_norm - o.grad_norm)).toBeLessThanOrEqual(1e-5 * o.grad_norm);
  }
}
