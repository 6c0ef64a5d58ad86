// The quality rulers the bench suites read FD and the other metrics on: the same ruler as
// `anneal eval` (the dataset's extractor, n held-out images, the real-vs-real floor), with the
// extractor's training logged under the suite's name.
import type { MetricsProbe, QualityProbe } from '@anneal/bench';
import { Model } from '@anneal/engine';
import { classAccuracy, type FeatureMatrix } from '@anneal/engine/metrics';
import type { LocalDataset } from '../dataset.ts';
import { bootstrapFd, bootstrapFdDifference } from '../quality/bootstrap.ts';
import { cycledClasses, qualityRuler, sampleClasses } from '../quality/evaluate.ts';
import { modelDataset } from '../quality/model-dataset.ts';

/** The flags of `anneal bench` a ruler reads. */
export interface RulerFlags {
  seed: number;
  /** Bootstrap resamples behind FD's spread and the paired comparisons (0: neither). */
  spread?: number;
  n?: number;
  'extractor-steps'?: number;
  'extractor-width'?: number;
}

/**
 * The ruler `anneal eval` reads quality on, for the model in `dir`: its dataset's extractor
 * and n held-out images; `label` names the benchmark in the extractor's progress lines.
 */
export async function benchRuler(
  flags: RulerFlags,
  dir: string,
  n: number,
  label: string,
  log: (line: string) => void,
) {
  const model = Model.load(dir);
  const config = model.config;
  const classes = sampleClasses(model);
  model.dispose();
  const dataset = await modelDataset(config, `${dir}/config.json`);
  return datasetRuler(flags, dataset, classes, n, label, log);
}

/**
 * The quality ruler on `dataset`'s held-out images, logging its extractor's training.
 * `classes`: what the measured samples cycle through (class-stratified real sets), or null.
 */
export async function datasetRuler(
  flags: RulerFlags,
  dataset: LocalDataset,
  classes: number | null,
  n: number,
  label: string,
  log: (line: string) => void,
) {
  let shown = 0;
  const ruler = await qualityRuler({
    dataset,
    n,
    seed: flags.seed,
    classes,
    extractor: { steps: flags['extractor-steps'], width: flags['extractor-width'] },
    onProgress: (phase, done, total) => {
      if (phase === 'extractor' && (done === total || done - shown >= 100)) {
        shown = done;
        log(`${label}: training the ${dataset.name} extractor, step ${done}/${total}`);
      }
    },
  });
  const acc = ruler.extractor.metadata.heldoutAccuracy;
  const about = `extractor ${ruler.extractor.id} (${ruler.extractor.metadata.config.kind}${
    acc === null ? '' : `, held-out accuracy ${(acc * 100).toFixed(1)}%`
  }) on ${dataset.name}, real sets ${ruler.realSets}`;
  return { ruler, about };
}

/** FD as `anneal eval` measures it: the model's dataset's extractor, n held-out images. */
export async function fdProbe(
  flags: RulerFlags,
  dir: string,
  log: (line: string) => void,
  n = flags.n ?? 1000,
  label = 'to-target',
): Promise<QualityProbe> {
  const { ruler, about } = await benchRuler(flags, dir, n, label, log);
  return {
    describe: `${about}; real-vs-real floor FD ${ruler.floor.fd.toFixed(3)} at n = ${n}`,
    fd: async (images, shape) => (await ruler.measure(images, shape)).metrics.fd,
  };
}

/** Every metric `anneal eval` reports, on n held-out images of the model's dataset. */
export async function metricsProbe(
  flags: RulerFlags,
  dir: string,
  n: number,
  log: (line: string) => void,
  label = 'teacher-samplers',
): Promise<MetricsProbe> {
  const { ruler, about } = await benchRuler(flags, dir, n, label, log);
  const classes = ruler.fA.classes;
  const resamples = flags.spread ?? 0;
  // Rows resample within their class (the samples' class is i mod K), keeping class counts.
  const sampleLabels = classes > 0 ? cycledClasses(n, classes) : undefined;
  // Both sets' rows resample within their class: the real set's by its labels, a candidate's
  // by `labels` (a sample set's: i mod K).
  const options = (labels: ArrayLike<number> | undefined = sampleLabels) => ({
    seed: flags.seed,
    resamples,
    strata: classes > 0 ? { reference: ruler.realA.labels, candidate: labels } : {},
  });
  const fdStd = (f: FeatureMatrix, labels?: ArrayLike<number>) =>
    resamples > 0 ? bootstrapFd(ruler.fA.features, f, options(labels)).std : null;
  // Each measured set's features, so a paired comparison does not embed its images again.
  const measured = new WeakMap<Uint8Array, FeatureMatrix>();
  const featuresOf = async (images: Uint8Array, shape: [number, number, number, number]) =>
    measured.get(images) ?? (await ruler.extractor.features(images, shape)).features;
  return {
    describe: `${about}, n = ${n}${resamples > 0 ? `; FD ± its bootstrap standard deviation over ${resamples} resamples within classes` : ''}`,
    n,
    spread: resamples,
    floor: {
      fd: ruler.floor.fd,
      fd_std: fdStd(ruler.fB.features, ruler.realB.labels),
      kid: ruler.floor.kid,
      kid_std: ruler.floor.kidStd,
      precision: ruler.floor.precision,
      recall: ruler.floor.recall,
      accuracy: classes > 0 ? classAccuracy(ruler.fA.logits, classes, ruler.realA.labels) : null,
    },
    async measure(images, shape, labels) {
      const { features, metrics } = await ruler.measure(images, shape);
      measured.set(images, features.features);
      return {
        fd: metrics.fd,
        fd_std: fdStd(features.features),
        kid: metrics.kid,
        kid_std: metrics.kidStd,
        precision: metrics.precision,
        recall: metrics.recall,
        accuracy:
          labels && features.classes > 0
            ? classAccuracy(features.logits, features.classes, labels)
            : null,
      };
    },
    ...(resamples > 0
      ? {
          async fdDifference(a, b, shape) {
            const [fa, fb] = [await featuresOf(a, shape), await featuresOf(b, shape)];
            return bootstrapFdDifference(ruler.fA.features, fa, fb, options());
          },
        }
      : {}),
  } satisfies MetricsProbe;
}
