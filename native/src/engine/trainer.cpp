#include "engine/trainer.h"

#include "engine/checkpoint.h"
#include "engine/distributed.h"
#include "engine/errors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
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
// The update every step ends with, whole or accumulated: clip the step's gradients, AdamW and
// EMA on `in`'s leading [params | m | v | ema] (P arrays each). Returns [loss, norm, finite |
// params | m | v | ema]; a diverged step changes nothing, and the host sees `finite` and rolls
// back further.
std::vector<mx::array> update(const std::vector<mx::array>& in, std::size_t P, const AdamWConfig& adamw,
                              double clip, const mx::array& loss, std::vector<mx::array> grads,
                              const mx::array& lr, const mx::array& t, const mx::array& decay) {
  auto norm = clip_by_global_norm(grads, clip);
  auto old_params = slice(in, 0, P);
  auto params = old_params;
  auto m = slice(in, P, P), v = slice(in, 2 * P, P), ema = slice(in, 3 * P, P);
  auto old_m = m, old_v = v, old_ema = ema;
  adamw_update(adamw, params, m, v, grads, lr, t);
  ema_update(ema, params, decay);
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
}
}  // namespace

namespace {
std::vector<ImageDataset> one(ImageDataset d) {
  std::vector<ImageDataset> v;
  v.push_back(std::move(d));
  return v;
}
}  // namespace

Trainer::Trainer(UNetConfig unet, std::shared_ptr<Objective> objective, TrainerConfig config, ImageDataset data,
                 Params init)
    : Trainer(std::move(unet), std::move(objective), std::move(config), one(std::move(data)), std::move(init)) {}

Trainer::Trainer(UNetConfig unet, std::shared_ptr<Objective> objective, TrainerConfig config,
                 std::vector<ImageDataset> buckets, Params init)
    : unet_(std::move(unet)), objective_(std::move(objective)), config_(std::move(config)), buckets_(std::move(buckets)) {
  if (buckets_.empty()) throw std::invalid_argument("no training data: give at least one bucket");
  const int B = static_cast<int>(buckets_.size());
  if (!config_.bucket_batch.empty() && static_cast<int>(config_.bucket_batch.size()) != B) {
    throw std::invalid_argument("bucket_batch has " + std::to_string(config_.bucket_batch.size()) +
                                " entries for " + std::to_string(B) + " buckets");
  }
  stages_ = config_.stages;
  if (stages_.empty()) {
    // Open-ended, so a multi-resolution run resumed with more --steps is the same run.
    TrainingStage all{std::numeric_limits<long>::max(), {}};
    for (int b = 0; b < B; ++b) all.buckets.push_back(b);
    stages_.push_back(all);
  }
  long previous_end = 0;
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    const auto& st = stages_[i];
    const std::string name = "stage " + std::to_string(i);
    if (st.end_step <= previous_end) {
      throw std::invalid_argument(name + " ends at step " + std::to_string(st.end_step) +
                                  ", not after the previous stage's end " + std::to_string(previous_end));
    }
    previous_end = st.end_step;
    if (st.buckets.empty()) throw std::invalid_argument(name + " draws from no bucket");
    for (int b : st.buckets) {
      if (b < 0 || b >= B) {
        throw std::invalid_argument(name + " names bucket " + std::to_string(b) + " of " + std::to_string(B));
      }
    }
  }
  for (int b = 0; b < B; ++b) {
    const auto& d = buckets_[b];
    if (b > 0 && d.images.shape(3) != buckets_[0].images.shape(3)) {
      throw std::invalid_argument("bucket " + std::to_string(b) + " has " + std::to_string(d.images.shape(3)) +
                                  " channels, bucket 0 has " + std::to_string(buckets_[0].images.shape(3)));
    }
    bucket_sizes_.push_back(d.size());
    const int batch = config_.bucket_batch.empty() ? config_.batch_size : config_.bucket_batch[b];
    // Refuses a bucket smaller than one of its batches.
    try {
      samplers_.emplace_back(d.size(), batch, config_.seed + static_cast<std::uint64_t>(b));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(B == 1 ? std::string(e.what())
                                         : "bucket " + std::to_string(b) + " (" + std::to_string(d.images.shape(1)) +
                                               "x" + std::to_string(d.images.shape(2)) + "): " + e.what());
    }
  }
  state_.cursors.assign(B, DataCursor{});
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
    auto [loss, grads] = mx::value_and_grad(loss_fn, all_argnums(P))(slice(in, 0, P));
    return update(in, P, adamw, clip, loss, std::move(grads), lr, t, decay);
  };
  using StepFn = std::function<std::vector<mx::array>(const std::vector<mx::array>&)>;
  step_fn_ = config_.compile ? mx::compile(fn) : StepFn(fn);
  if (config_.bucket_accumulation.empty()) {
    set_accumulation_steps(config_.accumulation_steps);
  } else {
    if (static_cast<int>(config_.bucket_accumulation.size()) != B) {
      throw std::invalid_argument("bucket_accumulation has " + std::to_string(config_.bucket_accumulation.size()) +
                                  " entries for " + std::to_string(B) + " buckets");
    }
    for (int b = 0; b < B; ++b) check_divides(b, config_.bucket_accumulation[b]);
  }
}

