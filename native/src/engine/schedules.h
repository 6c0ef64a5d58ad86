// Noise schedules as pure functions returning sigma sequences that end in 0. Coefficients
// are computed once, in double precision (improved-diffusion's habit).
#pragma once

#include <string>
#include <vector>

namespace anneal {

// A discrete variance-preserving schedule (DDPM): beta_t for t = 0..T-1.
struct VPSchedule {
  std::string kind = "linear";  // "linear" (Ho et al. 2020) or "cosine" (Nichol & Dhariwal 2021)
  int timesteps = 1000;
  double beta_start = 1e-4;
  double beta_end = 0.02;
  // Resolution-dependent shift (Hoogeboom et al. 2023, "simple diffusion", section 3.1):
  // every sigma scaled by `shift`, which shifts log-SNR = -2 log sigma by -2 log(shift).
  // With shift = resolution / base that is their 2 log(base / resolution): larger images keep
  // more signal at the same noise level, so they need more noise. 1: the schedule as designed.
  double shift = 1.0;
  // The resolution the schedule was designed for; 0: no resolution shift at any size.
  int shift_base = 0;
};

// `s` for images of height x width: shift = sqrt(height width) / shift_base (the side of a
// square of the same pixel count), or `s` unchanged when shift_base is 0.
VPSchedule at_resolution(VPSchedule s, int height, int width);

// sigma_t = shift sqrt((1 - alpha_bar_t) / alpha_bar_t): the VP schedule seen in sigma space.
class DiscreteSigmas {
 public:
  explicit DiscreteSigmas(const VPSchedule& s);
  const std::vector<double>& sigmas() const { return sigmas_; }
  double sigma_min() const { return sigmas_.front(); }
  double sigma_max() const { return sigmas_.back(); }
  // Fractional timestep for a sigma, by linear interpolation in log sigma (k-diffusion's
  // DiscreteSchedule.sigma_to_t); clamps outside the table.
  double sigma_to_t(double sigma) const;
  double t_to_sigma(double t) const;

 private:
  std::vector<double> sigmas_;
  std::vector<double> log_sigmas_;
};

// `steps` sigmas at timesteps evenly spaced from max_t (default T-1) down to 0, then 0.
std::vector<double> schedule_uniform_t(const DiscreteSigmas& d, int steps, long max_t = -1);
// Karras et al. 2022, eq. 5: (smax^(1/rho) + i/(n-1) (smin^(1/rho) - smax^(1/rho)))^rho, then 0.
std::vector<double> schedule_karras(int steps, double sigma_min, double sigma_max, double rho = 7.0);
// Evenly spaced in log sigma, then 0.
std::vector<double> schedule_exponential(int steps, double sigma_min, double sigma_max);
// An explicit (e.g. learned) list: strictly decreasing, positive; a final 0 is appended if absent.
std::vector<double> schedule_explicit(std::vector<double> sigmas);

}  // namespace anneal
