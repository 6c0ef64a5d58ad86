// diffusers' UNet2DModel in MLX C++, NHWC. A matched configuration has the same parameter
// count and the same weight names (diffusers' state_dict keys), so checkpoints convert one to
// one and comparisons are fair. Block layout: diffusers/models/unets/unet_2d.py.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/attention.h"
#include "engine/params.h"

namespace anneal {

struct UNetConfig {
  int sample_size = 32;
  int in_channels = 3;
  int out_channels = 3;
  std::vector<int> block_out_channels{64, 128, 256};
  int layers_per_block = 2;
  // "DownBlock2D" | "AttnDownBlock2D", and "UpBlock2D" | "AttnUpBlock2D".
  std::vector<std::string> down_block_types;
  std::vector<std::string> up_block_types;
  int attention_head_dim = 8;  // heads = channels / attention_head_dim
  int norm_num_groups = 32;
  float norm_eps = 1e-5f;
  bool add_attention = true;  // attention in the mid block
  int num_class_embeds = 0;   // 0: unconditional
  float dropout = 0.0f;
  bool flip_sin_to_cos = true;
  float freq_shift = 0.0f;
  int downsample_padding = 1;
  float mid_block_scale_factor = 1.0f;
  bool center_input_sample = false;
  // Linear attention (engine/attention.h, Katharopoulos et al. 2020) in every attention
  // layer instead of softmax attention: a different model, chosen when it is created and
  // kept in config.json ("linear_attention": true); never swapped in for a softmax model.
  // diffusers has no such model.
  bool linear_attention = false;
  // How softmax attention layers execute (engine/attention.h): fused or query-sliced,
  // interchangeable to rounding. Not part of the model: config.json never holds it; the
  // sampler and trainer set it per call from the memory budget (choose_attention).
  AttentionExec attention_exec;

  int time_embed_dim() const { return block_out_channels.at(0) * 4; }
  // Checks shapes and names; throws std::invalid_argument naming the bad field.
  void validate() const;
};

// Random initialization (torch defaults) from a seed.
Params init_unet(const UNetConfig& cfg, std::uint64_t seed);

// Checks that `params` holds exactly the names and shapes `cfg` implies.
void check_unet_params(const Params& params, const UNetConfig& cfg);

// A tensor axis that reads a concatenation of channels: an up block's resnet reads its input
// and the down path's skip side by side (its norm1, conv1 and conv_shortcut). `sizes` are the
// parts' channel counts in order. Every other axis of the U-Net is one run of channels.
struct ConcatenatedAxis {
  int axis;
  std::vector<int> sizes;
};

// The concatenated axes of `cfg`'s tensors, by tensor name.
std::map<std::string, ConcatenatedAxis> concatenated_axes(const UNetConfig& cfg);

// F(x, t, class) -> network output, NHWC. `t` holds float timesteps [B] (the value fed to
// the sinusoidal embedding); `class_labels` int32 [B]; a dropout key enables training mode.
mx::array unet_forward(const Params& params, const UNetConfig& cfg, const mx::array& x,
                       const mx::array& t, const std::optional<mx::array>& class_labels = {},
                       const std::optional<mx::array>& dropout_key = {});

// Multiply-accumulate FLOPs (x2) of one forward pass for one image, counted per layer.
double unet_forward_flops(const UNetConfig& cfg);

// Bytes of activations a training step keeps for backward, per image at float32, counted
// per layer output (a planning estimate for the memory budget, not an allocator trace).
double unet_activation_bytes(const UNetConfig& cfg);

// The images a U-Net's attention runs on: `batch` images of height x width pixels (0: the
// config's sample_size; other sides, as a multi-resolution bucket has them, must be
// multiples of 2^(levels-1)), for training (forward + backward) or not, at `dtype_bytes`
// per element.
struct AttentionWorkload {
  int batch = 1;
  int height = 0;
  int width = 0;
  bool training = false;
  int dtype_bytes = 4;
};

// What the softmax attention layers hold under `exec` (attention_bytes of each layer): kept
// bytes summed over the layers (all are alive when backward starts), the transient bytes of
// the largest (one layer runs at a time). Zero with linear attention.
AttentionBytes unet_attention_bytes(const UNetConfig& cfg, const AttentionWorkload& work,
                                    const AttentionExec& exec);

// How attention should execute when `available` bytes are left for it: fused when its bytes
// fit, else sliced (checkpointed) with the largest power-of-two slice whose bytes fit. When
// even a slice of 1 query does not fit, throws MemoryBudgetError naming the images, the bytes
// left, fused's bytes and slice 1's: the job is refused here, not run at N sequential calls
// per layer past its budget.
AttentionExec choose_attention(const UNetConfig& cfg, const AttentionWorkload& work,
                               double available);

}  // namespace anneal
