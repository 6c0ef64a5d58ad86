#include "engine/nn.h"

#include <cmath>

namespace anneal::nn {

mx::array linear(const Params& p, const std::string& name, const mx::array& x) {
  const auto& w = at(p, name + ".weight");
  auto y = mx::matmul(x, mx::transpose(w));
  auto b = p.find(name + ".bias");
  return b == p.end() ? y : mx::add(y, b->second);
}

mx::array conv2d(const Params& p, const std::string& name, const mx::array& x, int stride,
                 int padding) {
  const auto& w = at(p, name + ".weight");
  const int k = w.shape(1);
  const int pad = padding < 0 ? k / 2 : padding;
  auto y = mx::conv2d(x, w, {stride, stride}, {pad, pad});
  auto b = p.find(name + ".bias");
  return b == p.end() ? y : mx::add(y, b->second);
}

mx::array group_norm(const Params& p, const std::string& name, const mx::array& x, int groups,
                     float eps) {
  const int B = x.shape(0), H = x.shape(1), W = x.shape(2), C = x.shape(3);
  if (C % groups != 0) {
    throw std::invalid_argument(name + ": " + std::to_string(C) +
                                " channels are not divisible into " + std::to_string(groups) +
                                " groups");
  }
  // Statistics in float32 even when activations are half precision.
  auto h = mx::reshape(mx::astype(x, mx::float32), {B, H * W, groups, C / groups});
  auto mean = mx::mean(h, std::vector<int>{1, 3}, /*keepdims=*/true);
  auto centered = mx::subtract(h, mean);
  auto var = mx::mean(mx::square(centered), std::vector<int>{1, 3}, true);
  h = mx::multiply(centered, mx::rsqrt(mx::add(var, mx::array(eps))));
  h = mx::astype(mx::reshape(h, {B, H, W, C}), x.dtype());
  return mx::add(mx::multiply(h, at(p, name + ".weight")), at(p, name + ".bias"));
}

mx::array silu(const mx::array& x) { return mx::multiply(x, mx::sigmoid(x)); }

mx::array dropout(const mx::array& x, float rate, const std::optional<mx::array>& key) {
  if (rate <= 0.0f || !key) return x;
  auto keep = mx::random::bernoulli(mx::array(1.0f - rate), x.shape(), *key);
  return mx::multiply(mx::where(keep, x, mx::zeros_like(x)), mx::array(1.0f / (1.0f - rate), x.dtype()));
}

mx::array timestep_embedding(const mx::array& t, int dim, bool flip_sin_to_cos, float freq_shift,
                             float max_period) {
  const int half = dim / 2;
  auto exponent = mx::multiply(mx::arange(0, half, mx::float32),
                               mx::array(static_cast<float>(-std::log(max_period)) /
                                         (static_cast<float>(half) - freq_shift)));
  auto freqs = mx::exp(exponent);
  auto args = mx::multiply(mx::expand_dims(mx::astype(t, mx::float32), 1),
                           mx::expand_dims(freqs, 0));
  auto s = mx::sin(args), c = mx::cos(args);
  auto emb = flip_sin_to_cos ? mx::concatenate({c, s}, 1) : mx::concatenate({s, c}, 1);
  if (dim % 2 == 1) emb = mx::pad(emb, {{0, 0}, {0, 1}});
  return emb;
}

namespace {
mx::array next_key(mx::array& key) {
  auto [a, b] = mx::random::split(key);
  key = a;
  return b;
}
}  // namespace

void init_linear(Params& p, const std::string& name, int in, int out, mx::array& key) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(in));
  p.insert_or_assign(name + ".weight",
                     mx::random::uniform(-bound, bound, {out, in}, mx::float32, next_key(key)));
  p.insert_or_assign(name + ".bias",
                     mx::random::uniform(-bound, bound, {out}, mx::float32, next_key(key)));
}

void init_conv(Params& p, const std::string& name, int in, int out, int k, mx::array& key) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(in * k * k));
  p.insert_or_assign(name + ".weight",
                     mx::random::uniform(-bound, bound, {out, k, k, in}, mx::float32, next_key(key)));
  p.insert_or_assign(name + ".bias",
                     mx::random::uniform(-bound, bound, {out}, mx::float32, next_key(key)));
}

void init_norm(Params& p, const std::string& name, int channels) {
  p.insert_or_assign(name + ".weight", mx::ones({channels}, mx::float32));
  p.insert_or_assign(name + ".bias", mx::zeros({channels}, mx::float32));
}

}  // namespace anneal::nn
