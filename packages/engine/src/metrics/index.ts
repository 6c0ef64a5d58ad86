// Quality metrics over extractor features and images: pure functions, no native code.
export { classAccuracy } from './accuracy.ts';
export { frechetDistance, frechetDistanceGaussians } from './fd.ts';
export { type ImageSet, pairedFeatureDistance, psnr, ssim } from './fidelity.ts';
export { type KidOptions, type KidResult, kernelInceptionDistance, mmdUnbiased } from './kid.ts';
export {
  type FeatureMatrix,
  featureMatrix,
  meanAndCovariance,
  selectRows,
  sqrtPsd,
  symmetricEigen,
} from './linalg.ts';
export { canonicalOrder, sampleWithoutReplacement, seededRandom } from './order.ts';
export { kthNeighbourRadii, precisionRecall } from './precision-recall.ts';
