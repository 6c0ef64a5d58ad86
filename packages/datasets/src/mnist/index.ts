export { loadMnist, loadMnistDigits, MNIST_CLASSES, type MnistSplit } from './load.ts';
export {
  MNIST_COUNT,
  MNIST_GENERATOR_VERSION,
  MNIST_RESOLUTIONS,
  type MnistOptions,
  type MnistOptionsInput,
  mnistOptionsSchema,
} from './options.ts';
