#include "engine/throughput.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

#include <mlx/mlx.h>

namespace mx = mlx::core;

namespace anneal {

double median_seconds(const std::function<void()>& fn, int iterations) {
  if (iterations < 1) throw std::invalid_argument("iterations must be >= 1");
  fn();  // warm-up: first-call allocation and kernel selection
  std::vector<double> times;
  times.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    auto start = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

ThroughputResult measure_matmul(int n, int iterations) {
  if (n < 1) throw std::invalid_argument("matmul size must be >= 1");
  auto key = mx::random::key(0);
  auto keys = mx::random::split(key);
  auto a = mx::random::normal({n, n}, mx::float32, 0.0, 1.0, keys.first);
  auto b = mx::random::normal({n, n}, mx::float32, 0.0, 1.0, keys.second);
  mx::eval({a, b});
  ThroughputResult r;
  r.iterations = iterations;
  r.flops = 2.0 * n * static_cast<double>(n) * n;
  r.seconds = median_seconds([&] { mx::eval(mx::matmul(a, b)); }, iterations);
  r.gflops = r.flops / r.seconds / 1e9;
  return r;
}

ThroughputResult measure_conv(const ConvShape& s, int iterations) {
  if (s.batch < 1 || s.size < 1 || s.channels < 1 || s.kernel < 1) {
    throw std::invalid_argument("conv shape must be positive");
  }
  auto keys = mx::random::split(mx::random::key(1));
  auto x = mx::random::normal({s.batch, s.size, s.size, s.channels}, mx::float32, 0.0, 1.0,
                              keys.first);
  // MLX's conv weight layout is (C_out, kH, kW, C_in).
  auto w = mx::random::normal({s.channels, s.kernel, s.kernel, s.channels}, mx::float32, 0.0,
                              0.05, keys.second);
  mx::eval({x, w});
  const int pad = s.kernel / 2;
  auto loss = [pad](const std::vector<mx::array>& in) {
    return std::vector<mx::array>{mx::sum(mx::conv2d(in[0], in[1], {1, 1}, {pad, pad}))};
  };
  ThroughputResult r;
  r.iterations = iterations;
  const double forward = 2.0 * s.batch * s.size * s.size * static_cast<double>(s.channels) *
                         s.channels * s.kernel * s.kernel;
  r.flops = 3.0 * forward;  // forward + input gradient + weight gradient
  r.seconds = median_seconds(
      [&] {
        auto [outs, grads] = mx::vjp(loss, {x, w}, {mx::array(1.0f)});
        mx::eval({outs[0], grads[0], grads[1]});
      },
      iterations);
  r.gflops = r.flops / r.seconds / 1e9;
  return r;
}

}  // namespace anneal
