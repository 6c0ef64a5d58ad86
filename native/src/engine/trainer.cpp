#include "engine/trainer.h"

#include "engine/checkpoint.h"
#include "engine/errors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

namespace anneal {

namespace {
std::vector<mx::array> slice(const std::vector<mx::array>& v, std::size_t from, std::size_t n) {
  return {v.begin() + static_cast<long>(from), v.begin() + static_cast<long>(from + n)};
}
void append(std::vector<mx::array>& out, const std::vector<mx::array>& more) {
  out.insert(out.end(), more.begin(), more.end());
}
Params zeros_like(const Params& p) {
  Params z;
  for (const auto& [k, v] : p) z.insert_or_assign(k, mx::zeros_like(v));
  return z;
}
}  // namespace

Trainer::Trainer(UNetConfig unet, std::shared_ptr<Objective> objective, TrainerConfig config, ImageDataset data,
                 Params init)
    : unet_(std::move(unet)),
      objective_(std::move(objective)),
      config_(config),
      data_(std::move(data)),
      // Refuses a dataset smaller than one batch.
      sampler_(data_.size(), config_.batch_size, config_.seed) {
  check_unet_params(init, unet_);
  state_.params = init;
  state_.m = zeros_like(init);
  state_.v = zeros_like(init);
  state_.ema = init;
  mx::eval(flatten(state_.m));
  mx::eval(flatten(state_.v));
  snapshot_ = state_;

  // The step: a pure function of every array it touches. Layout of inputs:
  // [params | m | v | ema | frozen | x0, labels, key, lr, t, ema_decay].
  const std::size_t P = init.size();
  const Params names = init;
  auto objective_ptr = objective_;
  const AdamWConfig adamw = config_.adamw;
  const double clip = config_.grad_clip;
  auto fn = [P, names, objective_ptr, adamw, clip](const std::vector<mx::array>& in) {
    const std::size_t F = in.size() - 4 * P - 6;
    auto frozen = slice(in, 4 * P, F);
    const std::size_t b = 4 * P + F;
    TrainBatch batch{in[b], in[b + 1], in[b + 4]};
    const auto& key = in[b + 2];
    const auto& lr = in[b + 3];
    const auto& t = in[b + 4];
    const auto& decay = in[b + 5];
    auto loss_fn = [&](const std::vector<mx::array>& params) {
      return objective_ptr->loss(unflatten(names, params), frozen, batch, key);
    };
    auto old_params = slice(in, 0, P);
    auto [loss, grads] = mx::value_and_grad(loss_fn, all_argnums(P))(old_params);
    auto norm = clip_by_global_norm(grads, clip);
    auto params = old_params;
    auto m = slice(in, P, P), v = slice(in, 2 * P, P), ema = slice(in, 3 * P, P);
    auto old_m = m, old_v = v, old_ema = ema;
    adamw_update(adamw, params, m, v, grads, lr, t);
    ema_update(ema, params, decay);
    // A diverged step changes nothing; the host sees `finite` and rolls back further.
    auto finite = mx::logical_and(mx::isfinite(loss), mx::isfinite(norm));
    std::vector<mx::array> out{loss, norm, finite};
    auto keep = [&](std::vector<mx::array>& next, const std::vector<mx::array>& old) {
      for (std::size_t i = 0; i < next.size(); ++i) out.push_back(mx::where(finite, next[i], old[i]));
    };
    keep(params, old_params);
    keep(m, old_m);
    keep(v, old_v);
    keep(ema, old_ema);
    return out;
  };
  using StepFn = std::function<std::vector<mx::array>(const std::vector<mx::array>&)>;
  step_fn_ = config_.compile ? mx::compile(fn) : StepFn(fn);
  set_accumulation_steps(config_.accumulation_steps);
}

void Trainer::set_accumulation_steps(int k) {
  if (k < 1 || config_.batch_size % k != 0) {
    throw std::invalid_argument("accumulation steps must be a divisor of the batch " +
                                std::to_string(config_.batch_size) + ", got " + std::to_string(k));
  }
  config_.accumulation_steps = k;
  // Built once, for every k: k enters as an input (the update's 1/k) or as a shape (the
  // micro-batch's rows), so a change of k between steps rebuilds nothing.
  if (k > 1 && !grad_fn_) build_accumulation();
}

void Trainer::build_accumulation() {
  using StepFn = std::function<std::vector<mx::array>(const std::vector<mx::array>&)>;
  const std::size_t P = state_.params.size();
  const Params names = state_.params;
  auto objective_ptr = objective_;
  const AdamWConfig adamw = config_.adamw;
  const double clip = config_.grad_clip;

  // Accumulation. One micro-batch: [params | gsum | frozen | x0, labels, key, t, rows,
  // loss_sum] -> [loss_sum + loss, gsum + grads]. Every micro-batch of a step shares the
  // step's key; `rows` places it in the effective batch (BatchRows), so its random draws are
  // the ones a whole batch would make for those rows.
  const int effective = config_.batch_size;
  auto grad = [P, names, objective_ptr, effective](const std::vector<mx::array>& in) {
    const std::size_t F = in.size() - 2 * P - 6;
    auto frozen = slice(in, 2 * P, F);
    const std::size_t b = 2 * P + F;
    TrainBatch batch{in[b], in[b + 1], in[b + 3], BatchRows{in[b + 4], effective}};
    const auto& key = in[b + 2];
    auto loss_fn = [&](const std::vector<mx::array>& params) {
      return objective_ptr->loss(unflatten(names, params), frozen, batch, key);
    };
    auto [loss, grads] = mx::value_and_grad(loss_fn, all_argnums(P))(slice(in, 0, P));
    std::vector<mx::array> out{mx::add(in[b + 5], loss)};
    for (std::size_t i = 0; i < P; ++i) out.push_back(mx::add(in[P + i], grads[i]));
    return out;
  };
  // The update: [params | m | v | ema | gsum | loss_sum, lr, t, ema_decay, 1/k] -> the
  // outputs of the whole-batch step. Each micro-batch's loss is a mean over its b examples,
  // so the mean of the k micro-batch gradients is the gradient of the effective batch's mean.
  auto apply = [P, adamw, clip](const std::vector<mx::array>& in) {
    const std::size_t b = 5 * P;
    const auto& inv_k = in[b + 4];
    auto old_params = slice(in, 0, P);
    auto grads = slice(in, 4 * P, P);
    for (auto& g : grads) g = mx::multiply(g, inv_k);
    auto loss = mx::multiply(in[b], inv_k);
    auto norm = clip_by_global_norm(grads, clip);
    auto params = old_params;
    auto m = slice(in, P, P), v = slice(in, 2 * P, P), ema = slice(in, 3 * P, P);
    auto old_m = m, old_v = v, old_ema = ema;
    adamw_update(adamw, params, m, v, grads, in[b + 1], in[b + 2]);
    ema_update(ema, params, in[b + 3]);
    auto finite = mx::logical_and(mx::isfinite(loss), mx::isfinite(norm));
    std::vector<mx::array> out{loss, norm, finite};
    auto keep = [&](std::vector<mx::array>& next, const std::vector<mx::array>& old) {
      for (std::size_t i = 0; i < next.size(); ++i) out.push_back(mx::where(finite, next[i], old[i]));
    };
    keep(params, old_params);
    keep(m, old_m);
    keep(v, old_v);
    keep(ema, old_ema);
    return out;
  };
  grad_fn_ = config_.compile ? mx::compile(grad) : StepFn(grad);
  apply_fn_ = config_.compile ? mx::compile(apply) : StepFn(apply);
}

std::vector<mx::array> Trainer::accumulated_step(const std::vector<std::int32_t>& idx, double lr) {
  const int k = config_.accumulation_steps;
  const int micro = config_.batch_size / k;
  const auto params = flatten(state_.params);
  const auto frozen = objective_->frozen();
  const auto key = step_key(state_.step);
  const auto t = mx::array(static_cast<float>(state_.step + 1));
  std::vector<mx::array> sums{mx::array(0.0f)};
  for (const auto& p : params) sums.push_back(mx::zeros_like(p));
  for (int j = 0; j < k; ++j) {
    const std::vector<std::int32_t> part(idx.begin() + j * micro, idx.begin() + (j + 1) * micro);
    {
      auto [x0, labels] = gather_batch(data_, part);
      std::vector<mx::array> in = params;
      append(in, slice(sums, 1, params.size()));
      append(in, frozen);
      in.push_back(x0);
      in.push_back(labels);
      in.push_back(key);
      in.push_back(t);
      in.push_back(mx::arange(j * micro, (j + 1) * micro, mx::int32));
      in.push_back(sums[0]);
      sums = grad_fn_(in);
      // `in` goes out of scope here: the graph holds the last references to the previous
      // sums, so MLX may add into their buffers instead of allocating a third copy.
    }
    // One evaluation per micro-batch: its activations are freed before the next is built.
    mx::eval(sums);
  }
  std::vector<mx::array> in;
  append(in, params);
  append(in, flatten(state_.m));
  append(in, flatten(state_.v));
  append(in, flatten(state_.ema));
  append(in, slice(sums, 1, params.size()));
  in.push_back(sums[0]);
  in.push_back(mx::array(static_cast<float>(lr)));
  in.push_back(t);
  const double step = static_cast<double>(state_.step);
  in.push_back(mx::array(static_cast<float>(std::min(config_.ema_decay, (1.0 + step) / (10.0 + step)))));
  in.push_back(mx::array(1.0f / static_cast<float>(k)));
  return apply_fn_(in);
}

mx::array Trainer::step_key(long step) const {
  // A key per (seed, step): resuming at step k draws exactly the noise an uninterrupted run
  // would have drawn.
  std::uint64_t h = config_.seed * 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(step) + 0x632BE59BD9B4E019ull);
  h ^= h >> 31;
  return mx::random::key(h);
}

