// Weight inheritance: how BK-SDM (Kim et al. 2023) initializes a student pruned from its
// teacher (blocks or layers removed, channels kept): every tensor the two U-Nets share, by
// name and shape, starts as the teacher's; the rest keep their own initialization. With the
// engine's diffusers names, a student with fewer layers per block or fewer levels shares the
// kept layers' tensors whose shapes did not change; a narrower one only what kept its width.
#pragma once

#include <cstddef>

#include "engine/unet.h"

namespace anneal {

struct Inheritance {
  Params params;  // the student's, with the shared tensors the teacher's
  std::size_t copied = 0, total = 0;                        // tensors
  std::size_t copied_parameters = 0, total_parameters = 0;  // scalar parameters
};

// The student's parameters with each tensor whose name and shape the teacher also has taken
// from the teacher (cast to the student's dtype; otherwise the same immutable array, which
// outlives the teacher's Params). Throws std::invalid_argument naming the field when the
// U-Nets differ in in/out channels or classes.
Inheritance inherit_params(const Params& student, const UNetConfig& student_unet, const Params& teacher,
                           const UNetConfig& teacher_unet);

}  // namespace anneal
