// AdamW with decoupled weight decay (Loshchilov & Hutter 2019), global-norm gradient
// clipping, EMA of weights, and the warmup + cosine learning-rate schedule. Pure functions
// of arrays so the whole update can be compiled with the training step.
#pragma once

#include <vector>

#include "engine/params.h"

namespace anneal {

struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// Returns (params', m', v') for one AdamW step at 1-based step `t` (an array, so the compiled
// step is not retraced as t changes) and learning rate `lr` (array).
void adamw_update(const AdamWConfig& c, std::vector<mx::array>& params, std::vector<mx::array>& m,
                  std::vector<mx::array>& v, const std::vector<mx::array>& grads, const mx::array& lr,
                  const mx::array& t);

// Global L2 norm of the gradients, and the gradients scaled so the norm is at most max_norm.
mx::array clip_by_global_norm(std::vector<mx::array>& grads, double max_norm);

// ema' = decay * ema + (1 - decay) * params.
void ema_update(std::vector<mx::array>& ema, const std::vector<mx::array>& params, const mx::array& decay);

// Linear warmup from 0 to base_lr over `warmup` steps, then cosine decay to min_lr at `total`.
double warmup_cosine_lr(long step, long warmup, long total, double base_lr, double min_lr);
// Linear warmup, then base_lr for the rest of the run (for runs extended past their plan).
double warmup_constant_lr(long step, long warmup, double base_lr);

}  // namespace anneal
