// The method, and why:
// 1. Reference. A single-step solver (Heun by default) runs the probability-flow ODE from the
//    calibration noise on a fine Karras grid and keeps x_i and D(x_i; sigma_i) at every grid
//    point: the trajectory the learned schedule should land on.
// 2. Initialization by dynamic programming over that grid (GITS, Chen et al. 2024, "A Geometric
//    Perspective on Diffusion Models" / "On the Trajectory Regularity of ODE-based Diffusion
//    Sampling"): with D cached on the grid, the cost of a one-step (DDIM) jump i -> j from the
//    reference point x_i, measured against x_j, is free to compute, so the K-jump path of least
//    summed cost is an O(K N^2) DP. It needs no extra network evaluations and lands near a good
//    schedule for single-step solvers.
// 3. Refinement on the true objective: coordinate descent over the interior log-sigmas, each
//    trial a full run of the actual sampler on the calibration batch scored against the
//    reference endpoint. The DP's local costs ignore how errors propagate and what a multistep
//    (DPM-Solver++(2M)) or two-stage (Heun) sampler does with a schedule; an end-to-end,
//    derivative-free search handles any deterministic sampler, costs K NFE per trial and needs
//    no gradients through the network (K - 1 free parameters, a few sweeps suffice).
//    Coordinate moves are accepted only when they lower the training error, and the search starts
//    from the better of the DP schedule and the baseline, so the learned training error never
//    exceeds the baseline's.
#include "engine/schedule_learn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "engine/schedules.h"

