// What every distillation objective checks about its teacher, its student and its sigmas, so
// a bad call is refused when the objective is built, with a message that names the problem,
// never at the first compiled step.
#pragma once

#include <string>
#include <vector>

#include "engine/objective.h"

namespace anneal {

// The teacher is a diffusion model (eps, v, x0 or EDM) whose weights match its U-Net, and the
// student takes the same images and labels: equal sample size, channels and classes.
void check_teacher_and_student(const FrozenModel& teacher, const UNetConfig& student);

// Teacher and student read sigma through the same VP table when both use one (eps, v, x0
// and consistency models around them): equal schedule kind, timesteps and betas. An EDM
// teacher or student has no table and is not compared.
void check_same_schedule(const Preconditioning& teacher, const Preconditioning& student);

// `sigmas` (named `what` in errors) is finite and strictly decreasing; its positive entries
// lie in the teacher's sigma range (a VP teacher's timestep map clamps outside its table,
// so a sigma above its top would silently be treated as the top).
void check_sigmas_in_teacher_range(const std::vector<double>& sigmas, const FrozenModel& teacher, const char* what);

// Resume identity (Objective::identity): a hex FNV-1a digest of a teacher's parameterization,
// schedule and weights (names, shapes, dtypes and bytes), of a sigma list (its %.17g text),
// and a digest of any text.
std::string teacher_fingerprint(const FrozenModel& teacher);
std::string sigmas_digest(const std::vector<double>& sigmas);
std::string text_digest(const std::string& text);

// The %.17g text of a number, which reads back as the same double: how identities record
// options, so a resume compares exact values.
std::string exact_number(double v);

// A column [B, 1, 1, 1] of per-example sigmas, and a float32 array of a sigma list.
mx::array sigma_column(const mx::array& sigma);
mx::array sigma_table(const std::vector<double>& sigmas);

}  // namespace anneal
