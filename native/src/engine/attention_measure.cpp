#include "engine/attention_measure.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "engine/memory.h"
#include "engine/throughput.h"

namespace anneal {

AttentionRunResult run_attention(const AttentionRunSpec& spec) {
  const auto& s = spec.shape;
  if (s.batch < 1 || s.heads < 1 || s.tokens < 1 || s.head_dim < 1) {
    throw std::invalid_argument("attention shape: batch, heads, tokens and head_dim must be >= 1");
  }
  if (spec.iterations < 0) throw std::invalid_argument("iterations must be >= 0");
  const mx::Shape shape{s.batch, s.heads, s.tokens, s.head_dim};
  auto keys = mx::random::split(mx::random::key(spec.seed), 4);
  auto draw = [&](int i) { return mx::random::normal(shape, mx::float32, mx::take(keys, i, 0)); };
  const auto q = draw(0), k = draw(1), v = draw(2), r = draw(3);
  mx::eval({q, k, v, r});
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  auto forward = [&](const mx::array& q_, const mx::array& k_, const mx::array& v_) {
    return spec.linear ? linear_attention(q_, k_, v_) : softmax_attention(q_, k_, v_, scale, spec.exec);
  };
  // A scalar of the output whose gradient w.r.t. O is R: one backward pass of the op.
  auto objective = [&](const std::vector<mx::array>& in) {
    return mx::sum(mx::multiply(forward(in[0], in[1], in[2]), r));
  };
  auto once = [&]() -> std::vector<mx::array> {
    if (!spec.backward) return {forward(q, k, v)};
    auto [value, grads] = mx::value_and_grad(objective, std::vector<int>{0, 1, 2})({q, k, v});
    return {value, grads[0], grads[1], grads[2]};
  };

  AttentionRunResult result;
  mx::synchronize();
  mx::clear_cache();
  result.baseline_bytes = memory_stats().active_bytes;
  reset_peak_memory();
  if (spec.iterations == 0) {
    auto out = once();
    mx::eval(out);
  } else {
    result.seconds = median_seconds([&] { mx::eval(once()); }, spec.iterations);
  }
  result.peak_bytes = memory_stats().peak_bytes;
  if (spec.keep_values) {
    result.q = q;
    result.k = k;
    result.v = v;
    result.output = forward(q, k, v);
    if (spec.backward) {
      auto grads = mx::grad(objective, std::vector<int>{0, 1, 2})({q, k, v});
      result.dq = grads[0];
      result.dk = grads[1];
      result.dv = grads[2];
      mx::eval({*result.output, *result.dq, *result.dk, *result.dv});
    } else {
      mx::eval(*result.output);
    }
  }
  return result;
}

}  // namespace anneal
