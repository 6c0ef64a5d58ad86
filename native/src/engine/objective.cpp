#include "engine/objective.h"

#include <cmath>
#include <stdexcept>

namespace anneal {

mx::array min_snr_weight(Parameterization kind, const mx::array& sigma, double gamma) {
  if (!(gamma > 0)) throw std::invalid_argument("min_snr_gamma must be positive");
  // The network-space MSE weighs the x0 error by 1 / c_out^2: SNR for eps, SNR + 1 for v, 1
  // for x0. Dividing min(SNR, gamma) by that leaves min(SNR, gamma) in x0 space.
  auto snr = mx::divide(mx::array(1.0f), mx::square(sigma));
  auto clipped = mx::minimum(snr, mx::array(static_cast<float>(gamma)));
  switch (kind) {
    case Parameterization::Eps:
      return mx::divide(clipped, snr);
    case Parameterization::V:
      return mx::divide(clipped, mx::add(snr, mx::array(1.0f)));
    case Parameterization::X0:
      return clipped;
    default:
      throw std::invalid_argument(
          "min-SNR loss weighting applies to eps, v and x0 models; EDM's loss carries its own weighting");
  }
}

std::optional<mx::array> dropout_labels(const UNetConfig& unet, const mx::array& labels, float cfg_dropout,
                                        const mx::array& key, const BatchRows& rows) {
  if (unet.num_class_embeds <= 0) return std::nullopt;
  // The last class embedding is the null class used for classifier-free guidance.
  const int null_class = unet.num_class_embeds - 1;
  const int B = labels.shape(0);
  auto drop = rows.per_example({B}, [&](const mx::Shape& s) { return mx::random::bernoulli(mx::array(cfg_dropout), s, key); });
  return mx::where(drop, mx::full({B}, null_class, mx::int32), labels);
}

NetworkFn unet_network(const Params& params, const UNetConfig& cfg, mx::Dtype dtype,
                       std::optional<mx::array> dropout_key) {
  Params cast;
  if (dtype == mx::float32) {
    cast = params;
  } else {
    for (const auto& [k, v] : params) cast.insert_or_assign(k, mx::astype(v, dtype));
  }
  return [cast = std::move(cast), cfg, dtype, dropout_key](const mx::array& x, const mx::array& t,
                                                           const std::optional<mx::array>& labels) {
    auto out = unet_forward(cast, cfg, mx::astype(x, dtype), t, labels, dropout_key);
    return mx::astype(out, mx::float32);
  };
}

DenoisingObjective::DenoisingObjective(UNetConfig unet, Preconditioning prec, DenoisingOptions options)
    : unet_(std::move(unet)), prec_(std::move(prec)), options_(options) {
  DiscreteSigmas check(prec_.schedule);  // a bad schedule is refused here, not at the first step
  // Refused here rather than at the first step's network_target, so a Trainer is never built.
  if (prec_.kind == Parameterization::Consistency) {
    throw std::invalid_argument(
        "a consistency model has no denoising-objective target; train it with the consistency-distillation "
        "objective (from a teacher: its ODE step and a stop-gradient target) or consistency-training "
        "(ECT, from data alone)");
  }
  // min-SNR's kind and gamma, checked here for the same reason.
  if (options_.loss_weighting == LossWeighting::MinSnr) min_snr_weight(prec_.kind, mx::array({1.0f}), options_.min_snr_gamma);
}

DenoisingDraws denoising_draws(const UNetConfig& unet, const Preconditioning& prec, const DenoisingOptions& options,
                               const TrainBatch& b, const mx::array& key) {
  auto keys = mx::random::split(key, 4);
  auto k = [&](int i) { return mx::take(keys, i, 0); };
  const int B = b.x0.shape(0);
  // The schedule at this batch's resolution: with a resolution shift, a progressive or
  // multi-resolution run's batches of each size draw their own sigmas, and the network reads
  // sigma through the same shifted table (so it is conditioned on the unshifted timestep).
  Preconditioning at_batch = prec;
  at_batch.schedule = at_resolution(prec.schedule, b.x0.shape(1), b.x0.shape(2));
  const DiscreteSigmas batch_table(at_batch.schedule);
  mx::array sigma = mx::array(0.0f);
  if (prec.kind == Parameterization::Edm || prec.kind == Parameterization::Consistency) {
    auto z = b.rows.per_example({B}, [&](const mx::Shape& s) { return mx::random::normal(s, mx::float32, k(0)); });
    sigma = mx::exp(mx::add(mx::multiply(z, mx::array(static_cast<float>(options.edm_p_std))),
                            mx::array(static_cast<float>(options.edm_p_mean))));
  } else {
    const auto& s = batch_table.sigmas();
    std::vector<float> table(s.begin(), s.end());
    auto t = b.rows.per_example(
        {B}, [&](const mx::Shape& s) { return mx::random::randint(0, static_cast<int>(table.size()), s, mx::int32, k(0)); });
    sigma = mx::take(mx::array(table.data(), {static_cast<int>(table.size())}, mx::float32), t);
  }
  auto noise = b.rows.per_example(b.x0.shape(), [&](const mx::Shape& s) { return mx::random::normal(s, mx::float32, k(1)); });
  auto x_noisy = mx::add(b.x0, mx::multiply(noise, mx::reshape(sigma, {-1, 1, 1, 1})));
  auto labels = dropout_labels(unet, b.labels, options.cfg_dropout, k(2), b.rows);
  std::optional<mx::array> dropout_key;
  if (unet.dropout > 0) dropout_key = b.rows.dropout_key(k(3));
  return {std::move(at_batch), sigma, x_noisy, labels, dropout_key};
}

mx::array network_mse(const mx::array& f, const mx::array& target, const mx::array& sigma, Parameterization kind,
                      const DenoisingOptions& options) {
  if (options.loss_weighting == LossWeighting::None) return mx::mean(mx::square(mx::subtract(f, target)));
  auto per_example = mx::mean(mx::square(mx::subtract(f, target)), std::vector<int>{1, 2, 3});
  return mx::mean(mx::multiply(min_snr_weight(kind, sigma, options.min_snr_gamma), per_example));
}

mx::array DenoisingObjective::loss(const Params& student, const std::vector<mx::array>&, const TrainBatch& b,
                                   const mx::array& key) const {
  auto s = denoising_draws(unet_, prec_, options_, b, key);
  Denoiser d(s.prec, unet_network(student, unet_, options_.compute_dtype, s.dropout_key));
  auto f = d.network_output(s.x_noisy, s.sigma, s.labels);
  return network_mse(f, d.network_target(s.x_noisy, b.x0, s.sigma), s.sigma, prec_.kind, options_);
}

}  // namespace anneal
