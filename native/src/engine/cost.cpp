#include "engine/cost.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "engine/memory.h"
#include "engine/trainer.h"

namespace anneal {

StepCost measure_training_step(const Params& params, const UNetConfig& cfg, const Preconditioning& prec,
                               int batch, int steps, int warmup, int accumulation_steps) {
  if (batch < 1 || steps < 1) throw std::invalid_argument("batch and steps must be >= 1");
  ImageDataset data;
  const int n = std::max(batch, 2 * batch);
  data.images = mx::astype(
      mx::random::randint(0, 256, {n, cfg.sample_size, cfg.sample_size, cfg.in_channels}, mx::int32, mx::random::key(0)),
      mx::uint8);
  const int classes = cfg.num_class_embeds > 0 ? cfg.num_class_embeds - 1 : 0;
  data.labels = classes > 0 ? mx::random::randint(0, classes, {n}, mx::int32, mx::random::key(1)) : mx::zeros({n}, mx::int32);
  data.num_classes = classes;
  mx::eval({data.images, data.labels});
  TrainerConfig tc;
  tc.batch_size = batch;
  tc.accumulation_steps = accumulation_steps;
  tc.total_steps = warmup + steps;
  tc.warmup_steps = 0;
  // A snapshot every 2 steps: from step 3 on the rollback snapshot is older than the live state
  // (as it is for most steps of a job), so it holds its own weights, moments and EMA.
  tc.snapshot_every = 2;
  // The peak the budget check reads (check_peak_memory: since the job started, never reset
  // between steps): from before the Trainer is built, warm-up steps included. Only this
  // function's random images are in it beside the job's own state.
  reset_peak_memory();
  auto objective = std::make_shared<DenoisingObjective>(cfg, prec);
  Trainer trainer(cfg, objective, tc, std::move(data), params);
  for (int i = 0; i < warmup; ++i) trainer.step();
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    auto start = std::chrono::steady_clock::now();
    trainer.step();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  StepCost c;
  c.steps = steps;
  c.step_seconds = times[times.size() / 2];
  c.images_per_second = batch / c.step_seconds;
  c.peak_bytes = memory_stats().peak_bytes;
  return c;
}

}  // namespace anneal