Params Trainer::ema_params() const { return state_.ema; }

std::vector<mx::array> Trainer::whole_step(const std::vector<std::int32_t>& idx, double lr) {
  auto [x0, labels] = gather_batch(data_, idx);
  std::vector<mx::array> in;
  append(in, flatten(state_.params));
  append(in, flatten(state_.m));
  append(in, flatten(state_.v));
  append(in, flatten(state_.ema));
  append(in, objective_->frozen());
  in.push_back(x0);
  in.push_back(labels);
  in.push_back(step_key(state_.step));
  in.push_back(mx::array(static_cast<float>(lr)));
  in.push_back(mx::array(static_cast<float>(state_.step + 1)));
  // EMA warmup (as in TensorFlow's ExponentialMovingAverage with num_updates): early on the
  // average follows the weights closely, so a short run's EMA is not mostly initialization.
  const double t = static_cast<double>(state_.step);
  in.push_back(mx::array(static_cast<float>(std::min(config_.ema_decay, (1.0 + t) / (10.0 + t)))));
  return step_fn_(in);
}

StepReport Trainer::step() {
  sampler_.seek(state_.cursor);
  // The effective batch's indices: accumulation splits them, so the data order is the one a
  // run without accumulation at the same batch would see.
  auto idx = sampler_.next();
  const double lr = (config_.lr_schedule == LrSchedule::Constant
                         ? warmup_constant_lr(state_.step, config_.warmup_steps, config_.lr)
                         : warmup_cosine_lr(state_.step, config_.warmup_steps, config_.total_steps, config_.lr,
                                            config_.min_lr)) *
                    state_.lr_scale;
  std::vector<mx::array> out = config_.accumulation_steps > 1 ? accumulated_step(idx, lr) : whole_step(idx, lr);
  mx::eval(out);  // the update's evaluation (the only one without accumulation)

  StepReport r;
  r.loss = out[0].item<float>();
  r.grad_norm = out[1].item<float>();
  r.lr = lr;
  const bool finite = out[2].item<bool>();
  if (!finite) {
    ++rollbacks_;
    if (rollbacks_ > config_.max_rollbacks) {
      throw DivergenceError("training diverged: the loss became NaN/Inf at step " + std::to_string(state_.step + 1) +
                            " after " + std::to_string(config_.max_rollbacks) +
                            " rollbacks with the learning rate halved each time; lower --lr or check the data");
    }
    state_ = snapshot_;
    state_.lr_scale = snapshot_.lr_scale * std::pow(0.5, rollbacks_);
    r.rolled_back = true;
    r.restored_to = state_.step;
  } else {
    const std::size_t P = state_.params.size();
    state_.params = unflatten(state_.params, out, 3);
    state_.m = unflatten(state_.m, out, 3 + P);
    state_.v = unflatten(state_.v, out, 3 + 2 * P);
    state_.ema = unflatten(state_.ema, out, 3 + 3 * P);
    state_.cursor = sampler_.cursor();
    ++state_.step;
    // Arrays are immutable, so a snapshot is a set of references, not a copy.
    if (config_.snapshot_every > 0 && state_.step % config_.snapshot_every == 0) snapshot_ = state_;
  }
  r.step = state_.step;
  r.lr_scale = state_.lr_scale;
  auto stats = memory_stats();
  r.peak_bytes = stats.peak_bytes;
  r.active_bytes = stats.active_bytes;
  if (config_.budget.bytes > 0) {
    const int k = config_.accumulation_steps;
    check_peak_memory(config_.budget, state_.step,
                      std::to_string(data_.images.shape(1)) + "x" + std::to_string(data_.images.shape(2)) + ", batch " +
                          std::to_string(config_.batch_size) +
                          (k > 1 ? " as " + std::to_string(k) + " micro-batches of " +
                                       std::to_string(config_.batch_size / k)
                                 : ""));
  }
  return r;
}

