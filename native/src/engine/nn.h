// Layers as free functions over a parameter map, NHWC. Each matches the PyTorch/diffusers
// layer of the same name numerically, so converted checkpoints agree.
#pragma once

#include <optional>
#include <string>

#include "engine/params.h"

namespace anneal::nn {

// y = x W^T + b, W of shape (out, in) as in torch.nn.Linear.
mx::array linear(const Params& p, const std::string& name, const mx::array& x);

// "same"-style convolution with weight (out, kH, kW, in) and bias, NHWC.
mx::array conv2d(const Params& p, const std::string& name, const mx::array& x, int stride = 1,
                 int padding = -1);

// torch.nn.GroupNorm over NHWC: statistics per (sample, group) over H, W and the group's
// channels, biased variance, eps inside the square root, then a per-channel affine.
mx::array group_norm(const Params& p, const std::string& name, const mx::array& x, int groups,
                     float eps);

mx::array silu(const mx::array& x);

// Inverted dropout; identity when rate == 0 or no key is given (inference).
mx::array dropout(const mx::array& x, float rate, const std::optional<mx::array>& key);

// diffusers.models.embeddings.get_timestep_embedding: half = dim / 2,
// freqs = exp(-ln(max_period) * i / (half - freq_shift)), emb = [sin(t f), cos(t f)],
// swapped to [cos, sin] when flip_sin_to_cos.
mx::array timestep_embedding(const mx::array& t, int dim, bool flip_sin_to_cos, float freq_shift,
                             float max_period = 10000.0f);

// Parameter initializers matching torch's defaults (kaiming-uniform with a = sqrt(5), i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases).
void init_linear(Params& p, const std::string& name, int in, int out, mx::array& key);
void init_conv(Params& p, const std::string& name, int in, int out, int k, mx::array& key);
void init_norm(Params& p, const std::string& name, int channels);

}  // namespace anneal::nn
