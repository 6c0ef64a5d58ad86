#include "engine/distill/teacher.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace anneal {

namespace {
std::string num(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}
}  // namespace

void check_teacher_and_student(const FrozenModel& teacher, const UNetConfig& student) {
  if (teacher.prec.kind == Parameterization::Consistency) {
    throw std::invalid_argument(
        "the teacher is a consistency model; a distillation teacher must be a diffusion model (eps, v, x0 or edm)");
  }
  check_unet_params(teacher.params, teacher.unet);
  const auto& t = teacher.unet;
  auto differ = [](const char* field, int a, int b) {
    throw std::invalid_argument(std::string("teacher and student differ in ") + field + " (teacher " +
                                std::to_string(a) + ", student " + std::to_string(b) +
                                "): the student must take the teacher's images and labels");
  };
  if (t.sample_size != student.sample_size) differ("sample_size", t.sample_size, student.sample_size);
  if (t.in_channels != student.in_channels) differ("in_channels", t.in_channels, student.in_channels);
  if (t.out_channels != student.out_channels) differ("out_channels", t.out_channels, student.out_channels);
  if (t.num_class_embeds != student.num_class_embeds) {
    differ("num_class_embeds", t.num_class_embeds, student.num_class_embeds);
  }
}

void check_sigmas_in_teacher_range(const std::vector<double>& sigmas, const FrozenModel& teacher, const char* what) {
  for (std::size_t i = 0; i < sigmas.size(); ++i) {
    if (!std::isfinite(sigmas[i]) || sigmas[i] < 0) {
      throw std::invalid_argument(std::string(what) + "[" + std::to_string(i) + "] is " + num(sigmas[i]) +
                                  "; sigmas must be finite and >= 0");
    }
    if (i > 0 && !(sigmas[i] < sigmas[i - 1])) {
      throw std::invalid_argument(std::string(what) + " must be strictly decreasing: entry " + std::to_string(i) +
                                  " (" + num(sigmas[i]) + ") is not below entry " + std::to_string(i - 1) + " (" +
                                  num(sigmas[i - 1]) + ")");
    }
  }
  if (teacher.prec.kind == Parameterization::Edm) return;  // EDM takes any sigma
  DiscreteSigmas table(teacher.prec.schedule);
  // float32 rounding of the table's ends must not refuse the table's own values.
  const double slack = 1e-5;
  for (double s : sigmas) {
    if (s == 0) continue;
    if (s > table.sigma_max() * (1 + slack) || s < table.sigma_min() * (1 - slack)) {
      throw std::invalid_argument(std::string(what) + " holds " + num(s) + ", outside the teacher's sigma range [" +
                                  num(table.sigma_min()) + ", " + num(table.sigma_max()) + "]");
    }
  }
}

mx::array sigma_column(const mx::array& sigma) { return mx::reshape(sigma, {-1, 1, 1, 1}); }

mx::array sigma_table(const std::vector<double>& sigmas) {
  std::vector<float> f(sigmas.begin(), sigmas.end());
  return mx::array(f.data(), {static_cast<int>(f.size())}, mx::float32);
}

}  // namespace anneal