int Trainer::bucket_batch(int b) const {
  return config_.bucket_batch.empty() ? config_.batch_size : config_.bucket_batch[b];
}

int Trainer::bucket_accumulation(int b) const {
  return config_.bucket_accumulation.empty() ? config_.accumulation_steps : config_.bucket_accumulation[b];
}

void Trainer::check_divides(int b, int k) const {
  const int batch = bucket_batch(b);
  const int R = ranks();
  if (k >= 1 && batch % (R * k) == 0) return;
  const std::string bucket = "bucket " + std::to_string(b) + " (" + std::to_string(buckets_[b].images.shape(1)) + "x" +
                             std::to_string(buckets_[b].images.shape(2)) + "): ";
  const std::string prefix = buckets_.size() > 1 ? bucket : "";
  if (R == 1 || k < 1) {
    throw std::invalid_argument(prefix + "accumulation steps must be a divisor of " +
                                (buckets_.size() > 1 ? "its" : "the") + " batch " + std::to_string(batch) + ", got " +
                                std::to_string(k));
  }
  throw std::invalid_argument(prefix + "the batch " + std::to_string(batch) + " must split into " + std::to_string(R) +
                              " ranks x " + std::to_string(k) + " micro-batches (a multiple of " +
                              std::to_string(R * k) + ")");
}

void Trainer::set_accumulation_steps(int k) {
  for (int b = 0; b < static_cast<int>(buckets_.size()); ++b) check_divides(b, k);
  config_.accumulation_steps = k;
  config_.bucket_accumulation.clear();
  // Nothing is rebuilt: k enters as an input (the update's 1/k) or as a shape (the
  // micro-batch's rows), and the functions are built once per effective batch (grad_fn).
}

const std::function<std::vector<mx::array>(const std::vector<mx::array>&)>& Trainer::grad_fn(int effective) {
  auto found = grad_fns_.find(effective);
  if (found != grad_fns_.end()) return found->second;
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
  // The update: [params | m | v | ema | gsum | loss_sum, lr, t, ema_decay, 1/(ranks k)] -> the
  // outputs of the whole-batch step. Each micro-batch's loss is a mean over its b examples,
  // so the mean of the k micro-batch gradients is the gradient of the effective batch's mean.
  // Data-parallel, the sums are first all_summed across the group (every rank then holds the
  // same sums, so every rank's update is the same) and 1/k is 1/(ranks k).
  auto group = config_.group && config_.group->size() > 1 ? config_.group : nullptr;
  auto apply = [P, adamw, clip, group](const std::vector<mx::array>& in) {
    const std::size_t b = 5 * P;
    const auto& inv_k = in[b + 4];
    auto grads = slice(in, 4 * P, P);
    auto loss_sum = in[b];
    if (group) all_sum_buckets(grads, loss_sum, *group);
    for (auto& g : grads) g = mx::multiply(g, inv_k);
    auto loss = mx::multiply(loss_sum, inv_k);
    return update(in, P, adamw, clip, loss, std::move(grads), in[b + 1], in[b + 2], in[b + 3]);
  };
  if (!apply_fn_) apply_fn_ = config_.compile ? mx::compile(apply) : StepFn(apply);
  return grad_fns_.emplace(effective, config_.compile ? mx::compile(grad) : StepFn(grad)).first->second;
}

