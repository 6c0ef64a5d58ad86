// The training loop's state machine: a compiled pure step over (params, AdamW state, EMA,
// batch, key, lr), exact resume, NaN/Inf rollback, and the memory budget's peak check.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "engine/data.h"
#include "engine/errors.h"
#include "engine/memory.h"
#include "engine/objective.h"
#include "engine/optimizer.h"

namespace anneal {

enum class LrSchedule { Cosine, Constant };

struct TrainerConfig {
  int batch_size = 32;  // the effective batch of one optimizer step
  // Gradient accumulation: each step averages the gradients of this many micro-batches of
  // batch_size / accumulation_steps examples (it must divide batch_size), one evaluation
  // each, so the effective batch stays batch_size while activations are held for one
  // micro-batch at a time. 1: the whole batch in one compiled step, as before.
  int accumulation_steps = 1;
  long total_steps = 1000;  // for the cosine schedule
  double lr = 2e-4;
  double min_lr = 0.0;       // cosine: the floor it decays to
  LrSchedule lr_schedule = LrSchedule::Cosine;
  long warmup_steps = 100;
  double grad_clip = 1.0;
  double ema_decay = 0.999;
  AdamWConfig adamw;
  std::uint64_t seed = 0;
  bool compile = true;
  long snapshot_every = 50;  // steps between last-good-state snapshots for rollback
  int max_rollbacks = 3;     // divergences tolerated before the run fails
  MemoryBudget budget;       // bytes == 0: no peak check
};

struct StepReport {
  long step = 0;  // steps completed after this call
  float loss = 0;
  float grad_norm = 0;
  double lr = 0;
  bool rolled_back = false;  // this step diverged and the state was restored
  long restored_to = 0;      // the step restored to
  double lr_scale = 1.0;
  std::size_t peak_bytes = 0;
  std::size_t active_bytes = 0;
};

class Trainer {
 public:
  Trainer(UNetConfig unet, std::shared_ptr<Objective> objective, TrainerConfig config, ImageDataset data,
          Params init);

  StepReport step();
  // Changes how many micro-batches the next steps split the batch into (a progressive or
  // multi-resolution run's batch planner, per stage or bucket): the effective batch, the data
  // order and the random draws stay those of the whole batch, so only memory and summation
  // order change. Cheap: nothing is rebuilt (MLX retraces a compiled function once per new
  // micro-batch shape). Throws std::invalid_argument unless k divides the batch.
  void set_accumulation_steps(int k);
  long current_step() const { return state_.step; }
  const Params& params() const { return state_.params; }
  Params ema_params() const;
  const UNetConfig& unet() const { return unet_; }
  const TrainerConfig& config() const { return config_; }
  // Where the next batch starts in the data order, and the sampler that draws it.
  DataCursor data_cursor() const { return state_.cursor; }
  const BatchSampler& sampler() const { return sampler_; }

  // trainer-state.safetensors: params, AdamW moments, EMA, and (as metadata) step, data
  // cursor, LR scale and rollbacks: everything exact resume needs. Written atomically.
  void save_state(const std::string& path) const;
  // Refuses (std::invalid_argument) a state written with another seed, or by another
  // objective or the same one with another identity (Objective::identity: teacher, sigmas,
  // options). States with no recorded objective resume only into denoising.
  void load_state(const std::string& path);

 private:
  struct State {
    Params params, m, v, ema;
    long step = 0;
    DataCursor cursor;
    double lr_scale = 1.0;
  };

  // One compiled step over the whole batch (no accumulation).
  std::vector<mx::array> whole_step(const std::vector<std::int32_t>& idx, double lr);
  // The accumulated step: k micro-batches through grad_fn_, their gradients summed on the
  // way, then one apply_fn_ (average, clip, AdamW, EMA, the finite check).
  std::vector<mx::array> accumulated_step(const std::vector<std::int32_t>& idx, double lr);
  void build_accumulation();
  void check_objective_identity(const std::string& path,
                                const std::unordered_map<std::string, std::string>& meta) const;
  mx::array step_key(long step) const;

  UNetConfig unet_;
  std::shared_ptr<Objective> objective_;
  TrainerConfig config_;
  ImageDataset data_;
  // Kept across steps so an epoch's permutation is computed once. state_.cursor stays the
  // truth (it is what snapshots, rollbacks and saved states hold); each step seeks to it.
  BatchSampler sampler_;
  State state_;
  State snapshot_;
  int rollbacks_ = 0;
  std::function<std::vector<mx::array>(const std::vector<mx::array>&)> step_fn_;
  std::function<std::vector<mx::array>(const std::vector<mx::array>&)> grad_fn_, apply_fn_;
};

}  // namespace anneal
