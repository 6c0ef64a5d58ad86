// One attention operation, alone, measured: outputs and input gradients for checking one kind
// against another, and MLX's peak memory and wall time for the benchmark (bench suite
// "attention"). Inputs are drawn from a seed, so two calls with the same seed and shape see
// the same q, k, v and cotangent whatever kind they run.
#pragma once

#include <cstdint>
#include <optional>

#include "engine/attention.h"

namespace anneal {

struct AttentionRunSpec {
  AttentionShape shape;
  AttentionExec exec;
  bool linear = false;     // linear attention instead of softmax (exec ignored)
  bool backward = false;   // forward + backward: gradients of <O, R> for a random R
  // Forward + backward through mx::compile (as the trainer's step runs), not eagerly.
  bool compile = false;
  // q, k, v and R are drawn in float32, rounded to `input_dtype`, then cast to `dtype`, the
  // dtype the op computes in. A float32 run on bfloat16-rounded inputs is the exact-input
  // reference for a bfloat16 run.
  mx::Dtype dtype = mx::float32;
  mx::Dtype input_dtype = mx::float32;
  std::uint64_t seed = 0;
  int iterations = 1;      // timed runs after one warm-up run (0: no timing, one run)
  bool keep_values = false;
};

struct AttentionRunResult {
  std::optional<mx::array> q, k, v, output, dq, dk, dv;  // with keep_values
  double seconds = 0;                 // median wall time of one run
  std::size_t peak_bytes = 0;         // MLX's peak over the runs, after a reset
  std::size_t baseline_bytes = 0;     // active bytes before the runs: q, k, v, R
  std::size_t working_bytes() const {
    return peak_bytes > baseline_bytes ? peak_bytes - baseline_bytes : 0;
  }
};

AttentionRunResult run_attention(const AttentionRunSpec& spec);

}  // namespace anneal