namespace anneal {

namespace {

mx::array f32(double v) { return mx::array(static_cast<float>(v)); }

double mse(const mx::array& a, const mx::array& b) {
  auto e = mx::mean(mx::square(mx::subtract(a, b)));
  mx::eval(e);
  return static_cast<double>(e.item<float>());
}

const char* sampler_name(SamplerKind k) {
  switch (k) {
    case SamplerKind::Ddpm: return "ddpm";
    case SamplerKind::Ddim: return "ddim";
    case SamplerKind::Euler: return "euler";
    case SamplerKind::Heun: return "heun";
    case SamplerKind::DpmPp2m: return "dpmpp-2m";
    case SamplerKind::Consistency: return "consistency";
    case SamplerKind::Adaptive: return "adaptive";
    case SamplerKind::DpmSolver2: return "dpm-solver-2";
  }
  return "?";
}

struct Trajectory {
  std::vector<mx::array> x, denoised;  // at grid points 0..N-1
  mx::array end = mx::array(0.0f);     // x at sigma = 0
  bool cancelled = false;              // stopped before reaching sigma = 0; `end` is unset
};

// The reference run, keeping each grid point's x and D(x). Heun and Euler/DDIM only: their
// state at a grid point is x alone, which the DP's jumps start from.
Trajectory reference_trajectory(const DenoiseFn& denoise, const mx::array& noise, SamplerKind kind,
                                const std::vector<double>& sigmas, bool keep,
                                const std::function<void(int, int)>& on_step,
                                const LearnCancelFn& cancelled = {}) {
  Trajectory t;
  const int n = static_cast<int>(sigmas.size()) - 1;
  auto x = mx::multiply(noise, f32(sigmas.front()));
  for (int i = 0; i < n; ++i) {
    if (cancelled && cancelled()) {
      t.cancelled = true;
      return t;
    }
    const double s = sigmas[i], s_next = sigmas[i + 1];
    // Evaluated with x below (one eval per step): den is in x's graph, and a kept den is
    // materialized by that same evaluation.
    auto den = denoise.fn(x, static_cast<float>(s));
    if (keep) {
      t.x.push_back(x);
      t.denoised.push_back(den);
    }
    if (kind == SamplerKind::Heun && s_next > 0) {
      x = heun_step(x, den, f32(s), f32(s_next),
                    [&](const mx::array& xe) { return denoise.fn(xe, static_cast<float>(s_next)); });
    } else {
      x = ddim_step(x, den, f32(s), f32(s_next));
    }
    if (keep) {
      mx::eval({x, den});
    } else {
      mx::eval(x);
    }
    if (on_step) on_step(i + 1, n);
  }
  t.end = x;
  return t;
}

mx::array run_sampler(const DenoiseFn& denoise, const mx::array& noise, SamplerKind kind,
                      const std::vector<double>& sigmas) {
  SamplerOptions opts;
  return sample(kind, denoise, mx::multiply(noise, f32(sigmas.front())), sigmas, opts).x;
}

// GITS-style DP (see the top of the file): the K-jump path from grid point 0 to the end (index
// N, sigma = 0) minimizing the summed one-step DDIM jump errors against the reference.
std::vector<double> dp_schedule(const Trajectory& t, const std::vector<double>& grid, int steps) {
  const int n = static_cast<int>(grid.size()) - 1;  // grid[n] = 0
  const double inf = std::numeric_limits<double>::infinity();
  // cost[i][j], i < j <= n
  std::vector<std::vector<double>> cost(n, std::vector<double>(n + 1, inf));
  for (int i = 0; i < n; ++i) {
    std::vector<mx::array> errs;
    for (int j = i + 1; j <= n; ++j) {
      const auto& target = j == n ? t.end : t.x[j];
      auto pred = ddim_step(t.x[i], t.denoised[i], f32(grid[i]), f32(grid[j]));
      errs.push_back(mx::mean(mx::square(mx::subtract(pred, target))));
    }
    auto all = mx::stack(errs, 0);
    mx::eval(all);
    for (int j = i + 1; j <= n; ++j) cost[i][j] = static_cast<double>(all.data<float>()[j - i - 1]);
  }
  // best[k][j]: the least cost of reaching j from 0 in k jumps.
  std::vector<std::vector<double>> best(steps + 1, std::vector<double>(n + 1, inf));
  std::vector<std::vector<int>> from(steps + 1, std::vector<int>(n + 1, -1));
  best[0][0] = 0;
  for (int k = 1; k <= steps; ++k) {
    for (int j = 1; j <= n; ++j) {
      for (int i = 0; i < j; ++i) {
        if (best[k - 1][i] == inf || cost[i][j] == inf) continue;
        const double c = best[k - 1][i] + cost[i][j];
        if (c < best[k][j]) {
          best[k][j] = c;
          from[k][j] = i;
        }
      }
    }
  }
  std::vector<double> out(steps + 1, 0.0);
  int j = n;
  for (int k = steps; k >= 1; --k) {
    out[k] = grid[j];
    j = from[k][j];
    // learn_schedule refuses steps > reference steps, so a K-jump path always exists.
    if (j < 0) throw std::logic_error("schedule DP: no path of " + std::to_string(steps) + " jumps on the grid");
  }
  out[0] = grid[0];
  return out;
}

}  // namespace

bool sampler_is_deterministic(SamplerKind kind) {
  return kind == SamplerKind::Ddim || kind == SamplerKind::Euler || kind == SamplerKind::Heun ||
         kind == SamplerKind::DpmPp2m;
}

int steps_for_nfe(SamplerKind kind, int nfe) {
  if (nfe < 1) throw std::invalid_argument("nfe must be >= 1, got " + std::to_string(nfe));
  if (kind == SamplerKind::Heun) {
    if (nfe % 2 == 0) {
      throw std::invalid_argument("heun spends 2 * steps - 1 evaluations, so its nfe is odd; got nfe " +
                                  std::to_string(nfe) + " (use " + std::to_string(nfe - 1) + " or " +
                                  std::to_string(nfe + 1) + ")");
    }
    return (nfe + 1) / 2;
  }
  return nfe;
}

double schedule_error(const DenoiseFn& denoise, const mx::array& noise, SamplerKind sampler,
                      const std::vector<double>& sigmas, SamplerKind reference,
                      const std::vector<double>& reference_sigmas) {
  auto ref = reference_trajectory(denoise, noise, reference, reference_sigmas, false, {});
  return mse(run_sampler(denoise, noise, sampler, sigmas), ref.end);
}

LearnScheduleResult learn_schedule(const DenoiseFn& denoise, const mx::array& train_noise,
                                   const mx::array& heldout_noise, const LearnScheduleSpec& spec,
                                   const LearnProgressFn& progress, const LearnCancelFn& cancelled) {
  if (!sampler_is_deterministic(spec.sampler)) {
    // ddpm draws noise each step; the adaptive sampler picks its own sigmas; dpm-solver-2's
    // midpoints are not grid points the DP can score (and consistency is a student's sampler).
    const char* why = spec.sampler == SamplerKind::Ddpm         ? " is stochastic"
                      : spec.sampler == SamplerKind::Adaptive   ? " picks its own sigmas"
                                                                : " is not one of them";
    throw std::invalid_argument(std::string("schedule learning needs a deterministic sampler (ddim, euler, heun, "
                                            "dpmpp-2m); ") +
                                sampler_name(spec.sampler) + why);
  }
  if (spec.reference != SamplerKind::Heun && spec.reference != SamplerKind::Euler &&
      spec.reference != SamplerKind::Ddim) {
    throw std::invalid_argument(std::string("the reference sampler must be heun, euler or ddim (a single-step "
                                            "solver whose grid points the DP can start from); got ") +
                                sampler_name(spec.reference));
  }
  if (spec.reference_steps < 2) throw std::invalid_argument("reference steps must be >= 2");
  if (spec.sweeps < 0) throw std::invalid_argument("sweeps must be >= 0");
  const auto initial = schedule_explicit(spec.initial);
  const int steps = static_cast<int>(initial.size()) - 1;
  const double start = initial.front();
  if (!(spec.sigma_min > 0 && spec.sigma_min < start)) {
    throw std::invalid_argument("sigma_min must lie in (0, start sigma)");
  }
  auto report = [&](const char* phase, int done, int total, double err) {
    if (progress) progress({phase, done, total, err});
  };
  if (steps > spec.reference_steps) {
    // The DP picks `steps` jumps among the reference grid's points; fewer points than jumps
    // leave no path (and a schedule finer than its reference has nothing to learn from).
    throw std::invalid_argument("the sampler takes " + std::to_string(steps) + " steps (nfe " +
                                std::to_string(sampler_nfe(spec.sampler, steps)) + ") but the reference has only " +
                                std::to_string(spec.reference_steps) +
                                " steps: reference steps must be >= the sampler's steps");
  }
  const auto grid = schedule_karras(spec.reference_steps, spec.sigma_min, start);

  LearnScheduleResult result;
  // Cancelled during a reference run: nothing has been learned, so the result is the baseline,
  // unscored (errors 0), with `cancelled` set.
  auto cancelled_early = [&]() {
    result.cancelled = true;
    result.sigmas = initial;
    result.dp_sigmas = initial;
    result.nfe = sampler_nfe(spec.sampler, steps);
    return result;
  };
  auto train_ref = reference_trajectory(
      denoise, train_noise, spec.reference, grid, true, [&](int i, int n) { report("reference", i, 2 * n, 0); },
      cancelled);
  if (train_ref.cancelled) return cancelled_early();
  auto heldout_ref = reference_trajectory(
      denoise, heldout_noise, spec.reference, grid, false,
      [&](int i, int n) { report("reference", n + i, 2 * n, 0); }, cancelled);
  if (heldout_ref.cancelled) return cancelled_early();

  auto train_error = [&](const std::vector<double>& s) {
    ++result.evaluations;
    return mse(run_sampler(denoise, train_noise, spec.sampler, s), train_ref.end);
  };

  report("grid", 0, 1, 0);
  result.dp_sigmas = dp_schedule(train_ref, grid, steps);
  train_ref.x.clear();  // the DP was their only use
  train_ref.denoised.clear();
  report("grid", 1, 1, 0);

  result.baseline_train = train_error(initial);
  const double dp_error = train_error(result.dp_sigmas);
  result.dp_train = dp_error;
  std::vector<double> best = dp_error < result.baseline_train ? result.dp_sigmas : initial;
  double best_error = std::min(dp_error, result.baseline_train);

  // Coordinate descent on log sigma_k, k = 1..steps-1; sigma_0 (start) and sigma_steps (0) stay.
  const double lo = std::log(spec.sigma_min);
  const double gap = 1e-3;  // least log-sigma spacing kept between neighbours
  const int interior = steps - 1;
  const int total = spec.sweeps * interior * 2;
  int done = 0;
  double move = spec.initial_move;
  for (int sweep = 0; sweep < spec.sweeps && interior > 0 && !result.cancelled; ++sweep) {
    for (int k = 1; k <= interior && !result.cancelled; ++k) {
      const double upper = std::log(best[k - 1]) - gap;
      const double lower = k + 1 < steps ? std::log(best[k + 1]) + gap : lo;
      for (const double dir : {-1.0, 1.0}) {
        if (cancelled && cancelled()) {
          result.cancelled = true;
          break;
        }
        ++done;
        const double trial = std::clamp(std::log(best[k]) + dir * move, lower, upper);
        if (!(lower <= upper) || std::abs(trial - std::log(best[k])) < 1e-9) continue;
        auto candidate = best;
        candidate[k] = std::exp(trial);
        const double e = train_error(candidate);
        if (e < best_error) {
          best_error = e;
          best = candidate;
          break;  // keep the direction that worked; the other would undo it
        }
        report("refine", done, total, best_error);
      }
      report("refine", done, total, best_error);
    }
    move *= 0.5;
  }
  // An accepted move skips the other direction's trial, so `done` can stop short of `total`.
  if (!result.cancelled && total > 0) report("refine", total, total, best_error);

  report("score", 0, 2, best_error);
  result.sigmas = best;
  result.learned_train = best_error;
  result.baseline_heldout = mse(run_sampler(denoise, heldout_noise, spec.sampler, initial), heldout_ref.end);
  result.learned_heldout = mse(run_sampler(denoise, heldout_noise, spec.sampler, best), heldout_ref.end);
  for (const auto& c : spec.compare) {
    const auto sigmas = schedule_explicit(c);
    result.compare.emplace_back(mse(run_sampler(denoise, train_noise, spec.sampler, sigmas), train_ref.end),
                                mse(run_sampler(denoise, heldout_noise, spec.sampler, sigmas), heldout_ref.end));
  }
  result.nfe = sampler_nfe(spec.sampler, steps);
  report("score", 2, 2, best_error);
  return result;
}

}  // namespace anneal
