#include "engine/distill/progressive.h"

#include <stdexcept>

#include "engine/distill/teacher.h"
#include "engine/samplers.h"

namespace anneal {

DistillWeighting parse_distill_weighting(const std::string& name) {
  if (name == "truncated-snr") return DistillWeighting::TruncatedSnr;
  if (name == "snr+1") return DistillWeighting::SnrPlusOne;
  throw std::invalid_argument("unknown distillation weighting \"" + name + "\" (truncated-snr, snr+1)");
}

ProgressiveTarget progressive_target(const Denoiser& teacher, const mx::array& x_t, const mx::array& sigma_t,
                                     const mx::array& sigma_mid, const mx::array& sigma_s,
                                     const std::optional<mx::array>& labels) {
  auto t = sigma_column(sigma_t), mid = sigma_column(sigma_mid), s = sigma_column(sigma_s);
  auto x_mid = ddim_step(x_t, teacher(x_t, sigma_t, labels), t, mid);
  auto x_s = ddim_step(x_mid, teacher(x_mid, sigma_mid, labels), mid, s);
  auto r = mx::divide(s, t);
  auto target = mx::divide(mx::subtract(x_s, mx::multiply(r, x_t)), mx::subtract(mx::array(1.0f), r));
  return {x_s, target};
}

ProgressiveObjective::ProgressiveObjective(FrozenModel teacher, UNetConfig student_unet,
                                           Preconditioning student_prec, ProgressiveOptions options)
    : teacher_(std::move(teacher)),
      student_unet_(std::move(student_unet)),
      student_prec_(std::move(student_prec)),
      options_(std::move(options)) {
  if (student_prec_.kind == Parameterization::Eps) {
    throw std::invalid_argument(
        "progressive distillation needs a student that predicts v or x0, not eps: at few steps an eps "
        "student's x-prediction (x - sigma eps) amplifies its errors by sigma, and distillation breaks down "
        "(Salimans & Ho 2022, section 4); make the student a v model initialized from the teacher's weights");
  }
  if (student_prec_.kind == Parameterization::Consistency) {
    throw std::invalid_argument("progressive distillation needs a v or x0 student, not a consistency model");
  }
  check_teacher_and_student(teacher_, student_unet_);
  check_same_schedule(teacher_.prec, student_prec_);
  const auto& g = options_.sigmas;
  if (g.size() < 3 || g.size() % 2 == 0) {
    throw std::invalid_argument("sigmas must hold 2N + 1 values (N >= 1 student steps) ending in 0; got " +
                                std::to_string(g.size()));
  }
  if (g.back() != 0.0) throw std::invalid_argument("sigmas must end in 0 (the teacher's grid down to the data)");
  check_sigmas_in_teacher_range(g, teacher_, "sigmas");
  if (!(options_.cfg_dropout >= 0 && options_.cfg_dropout <= 1)) {
    throw std::invalid_argument("cfg_dropout must be in [0, 1]");
  }
  identity_ = {{"sigmas", sigmas_digest(g)},
               {"options", options_.weighting == DistillWeighting::TruncatedSnr ? "weighting=truncated-snr"
                                                                                 : "weighting=snr+1"},
               {"teacher", teacher_fingerprint(teacher_)}};
}

ProgressiveTerms progressive_terms(const Denoiser& teacher, const Denoiser& student, const mx::array& x0,
                                   const std::optional<mx::array>& labels, const std::vector<double>& grid_values,
                                   DistillWeighting weighting, const mx::array& key_index,
                                   const mx::array& key_noise, const BatchRows& rows) {
  const int B = x0.shape(0);
  const int N = static_cast<int>(grid_values.size() - 1) / 2;
  // Student step i runs from grid point 2i to 2i + 2, through the teacher's 2i + 1.
  auto i = rows.per_example({B}, [&](const mx::Shape& s) { return mx::random::randint(0, N, s, mx::int32, key_index); });
  auto grid = sigma_table(grid_values);
  auto two_i = mx::multiply(i, mx::array(2));
  auto sigma_t = mx::take(grid, two_i);
  auto sigma_mid = mx::take(grid, mx::add(two_i, mx::array(1)));
  auto sigma_s = mx::take(grid, mx::add(two_i, mx::array(2)));
  auto z = rows.per_example(x0.shape(), [&](const mx::Shape& s) { return mx::random::normal(s, mx::float32, key_noise); });
  auto x_t = mx::add(x0, mx::multiply(z, sigma_column(sigma_t)));
  auto target = mx::stop_gradient(progressive_target(teacher, x_t, sigma_t, sigma_mid, sigma_s, labels).target);
  auto x_hat = student(x_t, sigma_t, labels);
  auto snr = mx::divide(mx::array(1.0f), mx::square(sigma_t));
  auto weight = weighting == DistillWeighting::TruncatedSnr ? mx::maximum(snr, mx::array(1.0f))
                                                            : mx::add(snr, mx::array(1.0f));
  std::vector<int> axes;
  for (int a = 1; a < x0.ndim(); ++a) axes.push_back(a);
  auto per_example = mx::mean(mx::square(mx::subtract(x_hat, target)), axes);
  return {i, sigma_t, z, target, weight, per_example};
}

mx::array ProgressiveObjective::loss(const Params& student, const std::vector<mx::array>& frozen,
                                     const TrainBatch& b, const mx::array& key) const {
  auto keys = mx::random::split(key, 4);
  auto k = [&](int i) { return mx::take(keys, i, 0); };
  auto labels = dropout_labels(student_unet_, b.labels, options_.cfg_dropout, k(2), b.rows);
  Denoiser teacher(teacher_.prec, unet_network(unflatten(teacher_.params, frozen), teacher_.unet,
                                               options_.compute_dtype));
  Denoiser d(student_prec_,
             unet_network(student, student_unet_, options_.compute_dtype,
                          student_unet_.dropout > 0 ? std::optional<mx::array>(b.rows.dropout_key(k(3)))
                                                     : std::nullopt));
  auto t = progressive_terms(teacher, d, b.x0, labels, options_.sigmas, options_.weighting, k(0), k(1), b.rows);
  return mx::mean(mx::multiply(t.weight, t.per_example));
}

}  // namespace anneal
