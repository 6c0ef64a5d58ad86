#include "engine/schedules.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace anneal {

namespace {
constexpr double kPi = 3.14159265358979323846;

void check_steps(int steps) {
  if (steps < 1) throw std::invalid_argument("steps must be >= 1, got " + std::to_string(steps));
}
void check_range(double lo, double hi) {
  if (!(lo > 0 && hi > lo)) throw std::invalid_argument("need 0 < sigma_min < sigma_max");
}
}  // namespace

DiscreteSigmas::DiscreteSigmas(const VPSchedule& s) {
  if (s.timesteps < 2) throw std::invalid_argument("schedule timesteps must be >= 2");
  std::vector<double> alpha_bar(s.timesteps);
  if (s.kind == "linear") {
    if (!(s.beta_start > 0 && s.beta_end < 1 && s.beta_start < s.beta_end)) {
      throw std::invalid_argument("linear schedule needs 0 < beta_start < beta_end < 1");
    }
    double prod = 1.0;
    for (int t = 0; t < s.timesteps; ++t) {
      const double beta = s.beta_start + (s.beta_end - s.beta_start) * t / (s.timesteps - 1);
      prod *= 1.0 - beta;
      alpha_bar[t] = prod;
    }
  } else if (s.kind == "cosine") {
    // Nichol & Dhariwal 2021, eq. 17, with s = 0.008 and betas clipped at 0.999.
    auto f = [&](double t) {
      const double v = std::cos((t / s.timesteps + 0.008) / 1.008 * kPi / 2);
      return v * v;
    };
    double prod = 1.0;
    for (int t = 0; t < s.timesteps; ++t) {
      const double beta = std::min(1.0 - f(t + 1) / f(t), 0.999);
      prod *= 1.0 - beta;
      alpha_bar[t] = prod;
    }
  } else {
    throw std::invalid_argument("unknown VP schedule kind \"" + s.kind + "\" (linear or cosine)");
  }
  if (!(s.shift > 0 && std::isfinite(s.shift))) throw std::invalid_argument("schedule shift must be positive");
  sigmas_.resize(s.timesteps);
  log_sigmas_.resize(s.timesteps);
  for (int t = 0; t < s.timesteps; ++t) {
    sigmas_[t] = s.shift * std::sqrt((1.0 - alpha_bar[t]) / alpha_bar[t]);
    log_sigmas_[t] = std::log(sigmas_[t]);
  }
}

VPSchedule at_resolution(VPSchedule s, int height, int width) {
  if (s.shift_base <= 0) return s;
  s.shift = std::sqrt(static_cast<double>(height) * static_cast<double>(width)) / s.shift_base;
  return s;
}

double DiscreteSigmas::sigma_to_t(double sigma) const {
  const double ls = std::log(sigma);
  if (ls <= log_sigmas_.front()) return 0.0;
  if (ls >= log_sigmas_.back()) return static_cast<double>(log_sigmas_.size() - 1);
  auto it = std::upper_bound(log_sigmas_.begin(), log_sigmas_.end(), ls);
  const auto hi = static_cast<std::size_t>(it - log_sigmas_.begin());
  const auto lo = hi - 1;
  const double w = (ls - log_sigmas_[lo]) / (log_sigmas_[hi] - log_sigmas_[lo]);
  return static_cast<double>(lo) + w;
}

double DiscreteSigmas::t_to_sigma(double t) const {
  const double max_t = static_cast<double>(log_sigmas_.size() - 1);
  t = std::clamp(t, 0.0, max_t);
  const auto lo = static_cast<std::size_t>(std::floor(t));
  const auto hi = std::min(lo + 1, log_sigmas_.size() - 1);
  const double w = t - static_cast<double>(lo);
  return std::exp((1 - w) * log_sigmas_[lo] + w * log_sigmas_[hi]);
}

std::vector<double> schedule_uniform_t(const DiscreteSigmas& d, int steps, long top) {
  check_steps(steps);
  const long last = static_cast<long>(d.sigmas().size()) - 1;
  if (top > last) throw std::invalid_argument("uniform schedule: max_t " + std::to_string(top) + " is past the table's last timestep " + std::to_string(last));
  const double max_t = static_cast<double>(top < 0 ? last : top);
  std::vector<double> out;
  for (int i = 0; i < steps; ++i) {
    const double t = steps == 1 ? max_t : max_t * (1.0 - static_cast<double>(i) / (steps - 1));
    out.push_back(d.t_to_sigma(t));
  }
  out.push_back(0.0);
  return out;
}

std::vector<double> schedule_karras(int steps, double sigma_min, double sigma_max, double rho) {
  check_steps(steps);
  check_range(sigma_min, sigma_max);
  const double a = std::pow(sigma_max, 1.0 / rho), b = std::pow(sigma_min, 1.0 / rho);
  std::vector<double> out;
  for (int i = 0; i < steps; ++i) {
    const double r = steps == 1 ? 0.0 : static_cast<double>(i) / (steps - 1);
    out.push_back(std::pow(a + r * (b - a), rho));
  }
  // The ends exactly (pow(pow(s, 1/rho), rho) is off by an ulp or so), so a discretization
  // built from a model's range ends on its sigma_min.
  out.front() = sigma_max;
  if (steps > 1) out.back() = sigma_min;
  out.push_back(0.0);
  return out;
}

std::vector<double> schedule_exponential(int steps, double sigma_min, double sigma_max) {
  check_steps(steps);
  check_range(sigma_min, sigma_max);
  std::vector<double> out;
  for (int i = 0; i < steps; ++i) {
    const double r = steps == 1 ? 0.0 : static_cast<double>(i) / (steps - 1);
    out.push_back(std::exp(std::log(sigma_max) + r * (std::log(sigma_min) - std::log(sigma_max))));
  }
  out.push_back(0.0);
  return out;
}

std::vector<double> schedule_explicit(std::vector<double> sigmas) {
  if (!sigmas.empty() && sigmas.back() == 0.0) sigmas.pop_back();
  if (sigmas.empty()) throw std::invalid_argument("an explicit schedule needs at least one sigma > 0");
  for (std::size_t i = 0; i < sigmas.size(); ++i) {
    if (!(sigmas[i] > 0) || !std::isfinite(sigmas[i])) {
      throw std::invalid_argument("explicit schedule: sigma[" + std::to_string(i) + "] must be finite and > 0");
    }
    if (i > 0 && !(sigmas[i] < sigmas[i - 1])) {
      throw std::invalid_argument("explicit schedule: sigmas must strictly decrease (index " + std::to_string(i) + ")");
    }
  }
  sigmas.push_back(0.0);
  return sigmas;
}

}  // namespace anneal
