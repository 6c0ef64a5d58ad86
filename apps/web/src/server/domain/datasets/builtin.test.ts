import { loadMnistDigits } from '@anneal/datasets/mnist';
import { generateShapes } from '@anneal/datasets/shapes';
import { describe, expect, it } from 'vitest';
import { BUILTIN_DATASETS } from './builtin.ts';

// The datasets page lists what an agent's generators make, checked against their output
// rather than against the constants the list is built from.

const listed = (name: string) => {
  const found = BUILTIN_DATASETS.find((d) => d.name === name);
  if (!found) throw new Error(`${name} is not listed`);
  return found;
};

describe('built-in datasets', () => {
  it('lists exactly the built-ins a job spec can name', () => {
    expect(BUILTIN_DATASETS.map((d) => d.builtin).sort()).toEqual(['mnist', 'shapes']);
  });

  it('shapes: the classes, channels and default count the generator makes', () => {
    const d = listed('shapes');
    const data = generateShapes(8, { count: 60, heldOut: 5 });
    const labels = new Set([...data.train.labels, ...data.heldOut.labels]);
    expect(labels.size).toBe(d.labels.length);
    expect(d.labels).toEqual([...data.classes]);
    expect(data.train.channels).toBe(d.channels);
    for (const c of data.classes) expect(d.description).toContain(c);
    expect(d.fileCount).toBe(10_000);
  });

  it('mnist: the count, classes and channels of the digits agents load', () => {
    const d = listed('mnist');
    const all = loadMnistDigits();
    expect(d.fileCount).toBe(all.count);
    expect(new Set(all.labels).size).toBe(d.labels.length);
    expect(all.channels).toBe(d.channels);
    expect(d.description).toContain(all.count.toLocaleString('en-US'));
  });
});
