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
  int batch_size = 32;
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
  // The micro-batch of each bucket (the trainer's buckets, in order); empty: batch_size for
  // every bucket. The one place a batch planner's per-resolution answer enters the trainer.
  std::vector<int> bucket_batch;
  // Empty: one stage over every bucket (multi-resolution, or a single-resolution run).
  std::vector<TrainingStage> stages;
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
  // Where the step's batch came from: its stage, bucket, image shape and batch size.
  int stage = 0;
  int bucket = 0;
  int height = 0, width = 0;
  int batch = 0;
};

class Trainer {
 public:
  Trainer(UNetConfig unet, std::shared_ptr<Objective> objective, TrainerConfig config, ImageDataset data,
          Params init);
  // Several buckets (one image shape each), drawn from as config.stages says. The compiled
  // step is traced once per image shape and batch size (mx::compile keys its cache on the
  // inputs' shapes), so each bucket costs one compilation the first time it is drawn.
  Trainer(UNetConfig unet, std::shared_ptr<Objective> objective, TrainerConfig config,
          std::vector<ImageDataset> buckets, Params init);

  StepReport step();
  long current_step() const { return state_.step; }
  const Params& params() const { return state_.params; }
  Params ema_params() const;
  const UNetConfig& unet() const { return unet_; }
  const TrainerConfig& config() const { return config_; }
  // Where the next batch starts in the data order of bucket 0 (a single-resolution run's
  // only one), and the sampler that draws it; data_cursors() has every bucket's.
  DataCursor data_cursor() const { return state_.cursors[0]; }
  const std::vector<DataCursor>& data_cursors() const { return state_.cursors; }
  const BatchSampler& sampler() const { return samplers_[0]; }
  int bucket_count() const { return static_cast<int>(buckets_.size()); }
  // The stage of the next step.
  int current_stage() const { return stage_of(stages_, state_.step); }

  // trainer-state.safetensors: params, AdamW moments, EMA, and (as metadata) step, data
  // cursor, LR scale and rollbacks: everything exact resume needs. Written atomically. A run
  // of more than one bucket or stage adds its buckets' shapes, its stages, the stage reached
  // and every bucket's cursor; a single-resolution run writes exactly the fields it always
  // did, so states of either build load in the other.
  void save_state(const std::string& path) const;
  // Refuses (std::invalid_argument) a state written with another seed, or by another
  // objective or the same one with another identity (Objective::identity: teacher, sigmas,
  // options). States with no recorded objective resume only into denoising.
  void load_state(const std::string& path);

 private:
  struct State {
    Params params, m, v, ema;
    long step = 0;
    std::vector<DataCursor> cursors;  // one per bucket
    double lr_scale = 1.0;
  };

  std::vector<mx::array> run_step(const std::vector<mx::array>& inputs);
  void check_objective_identity(const std::string& path,
                                const std::unordered_map<std::string, std::string>& meta) const;
  mx::array step_key(long step) const;
  // "HxW,HxW" and "end:b+b;end:b": what a resumed run must share with the one that wrote it.
  std::string buckets_description() const;
  std::string stages_description() const;
  bool multi() const { return buckets_.size() > 1 || stages_.size() > 1; }

  UNetConfig unet_;
  std::shared_ptr<Objective> objective_;
  TrainerConfig config_;
  std::vector<ImageDataset> buckets_;
  std::vector<TrainingStage> stages_;
  std::vector<long> bucket_sizes_;
  // Kept across steps so an epoch's permutation is computed once. state_.cursors stay the
  // truth (they are what snapshots, rollbacks and saved states hold); each step seeks to it.
  std::vector<BatchSampler> samplers_;
  State state_;
  State snapshot_;
  int rollbacks_ = 0;
  std::function<std::vector<mx::array>(const std::vector<mx::array>&)> step_fn_;
};

}  // namespace anneal
