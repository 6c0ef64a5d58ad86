import { describe, expect, it } from 'vitest';
import { incompleteBeta, studentTUpperTail } from './student-t.ts';

describe("Student's t upper tail", () => {
  it('matches printed one-sided critical values', () => {
    // t_{0.99} and t_{0.95} quantiles from the standard tables.
    for (const [t, dof, p] of [
      [31.821, 1, 0.01],
      [2.896, 8, 0.01],
      [2.552, 18, 0.01],
      [1.734, 18, 0.05],
      [2.326, 1e6, 0.01],
    ] as const)
      expect(studentTUpperTail(t, dof)).toBeCloseTo(p, 4);
  });

  it('is 1/2 at 0, symmetric, and has the Cauchy closed form at one degree of freedom', () => {
    expect(studentTUpperTail(0, 5)).toBeCloseTo(0.5, 14);
    expect(studentTUpperTail(-1.3, 7) + studentTUpperTail(1.3, 7)).toBeCloseTo(1, 14);
    for (const t of [0.2, 1, 4, 30])
      expect(studentTUpperTail(t, 1)).toBeCloseTo(0.5 - Math.atan(t) / Math.PI, 12);
  });

  it('takes infinite t, and names a bad dof', () => {
    expect(studentTUpperTail(Number.POSITIVE_INFINITY, 4)).toBe(0);
    expect(studentTUpperTail(Number.NEGATIVE_INFINITY, 4)).toBe(1);
    expect(studentTUpperTail(Number.NaN, 4)).toBeNaN();
    expect(() => studentTUpperTail(1, 0)).toThrow(/degrees of freedom/);
  });

  it('incomplete beta: I_x(1, 1) = x and I_x(a, 1) = x^a', () => {
    for (const x of [0.1, 0.5, 0.93]) {
      expect(incompleteBeta(x, 1, 1)).toBeCloseTo(x, 13);
      expect(incompleteBeta(x, 3.5, 1)).toBeCloseTo(x ** 3.5, 13);
    }
  });
});
