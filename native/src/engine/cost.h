// Costing a model configuration without training it: parameters and FLOPs are counted
// (unet.h); step latency and peak memory are measured on random data.
#pragma once

#include "engine/denoiser.h"
#include "engine/unet.h"

namespace anneal {

struct StepCost {
  double step_seconds = 0;  // median over the timed steps
  double images_per_second = 0;
  std::size_t peak_bytes = 0;  // MLX allocator peak during the timed steps
  int steps = 0;
};

// Runs `warmup + steps` compiled training steps of batch `batch` on random images, from a
// copy of `params` (the model is not changed).
// With accumulation_steps > 1 the batch is split into that many micro-batches (Trainer).
StepCost measure_training_step(const Params& params, const UNetConfig& cfg, const Preconditioning& prec,
                               int batch, int steps, int warmup = 2, int accumulation_steps = 1);

}  // namespace anneal
