#include "engine/distill/inherit.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace anneal {

namespace {

// The teacher's name for a student tensor: up blocks count from the deepest level, so with
// levels dropped the same level's up block is `dropped` further in the teacher.
std::string teacher_name(const std::string& name, int dropped) {
  const std::string up = "up_blocks.";
  if (dropped <= 0 || name.rfind(up, 0) != 0) return name;
  const auto dot = name.find('.', up.size());
  const int index = std::stoi(name.substr(up.size(), dot - up.size()));
  return up + std::to_string(index + dropped) + name.substr(dot);
}

// The teacher's sinusoid index for each of the student's: a timestep embedding of `dim`
// channels holds half = dim/2 frequencies exp(-ln(P) i / (half - shift)), cosines then sines
// (or the reverse); the student's i-th frequency is nearest the teacher's
// i (half_t - shift_t) / (half_s - shift_s), rounded.
std::vector<int> sinusoid_indices(const UNetConfig& s, const UNetConfig& t) {
  const int ds = s.block_out_channels[0], dt = t.block_out_channels[0];
  const int hs = ds / 2, ht = dt / 2;
  std::vector<int> out;
  for (int half = 0; half < 2; ++half) {
    for (int i = 0; i < hs; ++i) {
      const double at = hs > s.freq_shift ? i * (ht - t.freq_shift) / (hs - s.freq_shift) : i;
      out.push_back(half * ht + std::clamp(static_cast<int>(std::lround(at)), 0, ht - 1));
    }
  }
  // An odd width pads one channel after the sinusoids, always zero: any teacher channel serves.
  if (ds % 2 == 1) out.push_back(dt - 1);
  return out;
}

std::vector<int> leading(int n, int offset = 0) {
  std::vector<int> out(n);
  for (int i = 0; i < n; ++i) out[i] = offset + i;
  return out;
}

// One U-Net of the pair: its config and its concatenated axes.
struct Side {
  const UNetConfig& unet;
  std::map<std::string, ConcatenatedAxis> concatenated;
  explicit Side(const UNetConfig& u) : unet(u), concatenated(concatenated_axes(u)) {}
  const ConcatenatedAxis* concatenation(const std::string& name, int axis) const {
    auto it = concatenated.find(name);
    return it != concatenated.end() && it->second.axis == axis ? &it->second : nullptr;
  }
};

// The teacher's channel indices for each axis of the student's tensor `name` (the teacher's
// `tname`), of shapes `s` and `t`; no value: the student's is wider somewhere, or laid out
// otherwise.
std::optional<std::vector<std::vector<int>>> channel_maps(const std::string& name, const std::string& tname,
                                                          const mx::Shape& s, const mx::Shape& t,
                                                          const Side& student, const Side& teacher) {
  if (s.size() != t.size()) return std::nullopt;
  std::vector<std::vector<int>> maps;
  for (int axis = 0; axis < static_cast<int>(s.size()); ++axis) {
    const auto* sc = student.concatenation(name, axis);
    const auto* tc = teacher.concatenation(tname, axis);
    if (sc || tc) {
      // Each part's leading channels, at the part's offset in the teacher.
      if (!sc || !tc || tc->sizes.size() != sc->sizes.size()) return std::nullopt;
      std::vector<int> map;
      int offset = 0;
      for (std::size_t p = 0; p < sc->sizes.size(); ++p) {
        if (sc->sizes[p] > tc->sizes[p]) return std::nullopt;
        for (int i : leading(sc->sizes[p], offset)) map.push_back(i);
        offset += tc->sizes[p];
      }
      maps.push_back(std::move(map));
    } else if (s[axis] > t[axis]) {
      return std::nullopt;
    } else if (name == "time_embedding.linear_1.weight" && axis == 1) {
      maps.push_back(sinusoid_indices(student.unet, teacher.unet));
    } else {
      maps.push_back(leading(s[axis]));
    }
  }
  return maps;
}

bool identity(const std::vector<std::vector<int>>& maps, const mx::Shape& t) {
  for (std::size_t axis = 0; axis < maps.size(); ++axis) {
    if (static_cast<int>(maps[axis].size()) != t[axis]) return false;
    for (int i = 0; i < t[axis]; ++i) {
      if (maps[axis][i] != i) return false;
    }
  }
  return true;
}

}  // namespace

Inheritance inherit_params(const Params& student, const UNetConfig& student_unet, const Params& teacher,
                           const UNetConfig& teacher_unet, bool narrow) {
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
  const int dropped = !narrow ? 0 : static_cast<int>(teacher_unet.block_out_channels.size()) -
                      static_cast<int>(student_unet.block_out_channels.size());
  const Side s_side(student_unet), t_side(teacher_unet);
  Inheritance out;
  out.params = student;
  std::vector<mx::array> taken;
  for (auto& [name, a] : out.params) {
    ++out.total;
    out.total_parameters += a.size();
    const auto tname = teacher_name(name, dropped);
    auto t = teacher.find(tname);
    if (t == teacher.end()) continue;
    // Exact: the same name and shape. Narrowed: the teacher's channels this tensor kept, whole
    // when that is all of them in order.
    std::optional<std::vector<std::vector<int>>> maps;
    if (narrow) {
      maps = channel_maps(name, tname, a.shape(), t->second.shape(), s_side, t_side);
      if (!maps) continue;
    } else if (t->second.shape() != a.shape()) {
      continue;
    }
    const bool whole = !maps || identity(*maps, t->second.shape());
    auto v = t->second;
    if (!whole) {
      for (std::size_t axis = 0; axis < maps->size(); ++axis) {
        const auto& m = (*maps)[axis];
        v = mx::take(v, mx::array(m.data(), {static_cast<int>(m.size())}, mx::int32), static_cast<int>(axis));
      }
    }
    a = v.dtype() == a.dtype() ? v : mx::astype(v, a.dtype());
    taken.push_back(a);
    ++(whole ? out.copied : out.narrowed);
    out.copied_parameters += a.size();
  }
  // Casts, restrictions (and teacher arrays not yet computed) are evaluated now, so the student
  // holds data, not a graph over the teacher's arrays; arrays already computed are left as they
  // are.
  mx::eval(taken);
  return out;
}

}  // namespace anneal
