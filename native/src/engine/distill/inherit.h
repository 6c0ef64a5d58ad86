// Weight inheritance: how BK-SDM (Kim et al. 2023) initializes a student pruned from its
// teacher (blocks or layers removed, channels kept): every tensor the two U-Nets share, by
// name and shape, starts as the teacher's; the rest keep their own initialization. With the
// engine's diffusers names, a student with fewer layers per block shares the kept layers'
// tensors.
//
// Narrowing extends this to fewer levels and fewer channels. A student with fewer levels (the
// deepest dropped) takes each up block from the teacher's up block at the same level, whose
// index is larger by the levels dropped (by name alone it would be a deeper level's). A
// student with fewer channels is initialized as width pruning does before distillation
// (Minitron, Sreenivas et al. 2024, keeps a subset of each layer's channels): a
// tensor no wider than the teacher's along every axis starts as the teacher's restricted to the
// leading channels of each axis. Leading channels on every axis keep one set of channels per
// feature map, so each layer reads the channels its producer kept: the time embedding's width,
// whole attention heads (heads are runs of attention_head_dim channels), and, along an up
// block's concatenated [input, skip] axis, the leading channels of each part. The time
// embedding's first layer reads sinusoids; a narrower one keeps the teacher's frequencies
// nearest its own (every second one at half the width, exactly).
#pragma once

#include <cstddef>

#include "engine/unet.h"

namespace anneal {

struct Inheritance {
  Params params;  // the student's, with the inherited tensors the teacher's
  std::size_t copied = 0, narrowed = 0, total = 0;          // tensors: whole, restricted, all
  std::size_t copied_parameters = 0, total_parameters = 0;  // scalars from the teacher, all
};

// The student's parameters with each tensor the teacher also has taken from the teacher: by
// name and shape whole; with `narrow` also up blocks by level, and narrower tensors restricted (cast to the student's dtype; a whole tensor is
// the same immutable array, which outlives the teacher's Params). Throws std::invalid_argument
// naming the field when the U-Nets differ in in/out channels or classes.
Inheritance inherit_params(const Params& student, const UNetConfig& student_unet, const Params& teacher,
                           const UNetConfig& teacher_unet, bool narrow = false);

}  // namespace anneal
