#include "engine/attention_measure.h"

#include <cmath>
#include <functional>
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
  auto draw = [&](int i) {
    auto x = mx::random::normal(shape, mx::float32, mx::take(keys, i, 0));
    return mx::astype(mx::astype(x, spec.input_dtype), spec.dtype);
  };
  const auto q = draw(0), k = draw(1), v = draw(2), r = draw(3);
  mx::eval({q, k, v, r});
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  auto forward = [&](const mx::array& q_, const mx::array& k_, const mx::array& v_) {
    return spec.linear ? linear_attention(q_, k_, v_)
                       : softmax_attention(q_, k_, v_, scale, spec.exec);
  };
  // One backward pass of the op: the gradients of <O, R>, a scalar whose gradient w.r.t. O
  // is R. Returns {value, dq, dk, dv}; R is an input rather than a capture, so a compiled
  // graph takes it like the trainer's step takes its batch.
  std::function<std::vector<mx::array>(const std::vector<mx::array>&)> step =
      [&](const std::vector<mx::array>& in) -> std::vector<mx::array> {
    auto with_r = [&](const std::vector<mx::array>& x) {
      return mx::sum(mx::multiply(forward(x[0], x[1], x[2]), in[3]));
    };
    auto [value, grads] =
        mx::value_and_grad(with_r, std::vector<int>{0, 1, 2})({in[0], in[1], in[2]});
    return {value, grads[0], grads[1], grads[2]};
  };
  if (spec.compile) step = mx::compile(step);
  auto once = [&]() -> std::vector<mx::array> {
    if (!spec.backward) return {forward(q, k, v)};
    return step({q, k, v, r});
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
      auto grads = step({q, k, v, r});
      result.dq = grads[1];
      result.dk = grads[2];
      result.dv = grads[3];
      mx::eval({*result.output, *result.dq, *result.dk, *result.dv});
    } else {
      mx::eval(*result.output);
    }
  }
  return result;
}

}  // namespace anneal
