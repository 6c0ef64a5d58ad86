#include "engine/distill/consistency.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "engine/distill/teacher.h"
#include "engine/samplers.h"

namespace anneal {

mx::array consistency_teacher_step(const Denoiser& teacher, const mx::array& x, const mx::array& sigma,
                                   const mx::array& sigma_next, const std::optional<mx::array>& labels) {
  return heun_step(x, teacher(x, sigma, labels), sigma_column(sigma), sigma_column(sigma_next),
                   [&](const mx::array& xe) { return teacher(xe, sigma_next, labels); });
}

mx::array pseudo_huber(const mx::array& a, const mx::array& b, double c) {
  std::vector<int> axes;
  for (int i = 1; i < static_cast<int>(a.ndim()); ++i) axes.push_back(i);
  auto sq = mx::sum(mx::square(mx::subtract(a, b)), axes);
  const auto cf = mx::array(static_cast<float>(c));
  const auto c2 = mx::array(static_cast<float>(c * c));
  // sqrt(sq + c^2) - c cancels to 0 in float32 once sq < c^2 * 2^-23: the gradient of a
  // nearly converged pair is lost. The conjugate form keeps it.
  return mx::divide(sq, mx::add(mx::sqrt(mx::add(sq, c2)), cf));
}

ConsistencyDistillationObjective::ConsistencyDistillationObjective(FrozenModel teacher, UNetConfig student_unet,
                                                                   Preconditioning student_prec,
                                                                   ConsistencyDistillationOptions options)
    : teacher_(std::move(teacher)),
      student_unet_(std::move(student_unet)),
      student_prec_(std::move(student_prec)),
      options_(std::move(options)) {
  if (student_prec_.kind != Parameterization::Consistency) {
    throw std::invalid_argument(
        "consistency distillation needs a consistency-model student (parameterization \"consistency\" with "
        "its inner parameterization, sigma_min and sigma_data); build it with Model.studentOf(teacher, ...)");
  }
  check_teacher_and_student(teacher_, student_unet_);
  check_same_schedule(teacher_.prec, student_prec_);
  const auto& s = options_.sigmas;
  if (s.size() < 2) {
    throw std::invalid_argument("sigmas must hold N >= 2 sigmas (the discretization); got " +
                                std::to_string(s.size()));
  }
  check_sigmas_in_teacher_range(s, teacher_, "sigmas");
  if (!(s.back() > 0)) {
    throw std::invalid_argument("sigmas must be positive: the discretization ends at the student's sigma_min, not 0");
  }
  // The last sigma is the student's boundary: the smallest pair then trains f(x, sigma_2)
  // against f(x^, sigma_min) = x^, which anchors the chain; a grid ending above it never sees
  // the boundary, one below it asks f for noise levels where it is the identity. The slack
  // covers float32 round trips of a table's smallest sigma.
  const double sm = student_prec_.sigma_min;
  if (!(std::abs(s.back() - sm) <= 1e-5 * sm)) {
    std::ostringstream m;
    m << "sigmas end at " << s.back() << " but must end at the student's sigma_min " << sm
      << " (where its consistency function is the identity; relative slack 1e-5)";
    throw std::invalid_argument(m.str());
  }
  if (!(options_.cfg_dropout >= 0 && options_.cfg_dropout <= 1)) {
    throw std::invalid_argument("cfg_dropout must be in [0, 1]");
  }
  const double dim = static_cast<double>(student_unet_.sample_size) * student_unet_.sample_size *
                     student_unet_.in_channels;
  huber_c_ = options_.huber_c > 0 ? options_.huber_c : 0.00054 * std::sqrt(dim);
  if (!std::isfinite(huber_c_)) throw std::invalid_argument("huber_c must be finite");
  identity_ = {{"sigmas", sigmas_digest(s)}, {"options", "huber_c=" + exact_number(huber_c_)},
               {"teacher", teacher_fingerprint(teacher_)}};
}

ConsistencyTerms consistency_terms(const Denoiser& teacher, const Denoiser& f, const mx::array& x0,
                                   const std::optional<mx::array>& labels, const std::vector<double>& sigmas,
                                   double huber_c, const mx::array& key_index, const mx::array& key_noise, const BatchRows& rows) {
  const int B = x0.shape(0);
  const int N = static_cast<int>(sigmas.size());
  auto grid = sigma_table(sigmas);
  auto j = rows.per_example({B}, [&](const mx::Shape& s) { return mx::random::randint(0, N - 1, s, mx::int32, key_index); });
  auto sigma_hi = mx::take(grid, j);
  auto sigma_lo = mx::take(grid, mx::add(j, mx::array(1)));
  auto z = rows.per_example(x0.shape(), [&](const mx::Shape& s) { return mx::random::normal(s, mx::float32, key_noise); });
  auto x_hi = mx::add(x0, mx::multiply(z, sigma_column(sigma_hi)));
  auto x_lo = mx::stop_gradient(consistency_teacher_step(teacher, x_hi, sigma_hi, sigma_lo, labels));
  auto target = mx::stop_gradient(f(x_lo, sigma_lo, labels));
  auto online = f(x_hi, sigma_hi, labels);
  auto weight = mx::divide(mx::array(1.0f), mx::subtract(sigma_hi, sigma_lo));
  return {j, sigma_hi, sigma_lo, z, x_lo, target, online, weight, pseudo_huber(online, target, huber_c)};
}

mx::array ConsistencyDistillationObjective::loss(const Params& student, const std::vector<mx::array>& frozen,
                                                 const TrainBatch& b, const mx::array& key) const {
  auto keys = mx::random::split(key, 4);
  auto k = [&](int i) { return mx::take(keys, i, 0); };
  auto labels = dropout_labels(student_unet_, b.labels, options_.cfg_dropout, k(2), b.rows);
  Denoiser teacher(teacher_.prec, unet_network(unflatten(teacher_.params, frozen), teacher_.unet,
                                               options_.compute_dtype));
  // Both evaluations of f share one dropout draw, so the target differs from the online
  // output only through the noise level and the teacher's step.
  Denoiser f(student_prec_,
             unet_network(student, student_unet_, options_.compute_dtype,
                          student_unet_.dropout > 0 ? std::optional<mx::array>(b.rows.dropout_key(k(3)))
                                                     : std::nullopt));
  auto t = consistency_terms(teacher, f, b.x0, labels, options_.sigmas, huber_c_, k(0), k(1), b.rows);
  return mx::mean(mx::multiply(t.weight, t.per_example));
}

EctPair ect_pair(const mx::array& sigma_t, const mx::array& step, const ConsistencyTrainingOptions& o,
                 double sigma_min) {
  auto f32 = [](double v) { return mx::array(static_cast<float>(v)); };
  auto a = mx::add(mx::floor(mx::divide(mx::subtract(step, f32(1)), f32(static_cast<double>(o.halving_every)))),
                   f32(1));
  auto shrink = mx::power(f32(o.q), a);
  auto n = mx::add(f32(1), mx::multiply(f32(o.k), mx::sigmoid(mx::multiply(f32(-o.b), sigma_t))));
  auto gap = mx::minimum(mx::divide(mx::multiply(sigma_t, n), shrink), mx::subtract(sigma_t, f32(sigma_min)));
  auto sigma_r = mx::maximum(mx::subtract(sigma_t, gap), f32(sigma_min));
  return {sigma_r, gap};
}

ConsistencyTrainingObjective::ConsistencyTrainingObjective(UNetConfig unet, Preconditioning prec,
                                                           ConsistencyTrainingOptions options)
    : unet_(std::move(unet)), prec_(std::move(prec)), options_(options) {
  if (prec_.kind != Parameterization::Consistency) {
    throw std::invalid_argument(
        "consistency training needs a consistency-model student (parameterization \"consistency\"); build it "
        "with Model.studentOf(teacher, {kind: 'consistency', ...})");
  }
  if (!(options_.q > 1) || !std::isfinite(options_.q)) throw std::invalid_argument("q must be > 1");
  if (options_.halving_every < 1) throw std::invalid_argument("halving_every must be >= 1");
  if (options_.total_steps > 0) {
    // The smallest gap, sigma_min / q^a_max (n >= 1), and its weight must stay finite
    // normal float32 numbers.
    const double a_max = std::floor(static_cast<double>(options_.total_steps - 1) / options_.halving_every) + 1;
    const double shrink = std::pow(options_.q, a_max);
    if (!(shrink < 3.4e38) || !(prec_.sigma_min / shrink >= 1.2e-38)) {
      std::ostringstream m;
      m << "q^a reaches " << options_.q << "^" << a_max << " at step " << options_.total_steps
        << " (halving every " << options_.halving_every << "): the gap sigma_min / q^a underflows float32; "
        << "use a larger halvingEvery or a smaller q";
      throw std::invalid_argument(m.str());
    }
  }
  if (!(options_.p_std > 0) || !std::isfinite(options_.p_mean)) {
    throw std::invalid_argument("p_std must be positive and p_mean finite");
  }
  if (!(options_.k >= 0) || !std::isfinite(options_.b)) throw std::invalid_argument("k must be >= 0 and b finite");
  if (!(options_.cfg_dropout >= 0 && options_.cfg_dropout <= 1)) {
    throw std::invalid_argument("cfg_dropout must be in [0, 1]");
  }
  const double dim = static_cast<double>(unet_.sample_size) * unet_.sample_size * unet_.in_channels;
  huber_c_ = options_.huber_c > 0 ? options_.huber_c : 0.00054 * std::sqrt(dim);
  sigma_max_ = DiscreteSigmas(prec_.schedule).sigma_max();
  if (!(prec_.sigma_min < sigma_max_)) throw std::invalid_argument("sigma_min must be below the table's sigma_max");
}

std::map<std::string, std::string> ConsistencyTrainingObjective::identity() const {
  const auto& o = options_;
  return {{"options", "q=" + exact_number(o.q) + " halving_every=" + std::to_string(o.halving_every) +
                          " p_mean=" + exact_number(o.p_mean) + " p_std=" + exact_number(o.p_std) +
                          " k=" + exact_number(o.k) + " b=" + exact_number(o.b) + " huber_c=" + exact_number(huber_c_) +
                          " sigma_min=" + exact_number(prec_.sigma_min)}};
}

mx::array ConsistencyTrainingObjective::loss(const Params& student, const std::vector<mx::array>&,
                                             const TrainBatch& b, const mx::array& key) const {
  auto keys = mx::random::split(key, 4);
  auto k = [&](int i) { return mx::take(keys, i, 0); };
  const int B = b.x0.shape(0);
  const float lo = static_cast<float>(prec_.sigma_min), hi = static_cast<float>(sigma_max_);
  // sigma_t strictly above sigma_min, so the gap sigma_t - sigma_r is never 0.
  auto log_sigma = mx::add(mx::multiply(b.rows.per_example({B}, [&](const mx::Shape& s) { return mx::random::normal(s, mx::float32, k(0)); }),
                                         mx::array(static_cast<float>(options_.p_std))),
                           mx::array(static_cast<float>(options_.p_mean)));
  auto sigma_t = mx::clip(mx::exp(log_sigma), mx::array(lo * 1.001f), mx::array(hi));
  auto [sigma_r, gap] = ect_pair(sigma_t, b.step, options_, prec_.sigma_min);
  auto z = b.rows.per_example(b.x0.shape(), [&](const mx::Shape& s) { return mx::random::normal(s, mx::float32, k(1)); });
  auto x_t = mx::add(b.x0, mx::multiply(z, sigma_column(sigma_t)));
  auto x_r = mx::add(b.x0, mx::multiply(z, sigma_column(sigma_r)));
  auto labels = dropout_labels(unet_, b.labels, options_.cfg_dropout, k(2), b.rows);
  Denoiser f(prec_, unet_network(student, unet_, options_.compute_dtype,
                                 unet_.dropout > 0 ? std::optional<mx::array>(b.rows.dropout_key(k(3)))
                                                  : std::nullopt));
  auto target = mx::stop_gradient(f(x_r, sigma_r, labels));
  auto online = f(x_t, sigma_t, labels);
  auto weight = mx::divide(mx::array(1.0f), gap);
  return mx::mean(mx::multiply(weight, pseudo_huber(online, target, huber_c_)));
}

}  // namespace anneal
