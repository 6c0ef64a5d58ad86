// Costing a model configuration without training it: parameters and FLOPs are counted
// (unet.h); step latency and peak memory are measured on random data.
#pragma once

#include "engine/denoiser.h"
#include "engine/unet.h"

namespace anneal {

struct StepCost {
  double step_seconds = 0;  // median over the timed steps
  double images_per_second = 0;
  // MLX allocator peak from before the Trainer is built through every step, warm-up included:
  // what check_peak_memory reads in a job (the caller's weights and 2 x batch random images in it).
  std::size_t peak_bytes = 0;
  int steps = 0;
};

// Runs `warmup + steps` compiled training steps of batch `batch` on random images, from a
// copy of `params` (the model is not changed).
// The Trainer snapshots every 2 steps, so from step 3 on its rollback snapshot is a state of
// its own, as in a job; warmup + steps >= 3 measures that.
// With accumulation_steps > 1 the batch is split into that many micro-batches (Trainer).
StepCost measure_training_step(const Params& params, const UNetConfig& cfg, const Preconditioning& prec,
                               int batch, int steps, int warmup = 2, int accumulation_steps = 1);

}  // namespace anneal
