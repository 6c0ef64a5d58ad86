// The training loop's state machine: a compiled pure step over (params, AdamW state, EMA,
// batch, key, lr), exact resume, NaN/Inf rollback, and the memory budget's peak check.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "engine/data.h"
#include "engine/errors.h"
#include "engine/memory.h"
#include "engine/objective.h"
#include "engine/optimizer.h"

#include <mlx/distributed/distributed.h>

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
  // The micro-batch of each bucket (the trainer's buckets, in order); empty: batch_size for
  // every bucket. The one place a batch planner's per-resolution answer enters the trainer.
  std::vector<int> bucket_batch;
  // The accumulation steps of each bucket (the batch planner's answer for the bucket's shape:
  // its batch split into this many micro-batches, which must divide it); empty:
  // accumulation_steps for every bucket. Applied whenever a step draws from the bucket, so a
  // resumed run with the same plan takes exactly the same steps.
  std::vector<int> bucket_accumulation;
  // Empty: one stage over every bucket (multi-resolution, or a single-resolution run).
  std::vector<TrainingStage> stages;
  // Data parallelism on MLX's distributed layer (the ring backend over TCP, JACCL, MPI or
  // NCCL: whatever the group was initialized with). Every rank draws the same effective batch
  // B (same seed, same data order), takes its rows [rank B/R, (rank+1) B/R) (in
  // accumulation_steps micro-batches of its own), and the step all_sums the gradient sums and
  // losses across the group before one identical update on every rank: R processes take the
  // steps one process takes at batch B, with the random draws of those rows (BatchRows). B
  // must be a multiple of R x accumulation_steps. Null or a group of one: one process.
  std::shared_ptr<mx::distributed::Group> group;
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
  // Changes how many micro-batches the next steps split the batch into (a progressive or
  // multi-resolution run's batch planner, per stage or bucket): the effective batch, the data
  // order and the random draws stay those of the whole batch, so only memory and summation
  // order change. Cheap: nothing is rebuilt (MLX retraces a compiled function once per new
  // micro-batch shape). Throws std::invalid_argument unless k divides the batch (every
  // bucket's). Replaces any per-bucket accumulation (config.bucket_accumulation) with k.
  void set_accumulation_steps(int k);
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
  // The data-parallel group's size and this process's rank in it (1 and 0 without one).
  int ranks() const { return config_.group ? config_.group->size() : 1; }
  int rank() const { return config_.group ? config_.group->rank() : 0; }
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

  // One compiled step over the whole batch (no accumulation).
  std::vector<mx::array> whole_step(const ImageDataset& data, const std::vector<std::int32_t>& idx, double lr);
  // The accumulated step: this rank's k micro-batches through grad_fn_, their gradients
  // summed on the way, then one apply_fn_ (the group's all_sum when data-parallel, average,
  // clip, AdamW, EMA, the finite check). Data-parallel with k == 1 it evaluates once.
  std::vector<mx::array> accumulated_step(const ImageDataset& data, const std::vector<std::int32_t>& idx, double lr,
                                          int k);
  // grad_fns_[effective] (built the first time a bucket of that batch accumulates) and apply_fn_.
  const std::function<std::vector<mx::array>(const std::vector<mx::array>&)>& grad_fn(int effective);
  // The batch and accumulation steps of bucket b.
  int bucket_batch(int b) const;
  int bucket_accumulation(int b) const;
  // Refuses (std::invalid_argument) a batch the ranks and k micro-batches do not divide.
  void check_divides(int b, int k) const;
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
  // One accumulation gradient function per effective batch (BatchRows places a micro-batch's
  // rows in the effective batch's draw, a shape), so buckets of different batches each get one.
  std::map<int, std::function<std::vector<mx::array>(const std::vector<mx::array>&)>> grad_fns_;
  std::function<std::vector<mx::array>(const std::vector<mx::array>&)> apply_fn_;
};

}  // namespace anneal