void Trainer::save_state(const std::string& path) const {
  std::unordered_map<std::string, mx::array> arrays;
  for (const auto& [prefix, p] : {std::pair{"params.", &state_.params}, std::pair{"m.", &state_.m},
                                  std::pair{"v.", &state_.v}, std::pair{"ema.", &state_.ema}}) {
    for (const auto& [k, a] : *p) arrays.insert_or_assign(prefix + k, a);
  }
  char lr_scale[64];
  std::snprintf(lr_scale, sizeof lr_scale, "%.17g", state_.lr_scale);
  std::unordered_map<std::string, std::string> meta{
      {"format", "anneal-trainer-state"},
      {"step", std::to_string(state_.step)},
      {"epoch", std::to_string(state_.cursor.epoch)},
      {"position", std::to_string(state_.cursor.position)},
      {"lr_scale", lr_scale},
      {"rollbacks", std::to_string(rollbacks_)},
      {"seed", std::to_string(config_.seed)},
      {"objective", objective_->name()},
  };
  for (const auto& [k, v] : objective_->identity()) meta.insert_or_assign("objective." + k, v);
  write_safetensors(path, arrays, meta);
}

void Trainer::check_objective_identity(const std::string& path,
                                       const std::unordered_map<std::string, std::string>& meta) const {
  const std::string name = objective_->name();
  auto it = meta.find("objective");
  // States written before the objective was recorded are denoising runs (or distillation
  // states of the first builds, which cannot be checked and are refused).
  const std::string written = it == meta.end() ? "" : it->second;
  if (written.empty()) {
    if (name == "denoising") return;
    throw std::invalid_argument(path + " records no objective (a denoising run, or a state from a build before "
                                "objectives were recorded); this trainer's objective is " + name);
  }
  if (written != name) {
    throw std::invalid_argument(path + " was written by a " + written + " trainer; this trainer's objective is " +
                                name + "; resume with the same objective");
  }
  std::map<std::string, std::string> want;
  for (const auto& [k, v] : objective_->identity()) want["objective." + k] = v;
  for (const auto& [k, v] : meta) {
    if (k.rfind("objective.", 0) == 0) want.try_emplace(k, "");
  }
  for (const auto& [k, v] : want) {
    auto m = meta.find(k);
    const std::string have = m == meta.end() ? "" : m->second;
    if (have != v) {
      const std::string field = k.substr(std::string("objective.").size());
      const std::string hint = field == "teacher" ? "resume with the same teacher (its weights or config differ)"
                               : field == "sigmas" ? "resume with the same sigma grid"
                                                   : "resume with the same objective options";
      throw std::invalid_argument(path + ": the " + name + " objective differs in its " + field + " (state: " +
                                  (have.empty() ? "absent" : have) + ", this run: " + (v.empty() ? "absent" : v) +
                                  "); " + hint);
    }
  }
}

