#include "engine/distill/inherit.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace anneal {

Inheritance inherit_params(const Params& student, const UNetConfig& student_unet, const Params& teacher,
                           const UNetConfig& teacher_unet) {
  auto differ = [](const char* field, int t, int s) {
    throw std::invalid_argument(std::string("teacher and student differ in ") + field + " (teacher " +
                                std::to_string(t) + ", student " + std::to_string(s) +
                                "): a student inherits only from a teacher of the same images and labels");
  };
  if (teacher_unet.in_channels != student_unet.in_channels) {
    differ("in_channels", teacher_unet.in_channels, student_unet.in_channels);
  }
  if (teacher_unet.out_channels != student_unet.out_channels) {
    differ("out_channels", teacher_unet.out_channels, student_unet.out_channels);
  }
  if (teacher_unet.num_class_embeds != student_unet.num_class_embeds) {
    differ("num_class_embeds", teacher_unet.num_class_embeds, student_unet.num_class_embeds);
  }
  Inheritance out;
  out.params = student;
  std::vector<mx::array> copied;
  for (auto& [name, a] : out.params) {
    ++out.total;
    out.total_parameters += a.size();
    auto t = teacher.find(name);
    if (t == teacher.end() || t->second.shape() != a.shape()) continue;
    a = t->second.dtype() == a.dtype() ? t->second : mx::astype(t->second, a.dtype());
    copied.push_back(a);
    ++out.copied;
    out.copied_parameters += a.size();
  }
  // Casts (and teacher arrays not yet computed) are evaluated now, so the student holds data,
  // not a graph over the teacher's arrays; arrays already computed are left as they are.
  mx::eval(copied);
  return out;
}

}  // namespace anneal
