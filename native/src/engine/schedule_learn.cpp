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

// GITS-style DP (see the top of the file), its costs: a one-step DDIM jump from each reference
// grid point i to each later one j, against the reference at j; N x (N + 1), row-major.
std::vector<double> dp_costs(const Trajectory& t, const std::vector<double>& grid) {
  const int n = static_cast<int>(grid.size()) - 1;  // grid[n] = 0
  std::vector<double> cost(static_cast<size_t>(n) * (n + 1), std::numeric_limits<double>::infinity());
  for (int i = 0; i < n; ++i) {
    std::vector<mx::array> errs;
    for (int j = i + 1; j <= n; ++j) {
      const auto& target = j == n ? t.end : t.x[j];
      auto pred = ddim_step(t.x[i], t.denoised[i], f32(grid[i]), f32(grid[j]));
      errs.push_back(mx::mean(mx::square(mx::subtract(pred, target))));
    }
    auto all = mx::stack(errs, 0);
    mx::eval(all);
    for (int j = i + 1; j <= n; ++j) cost[i * (n + 1) + j] = static_cast<double>(all.data<float>()[j - i - 1]);
  }
  return cost;
}

// The K-jump path from grid point 0 to the end (index N, sigma = 0) minimizing the summed
// jump costs.
std::vector<double> dp_schedule(const std::vector<double>& flat, const std::vector<double>& grid, int steps) {
  const int n = static_cast<int>(grid.size()) - 1;  // grid[n] = 0
  const double inf = std::numeric_limits<double>::infinity();
  auto cost = [&](int i, int j) { return flat[static_cast<size_t>(i) * (n + 1) + j]; };
  // best[k][j]: the least cost of reaching j from 0 in k jumps.
  std::vector<std::vector<double>> best(steps + 1, std::vector<double>(n + 1, inf));
  std::vector<std::vector<int>> from(steps + 1, std::vector<int>(n + 1, -1));
  best[0][0] = 0;
  for (int k = 1; k <= steps; ++k) {
    for (int j = 1; j <= n; ++j) {
      for (int i = 0; i < j; ++i) {
        if (best[k - 1][i] == inf || cost(i, j) == inf) continue;
        const double c = best[k - 1][i] + cost(i, j);
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

std::vector<float> to_floats(const mx::array& a) {
  auto c = mx::astype(a, mx::float32);
  mx::eval(c);
  return std::vector<float>(c.data<float>(), c.data<float>() + c.size());
}

// A record's endpoint back as an array of the noise's shape, after checking its size.
mx::array from_floats(const std::vector<float>& v, const mx::array& like, const char* what) {
  if (v.size() != like.size()) {
    throw std::invalid_argument(std::string("the reference record's ") + what + " holds " + std::to_string(v.size()) +
                                " values; this batch has " + std::to_string(like.size()));
  }
  return mx::array(v.data(), like.shape(), mx::float32);
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
    if (progress) progress({phase, done, total, err, nullptr, nullptr});
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
  // The reference: run (its record reported, for later learns) or taken from a record.
  std::shared_ptr<const LearnReference> ref = spec.known_reference;
  const int grid_n = spec.reference_steps;
  if (ref) {
    if (ref->grid != grid) {
      auto describe = [](const std::vector<double>& g) {
        return g.size() < 2 ? std::string("no grid")
                            : std::to_string(g.size() - 1) + " steps from sigma " + std::to_string(g.front()) +
                                  " to " + std::to_string(g[g.size() - 2]);
      };
      throw std::invalid_argument("the reference record was made on another grid (" + describe(ref->grid) +
                                  "); this learn's reference takes " + describe(grid));
    }
    if (ref->cost.size() != static_cast<size_t>(grid_n) * (grid_n + 1)) {
      throw std::invalid_argument("the reference record holds " + std::to_string(ref->cost.size()) +
                                  " jump costs; a " + std::to_string(grid_n) + "-step reference has " +
                                  std::to_string(grid_n * (grid_n + 1)));
    }
    result.reference_reused = true;
  } else {
    auto train_ref = reference_trajectory(
        denoise, train_noise, spec.reference, grid, true, [&](int i, int n) { report("reference", i, 2 * n, 0); },
        cancelled);
    if (train_ref.cancelled) return cancelled_early();
    auto heldout_ref = reference_trajectory(
        denoise, heldout_noise, spec.reference, grid, false,
        [&](int i, int n) { report("reference", n + i, 2 * n, 0); }, cancelled);
    if (heldout_ref.cancelled) return cancelled_early();
    report("grid", 0, 1, 0);
    auto made = std::make_shared<LearnReference>();
    made->grid = grid;
    made->cost = dp_costs(train_ref, grid);
    made->train_end = to_floats(train_ref.end);
    made->heldout_end = to_floats(heldout_ref.end);
    ref = made;
    if (progress) progress({"reference", 2 * grid_n, 2 * grid_n, 0, ref, nullptr});
  }
  // From the record in both cases, so a learn that reuses it computes exactly what one that
  // ran the references does.
  const auto train_end = from_floats(ref->train_end, train_noise, "calibration endpoint");
  const auto heldout_end = from_floats(ref->heldout_end, heldout_noise, "held-out endpoint");

  auto train_error = [&](const std::vector<double>& s) {
    ++result.evaluations;
    return mse(run_sampler(denoise, train_noise, spec.sampler, s), train_end);
  };

  // Coordinate descent on log sigma_k, k = 1..steps-1; sigma_0 (start) and sigma_steps (0) stay.
  const double lo = std::log(spec.sigma_min);
  const double gap = 1e-3;  // least log-sigma spacing kept between neighbours
  const int interior = steps - 1;
  const int total = spec.sweeps * interior * 2;
  int done = 0;
  double move = spec.initial_move;
  int first_sweep = 0, first_k = 1;
  std::vector<double> best;
  double best_error = 0;
  if (spec.resume) {
    const auto& c = *spec.resume;
    const auto n_sigmas = static_cast<size_t>(steps) + 1;
    if (c.best.size() != n_sigmas || c.dp_sigmas.size() != n_sigmas || c.best.front() != start) {
      throw std::invalid_argument("the checkpoint holds a schedule of " + std::to_string(c.best.size()) +
                                  " sigmas from " + std::to_string(c.best.empty() ? 0.0 : c.best.front()) +
                                  "; this learn's have " + std::to_string(n_sigmas) + " from " +
                                  std::to_string(start));
    }
    if (c.sweep < 0 || c.sweep > spec.sweeps || c.k < 1 || c.k > std::max(1, interior)) {
      throw std::invalid_argument("the checkpoint stands at sweep " + std::to_string(c.sweep) + ", coordinate " +
                                  std::to_string(c.k) + ", outside " + std::to_string(spec.sweeps) + " sweeps of " +
                                  std::to_string(interior) + " coordinates");
    }
    result.dp_sigmas = c.dp_sigmas;
    result.baseline_train = c.baseline_train;
    result.dp_train = c.dp_train;
    result.evaluations = c.evaluations;
    best = c.best;
    best_error = c.best_error;
    first_sweep = c.sweep;
    first_k = c.k;
    move = c.move;
    done = c.done;
    result.resumed = true;
  } else {
    if (result.reference_reused) report("grid", 0, 1, 0);
    result.dp_sigmas = dp_schedule(ref->cost, grid, steps);
    report("grid", 1, 1, 0);
    result.baseline_train = train_error(initial);
    result.dp_train = train_error(result.dp_sigmas);
    best = result.dp_train < result.baseline_train ? result.dp_sigmas : initial;
    best_error = std::min(result.dp_train, result.baseline_train);
  }

  for (int sweep = first_sweep; sweep < spec.sweeps && interior > 0 && !result.cancelled; ++sweep) {
    for (int k = sweep == first_sweep ? first_k : 1; k <= interior && !result.cancelled; ++k) {
      if (progress) {
        auto c = std::make_shared<LearnCheckpoint>();
        c->dp_sigmas = result.dp_sigmas;
        c->best = best;
        c->baseline_train = result.baseline_train;
        c->dp_train = result.dp_train;
        c->best_error = best_error;
        c->sweep = sweep;
        c->k = k;
        c->move = move;
        c->done = done;
        c->evaluations = result.evaluations;
        progress({"refine", done, total, best_error, nullptr, c});
      }
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
  result.baseline_heldout = mse(run_sampler(denoise, heldout_noise, spec.sampler, initial), heldout_end);
  result.learned_heldout = mse(run_sampler(denoise, heldout_noise, spec.sampler, best), heldout_end);
  for (const auto& c : spec.compare) {
    const auto sigmas = schedule_explicit(c);
    result.compare.emplace_back(mse(run_sampler(denoise, train_noise, spec.sampler, sigmas), train_end),
                                mse(run_sampler(denoise, heldout_noise, spec.sampler, sigmas), heldout_end));
  }
  result.nfe = sampler_nfe(spec.sampler, steps);
  report("score", 2, 2, best_error);
  return result;
}

}  // namespace anneal
