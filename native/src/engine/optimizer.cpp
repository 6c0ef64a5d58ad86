#include "engine/optimizer.h"

#include <algorithm>
#include <cmath>

namespace anneal {

void adamw_update(const AdamWConfig& c, std::vector<mx::array>& params, std::vector<mx::array>& m,
                  std::vector<mx::array>& v, const std::vector<mx::array>& grads, const mx::array& lr,
                  const mx::array& t) {
  const auto b1 = mx::array(static_cast<float>(c.beta1)), b2 = mx::array(static_cast<float>(c.beta2));
  const auto one = mx::array(1.0f);
  // Bias corrections 1 - beta^t.
  auto bc1 = mx::subtract(one, mx::power(b1, t));
  auto bc2 = mx::subtract(one, mx::power(b2, t));
  auto step_size = mx::divide(lr, bc1);
  auto eps = mx::array(static_cast<float>(c.eps));
  auto wd = mx::array(static_cast<float>(c.weight_decay));
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto& g = grads[i];
    m[i] = mx::add(mx::multiply(b1, m[i]), mx::multiply(mx::subtract(one, b1), g));
    v[i] = mx::add(mx::multiply(b2, v[i]), mx::multiply(mx::subtract(one, b2), mx::square(g)));
    auto denom = mx::add(mx::sqrt(mx::divide(v[i], bc2)), eps);
    auto p = c.weight_decay > 0 ? mx::subtract(params[i], mx::multiply(mx::multiply(lr, wd), params[i])) : params[i];
    params[i] = mx::subtract(p, mx::multiply(step_size, mx::divide(m[i], denom)));
  }
}

mx::array clip_by_global_norm(std::vector<mx::array>& grads, double max_norm) {
  auto total = mx::array(0.0f);
  for (const auto& g : grads) total = mx::add(total, mx::sum(mx::square(g)));
  auto norm = mx::sqrt(total);
  if (max_norm > 0) {
    auto scale = mx::minimum(mx::array(1.0f), mx::divide(mx::array(static_cast<float>(max_norm)),
                                                         mx::add(norm, mx::array(1e-6f))));
    for (auto& g : grads) g = mx::multiply(g, scale);
  }
  return norm;
}

void ema_update(std::vector<mx::array>& ema, const std::vector<mx::array>& params, const mx::array& decay) {
  auto rest = mx::subtract(mx::array(1.0f), decay);
  for (std::size_t i = 0; i < ema.size(); ++i) {
    ema[i] = mx::add(mx::multiply(decay, ema[i]), mx::multiply(rest, params[i]));
  }
}

double warmup_cosine_lr(long step, long warmup, long total, double base_lr, double min_lr) {
  if (warmup > 0 && step < warmup) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  if (total <= warmup) return base_lr;
  const double progress = std::clamp(static_cast<double>(step - warmup) / static_cast<double>(total - warmup), 0.0, 1.0);
  return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(3.14159265358979323846 * progress));
}

double warmup_constant_lr(long step, long warmup, double base_lr) {
  if (warmup > 0 && step < warmup) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  return base_lr;
}

}  // namespace anneal
