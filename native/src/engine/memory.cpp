#include "engine/memory.h"

#include <algorithm>
#include <cstdio>

#include <mlx/memory.h>

namespace mx = mlx::core;

namespace anneal {

std::string format_bytes(std::size_t bytes) {
  char buf[64];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  } else if (b >= 1024.0 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
  } else if (b >= 1024.0) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%zu B", bytes);
  }
  return buf;
}

MemoryBudget default_budget(const HardwareProfile& hw, double fraction) {
  if (!(fraction > 0.0 && fraction <= 1.0)) {
    throw std::invalid_argument("memory budget fraction must be in (0, 1], got " +
                                std::to_string(fraction));
  }
  const char* what = hw.backend == "metal"  ? "Metal recommended working set"
                     : hw.backend == "cuda" ? "GPU memory"
                                            : "physical RAM";
  MemoryBudget b;
  b.bytes = static_cast<std::size_t>(static_cast<double>(hw.memory.working_set_bytes) * fraction);
  b.source = std::to_string(static_cast<int>(fraction * 100 + 0.5)) + "% of " +
             format_bytes(hw.memory.working_set_bytes) + " " + what;
  return b;
}

MemoryEstimate estimate_job_memory(const JobMemorySpec& s) {
  MemoryEstimate e;
  const std::size_t weights = s.parameter_count * s.bytes_per_parameter;
  e.parameters = weights;
  e.gradients = s.gradients ? (s.accumulation_steps > 1 ? 2 * weights : weights) : 0;
  e.optimizer_state = weights * static_cast<std::size_t>(std::max(0, s.optimizer_states_per_parameter));
  e.ema = s.ema ? weights : 0;
  e.update = s.gradients ? e.parameters + e.optimizer_state + e.ema : 0;
  e.snapshot = s.snapshot ? e.parameters + e.optimizer_state + e.ema + weights : 0;
  e.activations = s.activation_bytes_per_example * s.batch_size;
  const std::size_t subtotal =
      e.parameters + e.gradients + e.optimizer_state + e.ema + e.update + e.snapshot + e.activations;
  e.workspace = static_cast<std::size_t>(static_cast<double>(subtotal) * s.workspace_fraction);
  e.total = subtotal + e.workspace;
  return e;
}

void assert_fits(const MemoryEstimate& e, const JobMemorySpec& spec, const MemoryBudget& budget) {
  if (e.total <= budget.bytes) return;
  const int k = spec.accumulation_steps;
  const std::string micro = std::to_string(spec.batch_size);
  // spec.batch_size is the micro-batch: the images whose activations are held at once.
  const std::string at =
      k > 1 ? " at micro-batch " + micro + " (" + std::to_string(k) + " accumulation steps, effective batch " +
                  std::to_string(spec.batch_size * static_cast<std::size_t>(k)) + ")"
            : " at batch " + micro;
  const std::string advice =
      k > 1 ? "use a smaller micro-batch (more accumulation steps) or a smaller model"
            : "lower the batch size (or accumulate gradients over smaller micro-batches) or the model size";
  throw MemoryBudgetError(
      "job does not fit the memory budget: estimated " + format_bytes(e.total) + " (parameters " +
      format_bytes(e.parameters) + ", gradients " + format_bytes(e.gradients) + ", optimizer state " +
      format_bytes(e.optimizer_state) + ", EMA " + format_bytes(e.ema) +
      (e.update > 0 ? ", the update's second copy " + format_bytes(e.update) : "") +
      (e.snapshot > 0 ? ", the rollback snapshot and the model's own weights " + format_bytes(e.snapshot) : "") +
      ", activations " +
      format_bytes(e.activations) + at + ", workspace " + format_bytes(e.workspace) +
      ") exceeds the budget of " + format_bytes(budget.bytes) + " (" + budget.source + "); " + advice +
      ", or raise the budget with ANNEAL_MEMORY_BUDGET");
}

void apply_memory_limits(const MemoryBudget& budget, const HardwareProfile& hw) {
  mx::set_memory_limit(budget.bytes);
  // Cached buffers count against the budget too; keep the cache to a quarter of it.
  mx::set_cache_limit(budget.bytes / 4);
  if (hw.backend == "metal") {
    // Wiring keeps the working set resident; the system refuses more than its own limit.
    try {
      mx::set_wired_limit(std::min(budget.bytes, hw.memory.working_set_bytes));
    } catch (const std::exception&) {
      // Above the system's wired limit (sysctl iogpu.wired_limit_mb): keep MLX's default.
    }
  }
}

MemoryStats memory_stats() {
  MemoryStats s;
  s.active_bytes = mx::get_active_memory();
  s.peak_bytes = mx::get_peak_memory();
  s.cache_bytes = mx::get_cache_memory();
  s.limit_bytes = mx::get_memory_limit();
  return s;
}

void reset_peak_memory() { mx::reset_peak_memory(); }

void check_peak_memory(const MemoryBudget& budget, long step, const std::string& where) {
  const std::size_t peak = mx::get_peak_memory();
  if (peak <= budget.bytes) return;
  throw MemoryBudgetError("peak memory " + format_bytes(peak) + " at step " + std::to_string(step) +
                          (where.empty() ? "" : " (" + where + ")") +
                          " exceeded the memory budget of " + format_bytes(budget.bytes) + " (" +
                          budget.source + "); lower the batch size or raise the budget");
}

}  // namespace anneal
