#include "engine/attention.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <stdexcept>
#include <vector>

namespace anneal {

std::string attention_kind_name(AttentionKind kind) {
  return kind == AttentionKind::Fused ? "fused" : "sliced";
}

AttentionKind parse_attention_kind(const std::string& name) {
  if (name == "fused") return AttentionKind::Fused;
  if (name == "sliced") return AttentionKind::Sliced;
  throw std::invalid_argument("attention kind must be \"fused\" or \"sliced\", got \"" + name +
                              "\"");
}

namespace {

using ArrayFn = std::function<std::vector<mx::array>(const std::vector<mx::array>&)>;

mx::array query_rows(const mx::array& a, int start, int stop) {
  return mx::slice(a, {0, 0, start, 0}, {a.shape(0), a.shape(1), stop, a.shape(3)});
}

// The slices run one after another: slice i + 1's queries wait for slice i's output
// (mx::depends). Without the chain MLX builds its tape breadth-first (up to
// MLX_BFS_MAX_WIDTH independent arrays wide) and allocates every slice's scores at once,
// which is no saving at all.
mx::array chained_slices(const mx::array& q, const mx::array& k, const mx::array& v, float scale,
                         int slice) {
  const int n = q.shape(2);
  std::vector<mx::array> outs;
  outs.reserve((n + slice - 1) / slice);
  for (int start = 0; start < n; start += slice) {
    auto qs = query_rows(q, start, std::min(n, start + slice));
    if (!outs.empty()) qs = mx::depends({qs}, {outs.back()})[0];
    // The same fused call on fewer queries: each row is computed as fused computes it (the
    // softmax runs over all keys either way).
    outs.push_back(mx::fast::scaled_dot_product_attention(qs, k, v, scale));
  }
  return mx::concatenate(outs, 2);
}

}  // namespace

mx::array softmax_attention(const mx::array& q, const mx::array& k, const mx::array& v, float scale,
                            const AttentionExec& exec) {
  const int n = q.shape(2);
  if (exec.kind == AttentionKind::Fused || exec.slice >= n) {
    return mx::fast::scaled_dot_product_attention(q, k, v, scale);
  }
  const int slice = exec.slice;
  if (slice < 1) throw std::invalid_argument("sliced attention needs a slice of at least 1 query");
  ArrayFn forward = [scale, slice](const std::vector<mx::array>& in) {
    return std::vector<mx::array>{chained_slices(in[0], in[1], in[2], scale, slice)};
  };
  // Without checkpointing, autodiff keeps every slice's probabilities for backward: the
  // forward's working set shrinks, training's does not.
  if (!exec.checkpoint) return forward({q, k, v})[0];
  // Checkpointing as mx::checkpoint does it (a custom VJP that keeps only the inputs and
  // recomputes), but per slice and chained: slice i's recomputation waits for the forward
  // output and then for slice i - 1's gradients, so one slice's scores, probabilities and
  // their gradients are alive at a time. mx::checkpoint around each slice alone leaves the
  // slices' backward passes independent, and MLX runs them side by side (measured: no
  // saving at all; attention.test.ts).
  auto backward = [scale, slice](const std::vector<mx::array>& primals,
                                 const std::vector<mx::array>& cotangents,
                                 const std::vector<mx::array>& outputs) {
    const auto &q = primals[0], &k = primals[1], &v = primals[2];
    const auto& d_out = cotangents[0];
    const int n = q.shape(2);
    ArrayFn one = [scale](const std::vector<mx::array>& in) {
      return std::vector<mx::array>{
          mx::fast::scaled_dot_product_attention(in[0], in[1], in[2], scale)};
    };
    std::vector<mx::array> dq;
    std::optional<mx::array> dk, dv;
    for (int start = 0; start < n; start += slice) {
      const int stop = std::min(n, start + slice);
      // The queries and the output gradient both wait, for all three of the previous slice's
      // gradients: dO_i V^T (the probabilities' gradient, [B, heads, slice, N]) needs
      // nothing else and would otherwise be computed for every slice up front, and a dq_i
      // left for the final concatenation keeps its slice's score gradient alive until then.
      auto after = dk ? std::vector<mx::array>{*dk, *dv, dq.back()} : outputs;
      auto rows = mx::depends({query_rows(q, start, stop), query_rows(d_out, start, stop)}, after);
      auto grads = mx::vjp(one, {rows[0], k, v}, {rows[1]}).second;
      dq.push_back(grads[0]);
      // dK and dV sum over all N queries. Fused's GEMM accumulates that sum in float32
      // whatever the dtype; summing the slices' partial sums in bf16 would round after every
      // slice (measured at N = 1024, slice 1: dV 5.9% off float32 against fused's 1.3%). So the
      // running sums are float32 ([B, heads, N, d] each), cast back once at the end.
      auto dk_i = mx::astype(grads[1], mx::float32), dv_i = mx::astype(grads[2], mx::float32);
      dk = dk ? mx::add(*dk, dk_i) : dk_i;
      dv = dv ? mx::add(*dv, dv_i) : dv_i;
    }
    return std::vector<mx::array>{mx::concatenate(dq, 2), mx::astype(*dk, k.dtype()),
                                  mx::astype(*dv, v.dtype())};
  };
  return mx::custom_vjp(forward, backward)({q, k, v})[0];
}

mx::array linear_attention(const mx::array& q, const mx::array& k, const mx::array& v) {
  auto phi = [](const mx::array& x) {
    // elu(x) + 1 = x + 1 for x > 0, exp(x) otherwise: positive, so the normalizer is too.
    return mx::where(mx::greater(x, mx::array(0.0f, x.dtype())),
                     mx::add(x, mx::array(1.0f, x.dtype())), mx::exp(x));
  };
  auto fq = phi(q), fk = phi(k);
  auto kv = mx::matmul(mx::swapaxes(fk, 2, 3), v);                 // [B, h, d, d]
  auto z = mx::sum(fk, std::vector<int>{2}, /*keepdims=*/true);    // [B, h, 1, d]
  auto num = mx::matmul(fq, kv);                                   // [B, h, N, d]
  auto den = mx::sum(mx::multiply(fq, z), std::vector<int>{3}, true);  // [B, h, N, 1]
  return mx::divide(num, den);
}

AttentionBytes attention_bytes(const AttentionShape& s, const AttentionExec& exec, bool training,
                               int dtype_bytes) {
  const double n = s.tokens;
  const bool sliced = exec.kind == AttentionKind::Sliced && exec.slice < s.tokens;
  const double rows = sliced ? std::max(1, exec.slice) : n;
  const double per_row = static_cast<double>(s.batch) * s.heads * n * dtype_bytes;
  AttentionBytes b;
  if (!training) {
    b.transient = rows * per_row;
  } else if (sliced && exec.checkpoint) {
    b.transient = 4.0 * rows * per_row;
  } else {
    b.kept = n * per_row;
    b.transient = 2.0 * n * per_row;
  }
  return b;
}

}  // namespace anneal
