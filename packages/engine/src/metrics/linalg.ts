// Dense float64 linear algebra for the metrics: enough for feature covariances (d ~ 128),
// with no native dependency so the metrics stay pure and testable in isolation.

/** Row-major n x d features; float64 so means and covariances do not lose precision. */
export interface FeatureMatrix {
  n: number;
  dim: number;
  data: Float64Array;
}

/** Copies a row-major n x dim array (e.g. Float32Array from the engine) into float64. */
export function featureMatrix(data: ArrayLike<number>, n: number, dim: number): FeatureMatrix {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(dim) || dim < 1)
    throw new RangeError(
      `feature matrix needs positive integer n and dim (got n=${n}, dim=${dim})`,
    );
  if (data.length !== n * dim)
    throw new RangeError(`feature matrix: ${data.length} values are not n*dim = ${n}*${dim}`);
  return { n, dim, data: Float64Array.from(data) };
}

/** Rows `indices` of `x`, in that order. */
export function selectRows(x: FeatureMatrix, indices: ArrayLike<number>): FeatureMatrix {
  const out = new Float64Array(indices.length * x.dim);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r] as number;
    if (i < 0 || i >= x.n) throw new RangeError(`row ${i} is outside 0..${x.n - 1}`);
    out.set(x.data.subarray(i * x.dim, (i + 1) * x.dim), r * x.dim);
  }
  return { n: indices.length, dim: x.dim, data: out };
}

/** Mean and unbiased (n - 1) covariance, both float64; the covariance is d x d row-major. */
export function meanAndCovariance(x: FeatureMatrix): { mean: Float64Array; cov: Float64Array } {
  if (x.n < 2) throw new RangeError(`a covariance needs at least 2 samples (got ${x.n})`);
  const { n, dim: d, data } = x;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) + (data[i * d + j] as number);
  for (let j = 0; j < d; j++) mean[j] = (mean[j] as number) / n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) row[j] = (data[i * d + j] as number) - (mean[j] as number);
    for (let a = 0; a < d; a++) {
      const ra = row[a] as number;
      if (ra === 0) continue;
      for (let b = a; b < d; b++)
        cov[a * d + b] = (cov[a * d + b] as number) + ra * (row[b] as number);
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = (cov[a * d + b] as number) / (n - 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  return { mean, cov };
}

/**
 * Eigen-decomposition of a symmetric matrix by the cyclic Jacobi method (Golub & Van Loan,
 * Matrix Computations, 4th ed., section 8.5): slow for large d but unconditionally stable and
 * accurate for the symmetric PSD matrices FD needs. Returns eigenvalues and the eigenvectors
 * as the columns of a row-major d x d matrix.
 */
export function symmetricEigen(
  matrix: Float64Array,
  d: number,
): { values: Float64Array; vectors: Float64Array } {
  if (matrix.length !== d * d) throw new RangeError(`expected a ${d}x${d} matrix`);
  const a = Float64Array.from(matrix);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  let scale = 0;
  for (let i = 0; i < d * d; i++) scale += (a[i] as number) ** 2;
  const tolerance = 1e-30 * Math.max(scale, Number.MIN_VALUE);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++)
      for (let q = p + 1; q < d; q++) off += (a[p * d + q] as number) ** 2;
    if (off <= tolerance) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q] as number;
        if (apq === 0) continue;
        const app = a[p * d + p] as number;
        const aqq = a[q * d + q] as number;
        // The rotation that zeroes a[p][q] (Golub & Van Loan, Algorithm 8.5.1).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p] as number;
          const akq = a[k * d + q] as number;
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k] as number;
          const aqk = a[q * d + k] as number;
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p] as number;
          const vkq = v[k * d + q] as number;
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = a[i * d + i] as number;
  return { values, vectors: v };
}

/** C = A B for row-major d x d matrices. */
export function matmulSquare(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const c = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const aik = a[i * d + k] as number;
      if (aik === 0) continue;
      for (let j = 0; j < d; j++)
        c[i * d + j] = (c[i * d + j] as number) + aik * (b[k * d + j] as number);
    }
  }
  return c;
}

/** The symmetric PSD square root V diag(sqrt(max(lambda, 0))) V^T. */
export function sqrtPsd(matrix: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const s = Math.sqrt(Math.max(values[k] as number, 0));
    if (s === 0) continue;
    for (let i = 0; i < d; i++) {
      const vik = (vectors[i * d + k] as number) * s;
      for (let j = 0; j < d; j++)
        out[i * d + j] = (out[i * d + j] as number) + vik * (vectors[j * d + k] as number);
    }
  }
  return out;
}