void Trainer::load_state(const std::string& path) {
  auto [arrays, meta] = read_safetensors(path, "trainer state");
  if (meta["format"] != "anneal-trainer-state") throw std::invalid_argument(path + " is not an Anneal trainer state");
  if (meta["seed"] != std::to_string(config_.seed)) {
    throw std::invalid_argument(path + " was written with seed " + meta["seed"] + ", this run uses seed " +
                                std::to_string(config_.seed) + "; resume with the same --seed");
  }
  check_objective_identity(path, meta);
  State s;
  for (const auto& [prefix, p] : {std::pair{"params.", &s.params}, std::pair{"m.", &s.m}, std::pair{"v.", &s.v},
                                  std::pair{"ema.", &s.ema}}) {
    for (const auto& [k, _] : state_.params) {
      auto it = arrays.find(prefix + k);
      if (it == arrays.end()) throw std::invalid_argument(path + " lacks " + prefix + k);
      p->insert_or_assign(k, it->second);
    }
  }
  check_unet_params(s.params, unet_);
  // std::stol alone would report a damaged field as "stol"; name the file and the field.
  auto number = [&](const char* key) {
    try {
      return std::stod(meta.at(key));
    } catch (const std::exception&) {
      throw FileError(path + ": metadata field '" + key + "' is missing or not a number");
    }
  };
  // The data cursor indexes the epoch permutation directly (BatchSampler::next): a crafted
  // or damaged state must not move it outside [0, n], nor cast an out-of-range double.
  auto integer = [&](const char* key, double lo, double hi) {
    const double x = number(key);
    if (!(x >= lo && x <= hi) || x != std::floor(x)) {
      char range[96];
      std::snprintf(range, sizeof range, "an integer in %.0f..%.0f", lo, hi);
      throw FileError(path + ": metadata field '" + key + "' is " + meta.at(key) + ", expected " + range);
    }
    return static_cast<long>(x);
  };
  constexpr double kMaxCount = 1e15;  // exact in a double, far past any real run
  s.step = integer("step", 0, kMaxCount);
  s.cursor = {integer("epoch", 0, kMaxCount), integer("position", 0, static_cast<double>(data_.size()))};
  s.lr_scale = number("lr_scale");
  if (!(s.lr_scale > 0 && s.lr_scale <= 1)) {
    throw FileError(path + ": metadata field 'lr_scale' is " + meta.at("lr_scale") + ", expected a number in (0, 1]");
  }
  rollbacks_ = static_cast<int>(integer("rollbacks", 0, 1e9));
  // Evaluate everything here: MLX streams are per thread, and the next step may run on
  // another thread than this load.
  std::vector<mx::array> all;
  for (const auto* p : {&s.params, &s.m, &s.v, &s.ema}) append(all, flatten(*p));
  mx::eval(all);
  state_ = s;
  snapshot_ = s;
}

}  // namespace anneal
