// What a search candidate costs on this device (issue 19 section 2), measured by the engine,
// never estimated alone: latency per sampling step at batch 1 and per image at the throughput
// batch (the per-NFE slope of plan's cost table, so a call's fixed overhead is not counted as
// a step), and a training step's time and peak memory. Cached per hardware profile, engine
// build and architecture, as plan's costs are.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { resolveAnnealHome } from '@anneal/core/home';
import { attentionBytes, type HardwareProfile, type Model, writeFileAtomic } from '@anneal/engine';
import {
  SEARCH_COST_TARGETS,
  type SearchMeasuredCost,
  searchMeasuredCostSchema,
} from '@anneal/protocol';
import { z } from 'zod';
import { configKey, engineBuild, obtainCosts, profileKey } from '../plan/costs.ts';
import { parseJsonFile } from '../plan/json-file.ts';
import type { CostFeatures } from './predictor.ts';

/** The protocol's cost schema (a search job's summary carries it). */
export const measuredCostSchema = searchMeasuredCostSchema;
export type MeasuredCost = SearchMeasuredCost;
/** The measured quantities a predictor is fitted for, in the order tables show them. */
export const COST_TARGETS = SEARCH_COST_TARGETS;
export type CostTarget = (typeof COST_TARGETS)[number];

/** What the engine counts of a model without running it. */
export function costFeatures(model: Model): CostFeatures {
  const c = model.cost();
  // Softmax attention's score elements per image (saved bytes / 4 in float32); linear
  // attention keeps none, and its work is in the FLOPs.
  const scores = attentionBytes(model.config.unet, { batch: 1, training: true }).kept / 4;
  return {
    forwardFlopsPerImage: c.forwardFlopsPerImage,
    activationBytesPerImage: c.activationBytesPerImage,
    attentionWork: model.config.unet.linear_attention ? 0 : scores,
    parameters: c.parameters,
  };
}

export interface MeasureOptions {
  hardware: HardwareProfile;
  throughputBatch: number;
  trainBatch: number;
  home?: string;
  /** Timed calls of each NFE per sampling cell (default 5), and training steps (default 3). */
  repeats?: number;
  /** Measured even where the cache holds the costs, which the new measurement replaces. */
  refresh?: boolean;
}

const trainCostSchema = z.object({
  profile: z.string(),
  engine: z.string(),
  config: z.string(),
  batch: z.number().int().positive(),
  stepMs: z.number().positive(),
  peakBytes: z.number().nonnegative(),
  measuredAt: z.string(),
});

function trainCostPath(home: string, profile: string, config: string, batch: number): string {
  return join(
    home,
    'cache',
    'costs',
    profile,
    `engine-${engineBuild()}`,
    `${config}-train-b${batch}.json`,
  );
}

/** A training step's time and peak memory, cached per profile, engine build and architecture. */
async function trainCost(
  model: Model,
  o: MeasureOptions,
): Promise<{ stepMs: number; peakBytes: number }> {
  const config = configKey(model.config);
  const profile = profileKey(o.hardware);
  const path = trainCostPath(o.home ?? resolveAnnealHome(), profile, config, o.trainBatch);
  const cached = o.refresh ? null : parseJsonFile(path, trainCostSchema);
  if (cached?.ok) return cached.value;
  const r = await model.measureStep({ batch: o.trainBatch, steps: 3, warmup: 1 });
  const entry = {
    profile,
    engine: engineBuild(),
    config,
    batch: o.trainBatch,
    stepMs: r.stepSeconds * 1000,
    peakBytes: r.peakBytes,
    measuredAt: new Date().toISOString(),
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, `${JSON.stringify(entry, null, 2)}\n`);
  return entry;
}

/** Measures (or reads from the cache) what `model` costs on this device. */
export async function measureCandidate(model: Model, o: MeasureOptions): Promise<MeasuredCost> {
  const { table } = await obtainCosts({
    model,
    hardware: o.hardware,
    guided: false,
    batches: [1, o.throughputBatch],
    dtypes: ['float32'],
    nfe: [2, 10],
    repeats: o.repeats ?? 5,
    // The fastest of the calls: other work on the machine only ever adds time, and a search
    // compares many candidates measured minutes apart on a machine that may not be idle.
    statistic: 'min',
    home: o.home,
    refresh: o.refresh,
  });
  const at = (batch: number) => {
    const e = table.entries.find((x) => x.dtype === 'float32' && x.batch === batch);
    if (!e) throw new Error(`the cost table has no float32 entry at batch ${batch}`);
    return e;
  };
  const train = await trainCost(model, o);
  return measuredCostSchema.parse({
    latencyMs: at(1).perNfeMs,
    throughputMsPerImage: at(o.throughputBatch).perNfeMs / o.throughputBatch,
    throughputBatch: o.throughputBatch,
    samplePeakBytes: at(o.throughputBatch).peakBytes,
    trainStepMs: train.stepMs,
    trainBatch: o.trainBatch,
    trainPeakBytes: train.peakBytes,
  });
}
