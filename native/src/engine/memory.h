// The memory budget. MLX treats its own memory limit as a guideline, so Anneal enforces the
// budget itself: a job is estimated from its config before it starts and refused if it
// cannot fit, and peak memory is checked after each step.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "engine/hardware.h"

namespace anneal {

struct MemoryBudget {
  std::size_t bytes = 0;
  std::string source;  // human-readable origin, e.g. "75% of 24.0 GiB physical RAM"
};

// Default budget: `fraction` of Metal's recommended working set on Apple Silicon, of device
// memory under CUDA, of physical RAM on the CPU backend.
MemoryBudget default_budget(const HardwareProfile& hw, double fraction = 0.75);

// What a job holds in memory, from its config.
struct JobMemorySpec {
  std::size_t parameter_count = 0;
  std::size_t bytes_per_parameter = 4;       // float32 master weights
  int optimizer_states_per_parameter = 2;    // AdamW: first and second moments
  bool gradients = true;
  bool ema = true;
  std::size_t activation_bytes_per_example = 0;  // saved for backward, at the job's dtype
  std::size_t batch_size = 1;  // examples whose activations are held at once (a micro-batch)
  // Gradient accumulation (> 1): the running sum of the micro-batches' gradients is held
  // beside each micro-batch's own, so gradients count twice.
  int accumulation_steps = 1;
  // Training with rollback (trainer.h): the last good state (weights, AdamW moments, EMA, up
  // to snapshot_every steps old) is held beside the live one, and the caller's Model keeps its
  // own weights (the ones training started from) beside both.
  bool snapshot = false;
  double workspace_fraction = 0.1;  // kernels' scratch space and allocator slack
};

struct MemoryEstimate {
  std::size_t parameters = 0;
  std::size_t gradients = 0;
  std::size_t optimizer_state = 0;
  std::size_t ema = 0;
  // Training: the compiled update's inputs and outputs (weights, AdamW moments, EMA) are
  // alive together until its evaluation ends, a second copy of each.
  std::size_t update = 0;
  // The rollback snapshot's weights, moments and EMA, and the caller Model's own weights.
  std::size_t snapshot = 0;
  std::size_t activations = 0;
  std::size_t workspace = 0;
  std::size_t total = 0;
};

MemoryEstimate estimate_job_memory(const JobMemorySpec& spec);

// Thrown when a job cannot fit, before it starts or when its peak crosses the budget.
class MemoryBudgetError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Refuses a job whose estimate exceeds the budget; the message names both and the largest
// contributors, so the user knows what to lower.
void assert_fits(const MemoryEstimate& estimate, const JobMemorySpec& spec,
                 const MemoryBudget& budget);

// Sets MLX's memory and cache limits (and the wired limit on Metal) from the budget.
void apply_memory_limits(const MemoryBudget& budget, const HardwareProfile& hw);

struct MemoryStats {
  std::size_t active_bytes = 0;
  std::size_t peak_bytes = 0;
  std::size_t cache_bytes = 0;
  std::size_t limit_bytes = 0;
};

MemoryStats memory_stats();
void reset_peak_memory();

// Called after each step: throws MemoryBudgetError when MLX's peak exceeds the budget.
// `where` names what the step ran (resolution, batch, stage) in the message.
void check_peak_memory(const MemoryBudget& budget, long step, const std::string& where = "");

std::string format_bytes(std::size_t bytes);

}  // namespace anneal