std::vector<mx::array> Trainer::accumulated_step(const ImageDataset& data, const std::vector<std::int32_t>& idx,
                                                 double lr, int k) {
  const int effective = static_cast<int>(idx.size());
  const int R = ranks();
  // This rank's rows of the effective batch, in k micro-batches.
  const int micro = effective / (R * k);
  const int first = rank() * (effective / R);
  const auto& grad = grad_fn(effective);
  const auto params = flatten(state_.params);
  const auto frozen = objective_->frozen();
  const auto key = step_key(state_.step);
  const auto t = mx::array(static_cast<float>(state_.step + 1));
  std::vector<mx::array> sums{mx::array(0.0f)};
  for (const auto& p : params) sums.push_back(mx::zeros_like(p));
  for (int j = 0; j < k; ++j) {
    const int from = first + j * micro;
    const std::vector<std::int32_t> part(idx.begin() + from, idx.begin() + from + micro);
    {
      auto [x0, labels] = gather_batch(data, part);
      std::vector<mx::array> in = params;
      append(in, slice(sums, 1, params.size()));
      append(in, frozen);
      in.push_back(x0);
      in.push_back(labels);
      in.push_back(key);
      in.push_back(t);
      in.push_back(mx::arange(from, from + micro, mx::int32));
      in.push_back(sums[0]);
      sums = grad(in);
      // `in` goes out of scope here: the graph holds the last references to the previous
      // sums, so MLX may add into their buffers instead of allocating a third copy.
    }
    // One evaluation per micro-batch: its activations are freed before the next is built. A
    // single micro-batch (data-parallel without accumulation) is left to the step's one
    // evaluation, gradients, all_sum and update together.
    if (k > 1) mx::eval(sums);
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
  in.push_back(mx::array(1.0f / static_cast<float>(R * k)));
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

std::string Trainer::buckets_description() const {
  std::string s;
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    if (b > 0) s += ",";
    s += std::to_string(buckets_[b].images.shape(1)) + "x" + std::to_string(buckets_[b].images.shape(2));
    if (!config_.bucket_batch.empty()) s += "/" + std::to_string(config_.bucket_batch[b]);
  }
  return s;
}

std::string Trainer::stages_description() const {
  std::string s;
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    if (i > 0) s += ";";
    const long end = stages_[i].end_step;
    s += (end == std::numeric_limits<long>::max() ? std::string("end") : std::to_string(end)) + ":";
    for (std::size_t j = 0; j < stages_[i].buckets.size(); ++j) {
      if (j > 0) s += "+";
      s += std::to_string(stages_[i].buckets[j]);
    }
  }
  return s;
}

