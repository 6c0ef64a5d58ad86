// Seeded Gaussian feature sets for the metrics' tests.
import { featureMatrix } from './linalg.ts';
import { seededRandom } from './order.ts';

export function gaussianSamples(n: number, mean: number[], scale: number[], seed: number) {
  const random = seededRandom(seed);
  const d = mean.length;
  const data = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      // Box-Muller
      const u = Math.max(random(), 1e-12);
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
      data[i * d + j] = (mean[j] as number) + (scale[j] as number) * z;
    }
  }
  return featureMatrix(data, n, d);
}
