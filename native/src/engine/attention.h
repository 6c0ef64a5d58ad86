// Softmax attention, O = softmax(Q K^T scale) V, executed two interchangeable ways, and the
// memory each needs; and linear attention, which is a different model, not an execution.
//
// "fused" is MLX's mx::fast::scaled_dot_product_attention over all queries at once. Where MLX
// has no fused kernel it runs the textbook graph, which materializes the [B, heads, N, N]
// scores and probabilities. Checked against MLX 0.32.4: its CPU backend has no fused kernel
// for either pass, so on the CPU (the only backend measured here) every call takes that
// graph; its Metal backend has a forward kernel for head dims 64/80/128 and a backward one
// (ScaledDotProductAttentionVJP) for some shapes, neither measured here.
// "sliced" runs the same fused call over slices of the queries (softmax over all keys per
// slice, so each output row is computed exactly as fused computes it). The slices are
// chained with mx::depends, so slice i + 1 starts after slice i (MLX's scheduler still runs
// slices ahead unless its memory limit binds; see attention_bytes). In training the saving
// holds only if the slices' probabilities are not all kept for backward: sliced attention
// has its own mx::custom_vjp that keeps only q, k and v and, in backward, recomputes one
// slice at a time, each slice's recomputation waiting for the previous slice's gradients
// (per-slice mx::checkpoint was measured to save nothing: MLX runs the independent slices'
// backward passes side by side). dK and dV are summed across slices in float32 whatever the
// dtype, as fused's GEMM sums across queries.
#pragma once

#include <mlx/mlx.h>

#include <string>

namespace anneal {

namespace mx = mlx::core;

enum class AttentionKind { Fused, Sliced };

// How a softmax attention call executes. Not part of a model: never written to config.json.
struct AttentionExec {
  AttentionKind kind = AttentionKind::Fused;
  int slice = 0;            // Sliced: queries per slice (>= 1)
  bool checkpoint = true;   // Sliced: recompute each slice in backward (the custom VJP)
};

std::string attention_kind_name(AttentionKind kind);
// "fused" | "sliced"; throws std::invalid_argument naming the value otherwise.
AttentionKind parse_attention_kind(const std::string& name);

// q, k, v: [B, heads, N, head_dim]; returns [B, heads, N, head_dim].
mx::array softmax_attention(const mx::array& q, const mx::array& k, const mx::array& v,
                            float scale, const AttentionExec& exec);

// Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs", eq. 4-6) with the
// feature map phi(x) = elu(x) + 1: O_i = phi(q_i)^T (sum_j phi(k_j) v_j^T) / (phi(q_i)^T sum_j
// phi(k_j)). O(N d^2) time and memory instead of O(N^2 d): a different model with its own
// weights' meaning, chosen when a model is created.
mx::array linear_attention(const mx::array& q, const mx::array& k, const mx::array& v);

// The shape of one attention call.
struct AttentionShape {
  int batch = 1;
  int heads = 1;
  int tokens = 1;    // N = H * W
  int head_dim = 1;
};

// Bytes the operation holds beyond q, k, v and its output, in [B, heads, rows, N] blocks of
// `dtype_bytes` elements (rows = N fused, the slice sliced). Counted on MLX's fallback
// graph (the CPU backend, and Metal for head dims it has no kernel for), where the fused
// call materializes the scores; measured against MLX's peak in attention.test.ts.
// - `kept`: saved for backward until the step's backward pass reaches this layer. Training
//   fused (or sliced without checkpointing) keeps every row's probabilities: one N-row
//   block. Sliced with checkpointing keeps none.
// - `transient`: alive only while this call runs. Inference: one block (the scores, which
//   the softmax overwrites). Training: the backward's two more blocks for fused; for
//   checkpointed slices, one slice's recomputed scores and probabilities and their two
//   gradients, four slice blocks.
// MLX's scheduler may keep more slices in flight than this (on the CPU, up to ~10 slice
// blocks ahead of the computation) unless its memory limit, which train, distill, sample
// and eval set to the budget (apply_memory_limits), makes it wait; this is the least the
// call needs.
struct AttentionBytes {
  double kept = 0;
  double transient = 0;
  double total() const { return kept + transient; }
};
AttentionBytes attention_bytes(const AttentionShape& shape, const AttentionExec& exec,
                               bool training, int dtype_bytes = 4);

}  // namespace anneal