std::vector<mx::array> Trainer::whole_step(const ImageDataset& data, const std::vector<std::int32_t>& idx,
                                           double lr) {
  auto [x0, labels] = gather_batch(data, idx);
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
  const int stage = stage_of(stages_, state_.step);
  const int bucket = choose_bucket(stages_[stage].buckets, bucket_sizes_, config_.seed, state_.step);
  const auto& data = buckets_[bucket];
  auto& sampler = samplers_[bucket];
  sampler.seek(state_.cursors[bucket]);
  // The effective batch's indices: accumulation splits them, so the data order is the one a
  // run without accumulation at the same batch would see.
  auto idx = sampler.next();
  const double lr = (config_.lr_schedule == LrSchedule::Constant
                         ? warmup_constant_lr(state_.step, config_.warmup_steps, config_.lr)
                         : warmup_cosine_lr(state_.step, config_.warmup_steps, config_.total_steps, config_.lr,
                                            config_.min_lr)) *
                    state_.lr_scale;
  const int k = bucket_accumulation(bucket);
  std::vector<mx::array> out =
      k > 1 || ranks() > 1 ? accumulated_step(data, idx, lr, k) : whole_step(data, idx, lr);
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
    state_.cursors[bucket] = sampler.cursor();
    ++state_.step;
    // Arrays are immutable, so a snapshot is a set of references, not a copy.
    if (config_.snapshot_every > 0 && state_.step % config_.snapshot_every == 0) snapshot_ = state_;
  }
  r.step = state_.step;
  r.lr_scale = state_.lr_scale;
  r.stage = stage;
  r.bucket = bucket;
  r.height = data.images.shape(1);
  r.width = data.images.shape(2);
  r.batch = static_cast<int>(idx.size());
  auto stats = memory_stats();
  r.peak_bytes = stats.peak_bytes;
  r.active_bytes = stats.active_bytes;
  if (config_.budget.bytes > 0) {
    // The shape and batch of this step's bucket (a stage change or a new bucket is checked
    // at its first step).
    const int batch = static_cast<int>(idx.size());
    check_peak_memory(config_.budget, state_.step,
                      std::to_string(r.height) + "x" + std::to_string(r.width) + ", batch " + std::to_string(batch) +
                          (ranks() > 1 ? " over " + std::to_string(ranks()) + " ranks (" +
                                             std::to_string(batch / ranks()) + " here)"
                                       : "") +
                          (k > 1 ? " as " + std::to_string(k) + " micro-batches of " +
                                       std::to_string(batch / (ranks() * k))
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
      {"epoch", std::to_string(state_.cursors[0].epoch)},
      {"position", std::to_string(state_.cursors[0].position)},
      {"lr_scale", lr_scale},
      {"rollbacks", std::to_string(rollbacks_)},
      {"seed", std::to_string(config_.seed)},
      {"objective", objective_->name()},
  };
  for (const auto& [k, v] : objective_->identity()) meta.insert_or_assign("objective." + k, v);
  if (multi()) {
    meta.insert_or_assign("buckets", buckets_description());
    meta.insert_or_assign("stages", stages_description());
    meta.insert_or_assign("stage", std::to_string(stage_of(stages_, state_.step)));
    for (std::size_t b = 1; b < buckets_.size(); ++b) {
      const std::string k = "bucket." + std::to_string(b) + ".";
      meta.insert_or_assign(k + "epoch", std::to_string(state_.cursors[b].epoch));
      meta.insert_or_assign(k + "position", std::to_string(state_.cursors[b].position));
    }
  }
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
  // A state of a multi-bucket or staged run resumes only into the same buckets and stages
  // (the cursors index each bucket's order, the stage follows from the step); a state that
  // records neither is a single-resolution run's.
  auto recorded = [&](const char* key) {
    auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  const std::string want_buckets = multi() ? buckets_description() : "";
  const std::string want_stages = multi() ? stages_description() : "";
  if (recorded("buckets") != want_buckets || recorded("stages") != want_stages) {
    auto shown = [](const std::string& x) { return x.empty() ? std::string("one resolution, one stage") : x; };
    throw std::invalid_argument(
        path + " was written by a run with buckets " + shown(recorded("buckets")) + " and stages " +
        shown(recorded("stages")) + "; this run has buckets " + shown(want_buckets) + " and stages " +
        shown(want_stages) + "; resume with the same --resolutions, --stage-steps, --batch and dataset");
  }
  s.cursors.assign(buckets_.size(), DataCursor{});
  s.cursors[0] = {integer("epoch", 0, kMaxCount), integer("position", 0, static_cast<double>(buckets_[0].size()))};
  for (std::size_t b = 1; b < buckets_.size(); ++b) {
    const std::string k = "bucket." + std::to_string(b) + ".";
    s.cursors[b] = {integer((k + "epoch").c_str(), 0, kMaxCount),
                    integer((k + "position").c_str(), 0, static_cast<double>(buckets_[b].size()))};
  }
  if (multi()) {
    const long stage = integer("stage", 0, static_cast<double>(stages_.size() - 1));
    if (stage != stage_of(stages_, s.step)) {
      throw FileError(path + ": metadata field 'stage' is " + std::to_string(stage) + " but step " +
                      std::to_string(s.step) + " is in stage " + std::to_string(stage_of(stages_, s.step)));
    }
  }
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
