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

mx::array ProgressiveObjective::loss(const Params& student, const std::vector<mx::array>& frozen,
                                     const TrainBatch& b, const mx::array& key) const {
  auto keys = mx::random::split(key, 4);
  auto k = [&](int i) { return mx::take(keys, i, 0); };
  const int B = b.x0.shape(0);
  const int N = student_steps();
  // Student step i runs from grid point 2i to 2i + 2, through the teacher's 2i + 1.
  auto i = mx::random::randint(0, N, {B}, mx::int32, k(0));
  auto grid = sigma_table(options_.sigmas);
  auto two_i = mx::multiply(i, mx::array(2));
  auto sigma_t = mx::take(grid, two_i);
  auto sigma_mid = mx::take(grid, mx::add(two_i, mx::array(1)));
  auto sigma_s = mx::take(grid, mx::add(two_i, mx::array(2)));
  auto z = mx::random::normal(b.x0.shape(), mx::float32, k(1));
  auto x_t = mx::add(b.x0, mx::multiply(z, sigma_column(sigma_t)));
  auto labels = dropout_labels(student_unet_, b.labels, options_.cfg_dropout, k(2));

  Denoiser teacher(teacher_.prec, unet_network(unflatten(teacher_.params, frozen), teacher_.unet,
                                               options_.compute_dtype));
  auto target = mx::stop_gradient(progressive_target(teacher, x_t, sigma_t, sigma_mid, sigma_s, labels).target);
  Denoiser d(student_prec_,
             unet_network(student, student_unet_, options_.compute_dtype,
                          student_unet_.dropout > 0 ? std::optional<mx::array>(k(3)) : std::nullopt));
  auto x_hat = d(x_t, sigma_t, labels);
  auto snr = mx::divide(mx::array(1.0f), mx::square(sigma_t));
  auto weight = options_.weighting == DistillWeighting::TruncatedSnr ? mx::maximum(snr, mx::array(1.0f))
                                                                       : mx::add(snr, mx::array(1.0f));
  auto per_example = mx::mean(mx::square(mx::subtract(x_hat, target)), std::vector<int>{1, 2, 3});
  return mx::mean(mx::multiply(weight, per_example));
}

}  // namespace anneal
