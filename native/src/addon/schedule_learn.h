// Schedule learning bindings (engine/schedule_learn.h).
//   Model.learnSchedule(spec, onProgress?): async -> {result: Promise<LearnedSchedule>, cancel()}.
//     spec: {sampler, nfe, n?, seed?, heldoutSeed?, classLabel?, guidance?, clipDenoised?,
//     initial? (a schedule kind, default "default"), rho?, reference? {sampler, steps},
//     sweeps?, knownReference?, resume?}. cancel() stops after the sampler run in progress;
//     the promise then resolves with the best schedule so far and `cancelled: true`.
//     onProgress receives {phase, done, total, error, reference?, checkpoint?}: `reference`
//     once, when the reference runs end ({grid, cost: Float64Array, trainEnd, heldoutEnd:
//     Float32Array}, engine LearnReference), `checkpoint` at the start of every coordinate of
//     the descent ({dpSigmas, best, baselineTrain, dpTrain, bestError, sweep, k, move, done,
//     evaluations}, engine LearnCheckpoint). Passed back as spec.knownReference, a record skips
//     the reference runs (it must be of the same grid and batch sizes); spec.resume continues
//     the descent from a checkpoint of the same learn (every field required). A stochastic
//     sampler, nfe < 1, an even Heun nfe, a consistency model, or a record or checkpoint that
//     does not fit rejects with ANNEAL_INVALID_ARGUMENT; a bad field throws a
//     TypeError/RangeError naming it.
//   sampling.learnGaussian(options): sync -> LearnedSchedule, on the closed-form denoiser of
//     Gaussian data: {dim, mean, eigvecs, eigvals, sampler, sigmas (the initial schedule), n,
//     seed, heldoutSeed, sigmaMin, reference?, sweeps?}.
// LearnedSchedule: {sigmas, dpSigmas, initialSigmas?, baselineTrain, baselineHeldout,
//   learnedTrain, learnedHeldout, dpTrain, evaluations, nfe, cancelled, referenceReused,
//   resumed}: errors are mean squared error per element between the sampler's endpoint and the
//   reference's from the same noise.
#pragma once

#include <napi.h>

#include <memory>

#include "addon/model.h"

namespace anneal::addon {

Napi::Value LearnModelSchedule(const Napi::CallbackInfo& info, std::shared_ptr<ModelState> state);
Napi::Value LearnGaussianSchedule(const Napi::CallbackInfo& info);

}  // namespace anneal::addon
