// What a training step minimizes. The loss and its target are pluggable: data (plain
// denoising training) now; a frozen teacher (distillation) and an EMA target network
// (consistency training) implement the same interface. Frozen arrays enter the compiled step
// as inputs, never as captured constants, so the step stays a pure function.
#pragma once

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "engine/denoiser.h"
#include "engine/unet.h"

namespace anneal {

// Which rows of a training step's effective batch a batch holds. Whole (the default): the
// batch is the step's. A micro-batch of an accumulated step (Trainer, accumulation_steps > 1)
// has `rows` (int32 [b], an input of the compiled gradient function) and `effective` = k b:
// its per-example random draws are made for the whole effective batch and its rows kept, so
// k micro-batches of b draw exactly what one batch of k b draws from the same key (MLX's
// random bits for a shape are not a concatenation of smaller draws). The extra draw is the
// size of the effective batch's inputs, small beside the activations accumulation saves.
struct BatchRows {
  std::optional<mx::array> rows;
  int effective = 0;
  // `draw(shape)` for a batch whose leading dimension is this batch's; the rows of the whole
  // effective batch's draw for a micro-batch.
  template <class Draw>
  mx::array per_example(mx::Shape shape, Draw draw) const {
    if (!rows) return draw(shape);
    shape[0] = effective;
    return mx::take(draw(shape), *rows, 0);
  }
  // The U-Net dropout key of this micro-batch: the step's key split into one per micro-batch
  // (effective / its size), the one at this micro-batch's position, so no two micro-batches
  // of a step share masks; the step's key itself without accumulation. (Masks are drawn at the
  // micro-batch's shape, so with dropout the trajectory depends on the micro-batch size.)
  mx::array dropout_key(const mx::array& key) const {
    if (!rows) return key;
    const int micro = rows->shape(0);
    auto index = mx::floor_divide(mx::take(*rows, 0), mx::array(micro));
    return mx::take(mx::random::split(key, effective / micro), index, 0);
  }
};

struct TrainBatch {
  mx::array x0;      // float [B, H, W, C] in [-1, 1]
  mx::array labels;  // int32 [B]
  // The step being taken, 1-based, as a float32 scalar input of the compiled step (so a
  // curriculum that depends on it does not recompile): consistency training's shrinking gap.
  mx::array step = mx::array(1.0f);
  BatchRows rows;
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::string name() const = 0;
  virtual std::vector<mx::array> frozen() const { return {}; }
  // What a resumed run must share with the run that wrote its state, besides the name: named
  // fields (e.g. "sigmas", "options", "teacher") whose values are digests or short texts.
  // Written into the trainer state's metadata; a resume that differs in any is refused.
  virtual std::map<std::string, std::string> identity() const { return {}; }
  virtual mx::array loss(const Params& student, const std::vector<mx::array>& frozen, const TrainBatch& batch,
                         const mx::array& key) const = 0;
};

// How each example's network-space squared error is weighted. None: plain MSE in network
// space (the eps / v / x0 / EDM loss). MinSnr (Hang et al. 2023, as in diffusers'
// train_text_to_image.py): a per-example weight so that the effective x0-space weight is
// min(SNR, gamma), SNR = 1 / sigma^2 in the engine's VE sigma space.
enum class LossWeighting { None, MinSnr };

// The min-SNR weight on the network-space MSE per sigma [B]: min(SNR, gamma) / SNR for eps,
// min(SNR, gamma) / (SNR + 1) for v, min(SNR, gamma) for x0. Throws std::invalid_argument
// for EDM and consistency, whose loss weighting is their own.
mx::array min_snr_weight(Parameterization kind, const mx::array& sigma, double gamma);

struct DenoisingOptions {
  float cfg_dropout = 0.1f;         // class-conditional models: share of labels replaced by the null class
  LossWeighting loss_weighting = LossWeighting::None;
  double min_snr_gamma = 5.0;       // MinSnr only
  mx::Dtype compute_dtype = mx::float32;  // bf16 / fp16 forward with float32 master weights
  double edm_p_mean = -1.2, edm_p_std = 1.2;  // EDM's log-normal sigma distribution
};

// Denoising score matching against the data: sigma drawn per example (uniform DDPM
// timesteps for VP parameterizations, log-normal for EDM), then an MSE in network space
// against Denoiser::network_target, which is the eps / v / x0 / EDM loss.
class DenoisingObjective : public Objective {
 public:
  DenoisingObjective(UNetConfig unet, Preconditioning prec, DenoisingOptions options = {});
  std::string name() const override { return "denoising"; }
  mx::array loss(const Params& student, const std::vector<mx::array>& frozen, const TrainBatch& batch,
                 const mx::array& key) const override;

 private:
  UNetConfig unet_;
  Preconditioning prec_;
  DenoisingOptions options_;
};

// One denoising step's per-example draws, each from its own split of the step's key: sigma
// (uniform DDPM timesteps for VP parameterizations, log-normal for EDM) read through the
// schedule at the batch's resolution (`prec`), x_noisy = x0 + sigma z, the labels after CFG
// dropout, and the U-Net dropout key (only with dropout). Every objective built on the
// denoising loss draws through this, so for one key and batch they all see the same draws.
struct DenoisingDraws {
  Preconditioning prec;
  mx::array sigma;    // [B]
  mx::array x_noisy;  // like x0
  std::optional<mx::array> labels;
  std::optional<mx::array> dropout_key;
};
DenoisingDraws denoising_draws(const UNetConfig& unet, const Preconditioning& prec, const DenoisingOptions& options,
                               const TrainBatch& batch, const mx::array& key);

// The denoising loss of network outputs `f` against a network-space `target` (both like x0):
// the mean squared error, or with min-SNR weighting the mean over examples of each one's
// mean squared error times min_snr_weight(kind, sigma).
mx::array network_mse(const mx::array& f, const mx::array& target, const mx::array& sigma, Parameterization kind,
                      const DenoisingOptions& options);

// Class labels as training feeds them: for a class-conditional U-Net, each label replaced by
// the null class (the last embedding) with probability `cfg_dropout`; none otherwise.
std::optional<mx::array> dropout_labels(const UNetConfig& unet, const mx::array& labels, float cfg_dropout,
                                        const mx::array& key, const BatchRows& rows = {});

// A frozen network a distillation objective calls: its U-Net, its parameterization and its
// weights. The weights enter the compiled step as inputs (Objective::frozen), never as
// captured constants; `params` only fixes their names and order.
struct FrozenModel {
  UNetConfig unet;
  Preconditioning prec;
  Params params;
};

// The network function of a U-Net with given parameters, cast to a compute dtype.
NetworkFn unet_network(const Params& params, const UNetConfig& cfg, mx::Dtype dtype = mx::float32,
                       std::optional<mx::array> dropout_key = {});

}  // namespace anneal
