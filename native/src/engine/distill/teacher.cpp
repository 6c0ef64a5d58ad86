#include "engine/distill/teacher.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace anneal {

namespace {
std::string num(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}
struct Fnv {
  std::uint64_t h = 0xcbf29ce484222325ull;
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  }
  void text(const std::string& t) { bytes(t.data(), t.size() + 1); }  // with the terminator
  std::string hex() const {
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
    return out;
  }
};
}  // namespace

std::string exact_number(double v) {
  char out[32];
  std::snprintf(out, sizeof out, "%.17g", v);
  return out;
}

std::string text_digest(const std::string& text) {
  Fnv f;
  f.text(text);
  return f.hex();
}

std::string sigmas_digest(const std::vector<double>& sigmas) {
  std::string t;
  for (double s : sigmas) t += exact_number(s) + ",";
  return text_digest(t);
}

std::string teacher_fingerprint(const FrozenModel& teacher) {
  Fnv f;
  const auto& p = teacher.prec;
  f.text(std::to_string(static_cast<int>(p.kind)) + " " + p.schedule.kind + " " + std::to_string(p.schedule.timesteps) +
         " " + exact_number(p.schedule.beta_start) + " " + exact_number(p.schedule.beta_end) + " " +
         exact_number(p.sigma_data) +
         // Only when shifted, so every unshifted teacher keeps the fingerprint it had.
         (p.schedule.shift != 1.0 ? " shift " + exact_number(p.schedule.shift) : ""));
  for (const auto& [name, a] : teacher.params) {
    auto c = mx::contiguous(a);
    mx::eval(c);
    std::string head = name + " " + std::to_string(static_cast<int>(c.dtype().val())) + " [";
    for (auto d : c.shape()) head += std::to_string(d) + ",";
    f.text(head + "]");
    f.bytes(c.data<char>(), c.nbytes());
  }
  return f.hex();
}

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

void check_same_schedule(const Preconditioning& teacher, const Preconditioning& student) {
  if (teacher.kind == Parameterization::Edm || student.kind == Parameterization::Edm) return;
  const auto& a = teacher.schedule;
  const auto& b = student.schedule;
  auto show = [](const VPSchedule& s) {
    return s.kind + " " + std::to_string(s.timesteps) + " steps, betas " + num(s.beta_start) + ".." + num(s.beta_end) +
           (s.shift != 1.0 ? ", shift " + num(s.shift) : "");
  };
  if (a.kind != b.kind || a.timesteps != b.timesteps || a.beta_start != b.beta_start || a.beta_end != b.beta_end ||
      a.shift != b.shift) {
    throw std::invalid_argument("teacher and student differ in their VP schedule (teacher " + show(a) + ", student " +
                                show(b) + "): the student must read sigma through the teacher's table");
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
