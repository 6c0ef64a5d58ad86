#include "engine/denoiser.h"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace anneal {

Parameterization parse_parameterization(const std::string& name) {
  if (name == "eps") return Parameterization::Eps;
  if (name == "v") return Parameterization::V;
  if (name == "x0") return Parameterization::X0;
  if (name == "edm") return Parameterization::Edm;
  if (name == "consistency") return Parameterization::Consistency;
  throw std::invalid_argument("unknown parameterization \"" + name + "\" (eps, v, x0, edm, consistency)");
}

namespace {
mx::array col(const mx::array& v) { return mx::reshape(v, {-1, 1, 1, 1}); }

// sigma -> fractional DDPM timestep, element-wise, by interpolation in the log-sigma table.
mx::array sigma_to_t(const DiscreteSigmas& table, const mx::array& sigma) {
  const auto& s = table.sigmas();
  std::vector<float> log_sigmas(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) log_sigmas[i] = static_cast<float>(std::log(s[i]));
  const int n = static_cast<int>(s.size());
  auto ls = mx::array(log_sigmas.data(), {n}, mx::float32);
  auto x = mx::log(mx::astype(sigma, mx::float32));
  // Index of the last table entry <= x, clamped so [lo, lo + 1] is a valid interval.
  auto ge = mx::greater_equal(mx::expand_dims(x, 1), mx::expand_dims(ls, 0));
  auto lo = mx::clip(mx::subtract(mx::sum(mx::astype(ge, mx::int32), 1), mx::array(1)), mx::array(0), mx::array(n - 2));
  auto lo_v = mx::take(ls, lo), hi_v = mx::take(ls, mx::add(lo, mx::array(1)));
  auto w = mx::clip(mx::divide(mx::subtract(x, lo_v), mx::subtract(hi_v, lo_v)), mx::array(0.0f), mx::array(1.0f));
  return mx::add(mx::astype(lo, mx::float32), w);
}
}  // namespace

Scalings scalings(const Preconditioning& p, const DiscreteSigmas& table, const mx::array& sigma_in) {
  auto sigma = mx::astype(sigma_in, mx::float32);
  auto s2 = mx::square(sigma);
  auto one = mx::array(1.0f);
  switch (p.kind) {
    case Parameterization::Eps: {
      auto c_in = mx::rsqrt(mx::add(s2, one));
      return {col(mx::ones_like(sigma)), col(mx::negative(sigma)), col(c_in), sigma_to_t(table, sigma)};
    }
    case Parameterization::V: {
      // sigma_data = 1 in the VP parameterization (k-diffusion's DiscreteVDDPMDenoiser).
      auto c_in = mx::rsqrt(mx::add(s2, one));
      return {col(mx::divide(one, mx::add(s2, one))), col(mx::negative(mx::multiply(sigma, c_in))), col(c_in),
              sigma_to_t(table, sigma)};
    }
    case Parameterization::X0: {
      auto c_in = mx::rsqrt(mx::add(s2, one));
      return {col(mx::zeros_like(sigma)), col(mx::ones_like(sigma)), col(c_in), sigma_to_t(table, sigma)};
    }
    case Parameterization::Edm: {
      const float sd = static_cast<float>(p.sigma_data);
      auto denom = mx::add(s2, mx::array(sd * sd));
      auto c_in = mx::rsqrt(denom);
      // c_noise = ln(sigma) / 4 (Karras et al.), scaled by 1000 into the timestep range
      // UNet2DModel's sinusoidal embedding was designed for.
      auto c_noise = mx::multiply(mx::log(sigma), mx::array(250.0f));
      return {col(mx::divide(mx::array(sd * sd), denom)), col(mx::multiply(mx::multiply(sigma, mx::array(sd)), c_in)),
              col(c_in), c_noise};
    }
    case Parameterization::Consistency: {
      if (p.inner != Parameterization::Eps && p.inner != Parameterization::V && p.inner != Parameterization::X0) {
        throw std::invalid_argument("a consistency model's inner parameterization must be eps, v or x0");
      }
      Preconditioning inner = p;
      inner.kind = p.inner;
      auto in = scalings(inner, table, sigma);
      // f = D_inner + (sigma_min / sigma)(x - D_inner): the teacher's DDIM jump from sigma to
      // sigma_min, so a student built from the teacher starts out as its one-step sampler.
      auto ratio = col(mx::divide(mx::array(static_cast<float>(p.sigma_min)), sigma));
      auto rest = mx::subtract(one, ratio);
      return {mx::add(ratio, mx::multiply(rest, in.c_skip)), mx::multiply(rest, in.c_out), in.c_in,
              in.c_noise};
    }
  }
  throw std::logic_error("unhandled parameterization");
}

Denoiser::Denoiser(Preconditioning p, NetworkFn network)
    : p_(std::move(p)), table_(p_.schedule), network_(std::move(network)) {}

mx::array Denoiser::network_output(const mx::array& x, const mx::array& sigma,
                                   const std::optional<mx::array>& class_labels) const {
  auto s = scalings(p_, table_, sigma);
  return network_(mx::multiply(x, s.c_in), s.c_noise, class_labels);
}

mx::array Denoiser::operator()(const mx::array& x, const mx::array& sigma,
                               const std::optional<mx::array>& class_labels) const {
  auto s = scalings(p_, table_, sigma);
  auto f = network_(mx::multiply(x, s.c_in), s.c_noise, class_labels);
  return mx::add(mx::multiply(x, s.c_skip), mx::multiply(f, s.c_out));
}

mx::array Denoiser::network_target(const mx::array& x_noisy, const mx::array& x0, const mx::array& sigma) const {
  if (p_.kind == Parameterization::Consistency) {
    throw std::invalid_argument("consistency models train against a target network, not a network-space target");
  }
  auto s = scalings(p_, table_, sigma);
  return mx::divide(mx::subtract(x0, mx::multiply(x_noisy, s.c_skip)), s.c_out);
}

double Denoiser::sigma_min() const {
  return p_.kind == Parameterization::Edm || p_.kind == Parameterization::Consistency ? p_.sigma_min
                                                                                        : table_.sigma_min();
}

// A consistency model wraps a VP network: its range is its table's top.
double Denoiser::sigma_max() const { return p_.kind == Parameterization::Edm ? 80.0 : table_.sigma_max(); }

}  // namespace anneal
