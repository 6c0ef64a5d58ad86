export { loadMnist, loadMnistDigits, type MnistSplit } from './load.ts';
export {
  MNIST_CHANNELS,
  MNIST_CLASSES,
  MNIST_COUNT,
  MNIST_GENERATOR_VERSION,
  MNIST_RESOLUTIONS,
  type MnistOptions,
  type MnistOptionsInput,
  mnistOptionsSchema,
} from './options.ts';
