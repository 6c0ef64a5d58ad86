#include "engine/distill/output.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "engine/distill/teacher.h"

namespace anneal {

OutputDistillationObjective::OutputDistillationObjective(FrozenModel teacher, UNetConfig student_unet,
                                                         Preconditioning student_prec,
                                                         OutputDistillationOptions options)
    : teacher_(std::move(teacher)),
      student_unet_(std::move(student_unet)),
      student_prec_(std::move(student_prec)),
      options_(options) {
  if (student_prec_.kind == Parameterization::Consistency) {
    throw std::invalid_argument(
        "output distillation needs a diffusion-model student (eps, v, x0 or edm), not a consistency model: its "
        "f has no network-space target; distill a consistency student with consistency-distillation");
  }
  check_teacher_and_student(teacher_, student_unet_);
  check_same_schedule(teacher_.prec, student_prec_);
  const double w = options_.output_weight;
  if (!std::isfinite(w) || w < 0) {
    std::ostringstream m;
    m << "output weight " << w << " must be finite and >= 0 (BK-SDM uses 1)";
    throw std::invalid_argument(m.str());
  }
  const auto& d = options_.denoising;
  if (!(d.cfg_dropout >= 0 && d.cfg_dropout <= 1)) throw std::invalid_argument("cfg_dropout must be in [0, 1]");
  DiscreteSigmas check(student_prec_.schedule);  // a bad schedule is refused here, not at the first step
  if (d.loss_weighting == LossWeighting::MinSnr) min_snr_weight(student_prec_.kind, mx::array({1.0f}), d.min_snr_gamma);
  const std::string weighting = d.loss_weighting == LossWeighting::MinSnr
                                    ? "min-snr min_snr_gamma=" + exact_number(d.min_snr_gamma)
                                    : "none";
  identity_ = {{"options", "output_weight=" + exact_number(w) + " loss_weighting=" + weighting},
               {"teacher", teacher_fingerprint(teacher_)}};
}

mx::array OutputDistillationObjective::loss(const Params& student, const std::vector<mx::array>& frozen,
                                            const TrainBatch& b, const mx::array& key) const {
  const auto& o = options_.denoising;
  auto s = denoising_draws(student_unet_, student_prec_, o, b, key);
  Denoiser d(s.prec, unet_network(student, student_unet_, o.compute_dtype, s.dropout_key));
  // The teacher reads sigma through its own table at this batch's resolution, as its training did.
  Preconditioning teacher_prec = teacher_.prec;
  teacher_prec.schedule = at_resolution(teacher_.prec.schedule, b.x0.shape(1), b.x0.shape(2));
  Denoiser teacher(teacher_prec, unet_network(unflatten(teacher_.params, frozen), teacher_.unet, o.compute_dtype));
  auto f = d.network_output(s.x_noisy, s.sigma, s.labels);
  auto task = network_mse(f, d.network_target(s.x_noisy, b.x0, s.sigma), s.sigma, student_prec_.kind, o);
  auto taught = mx::stop_gradient(d.network_target(s.x_noisy, teacher(s.x_noisy, s.sigma, s.labels), s.sigma));
  auto kd = network_mse(f, taught, s.sigma, student_prec_.kind, o);
  return mx::add(task, mx::multiply(mx::array(static_cast<float>(options_.output_weight)), kd));
}

}  // namespace anneal
