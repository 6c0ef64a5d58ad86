// class Trainer
//   new Trainer(model: Model, options): sync. Loads the dataset shards (safetensors with
//     `images` U8 [N,H,W,C] and `labels` I32 [N]), compiles the step. TypeError names a bad
//     option (ANNEAL_INVALID_ARGUMENT); ANNEAL_NOT_FOUND / ANNEAL_IO if a shard is missing or
//     unreadable, ANNEAL_INVALID_ARGUMENT if the shards do not match the model.
//   run(steps, onStep?): async -> Promise<{step, cancelled}>; onStep receives one report per
//     step {step, loss, gradNorm, lr, lrScale, rolledBack, restoredTo, peakBytes, activeBytes,
//     seconds}. Rejects on divergence (code ANNEAL_DIVERGED) or a memory budget breach
//     (code ANNEAL_MEMORY_BUDGET).
//   cancel(): sync; the running `run` stops after the current step.
//   step: number (getter).   dataOrder: {epoch, position, permutationsBuilt, stage, buckets:
//     [{epoch, position}]} (getter): where the next batch starts (bucket 0's; every bucket's
//     in `buckets`), how many epoch permutations bucket 0's sampler has computed, and the
//     stage of the next step.
// options.shards (one resolution, the model's) or options.buckets [{shards, batchSize?}] (any
//   shapes with sides divisible by 2^(levels-1); batchSize defaults to options.batchSize) and
//   options.stages [{endStep, buckets}] (absent: one stage over every bucket): each step's
//   batch comes from one bucket of its stage, drawn by (seed, step) in proportion to the
//   buckets' sizes. Step reports add {stage, bucket, height, width, batch}.
//   setAccumulationSteps(k): sync; the next steps split the batch into k micro-batches (a
//     stage's batch plan); RangeError unless k divides batchSize (every bucket's batch). Buckets
//     may carry their own accumulationSteps (options.buckets[i].accumulationSteps), applied
//     whenever a step draws from that bucket.
//   saveState(path) / loadState(path): sync, exact resume; ANNEAL_IO
//     for an unwritable path or a damaged state, ANNEAL_NOT_FOUND for a missing one,
//     ANNEAL_INVALID_ARGUMENT for a state of another run (seed, shapes).
//   ema() / model(): sync -> Model holding the EMA / raw weights.
// saveState, loadState, ema, model and dataOrder throw ANNEAL_INVALID_STATE while run() is
// pending.
// options.dataParallel: train data-parallel on the group distributed.init joined: every rank
//   takes its rows of each batch and the step all_sums the gradients (engine/trainer.h), so
//   the ranks together take the steps one process would at options.batchSize, which must be a
//   multiple of ranks x accumulationSteps (RangeError). TypeError before distributed.init.
// options.batchSize is the effective batch of one optimizer step; options.accumulationSteps
// (default 1) splits it into that many micro-batches whose gradients are averaged (it must
// divide batchSize; RangeError otherwise).
// options.objective (absent: {kind: "denoising"}) chooses what the step minimizes:
//   {kind: "progressive", teacher: Model, sigmas: number[] (2N + 1, decreasing, ending in 0),
//    weighting?: "truncated-snr" | "snr+1"}: progressive distillation, `model` the student
//    (v or x0);
//   {kind: "consistency-distillation", teacher: Model, sigmas: number[] (N >= 2, decreasing,
//    positive, the last one the student's sigma_min), huberC?: number}: consistency
//    distillation, `model` a consistency student;
//   {kind: "consistency-training", halvingEvery?: number, q?: number, pMean?: number, pStd?:
//    number, huberC?: number}: ECT-style consistency training from data, no teacher, `model`
//    a consistency student (fine-tuned from a teacher's weights);
//   {kind: "output-distillation", teacher: Model, outputWeight?: number (default 1)}: the
//    denoising loss plus outputWeight times the same loss against the teacher's denoised
//    estimate (BK-SDM's output-level distillation), `model` a student of any architecture
//    taking the teacher's images, labels and VP schedule (eps, v, x0 or edm); cfgDropout,
//    lossWeighting, minSnrGamma and dtype apply to both terms.
// The teacher's weights enter each compiled step as inputs; the trainer holds them, so the
// teacher Model may be disposed afterwards. A bad objective (eps student, odd or unsorted
// grid, teacher/student mismatch, a negative or non-finite outputWeight) throws
// ANNEAL_INVALID_ARGUMENT naming the problem.
// Codes: addon/errors.h.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>

#include "addon/convert.h"
#include "addon/model.h"
#include "addon/module.h"
#include "addon/worker.h"
#include "engine/distill/consistency.h"
#include "engine/distill/output.h"
#include "engine/distill/progressive.h"
#include "engine/distributed.h"
#include "engine/trainer.h"

namespace anneal::addon {
namespace {

struct Report {
  StepReport r;
  double seconds = 0;
};

struct RunResult {
  long step = 0;
  bool cancelled = false;
};

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    using T = TrainerWrap;
    return DefineClass(env, "Trainer",
                       {InstanceMethod("run", &T::Guarded<&T::Run>),
                        InstanceMethod("cancel", &T::Guarded<&T::Cancel>),
                        InstanceMethod("saveState", &T::Guarded<&T::SaveState>),
                        InstanceMethod("loadState", &T::Guarded<&T::LoadState>),
                        InstanceMethod("setAccumulationSteps", &T::Guarded<&T::SetAccumulationSteps>),
                        InstanceMethod("ema", &T::Guarded<&T::Ema>),
                        InstanceMethod("model", &T::Guarded<&T::ModelWeights>),
                        InstanceAccessor("step", &T::Guarded<&T::Step>, nullptr),
                        InstanceAccessor("dataOrder", &T::Guarded<&T::DataOrder>, nullptr)});
  }

  explicit TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
    Guard(info.Env(), [&] {
      Construct(info);
      return info.Env().Undefined();
    });
  }

 private:
  // A method run inside Guard (addon/errors.h), so its exceptions reach JS with a code.
  template <Napi::Value (TrainerWrap::*M)(const Napi::CallbackInfo&)>
  Napi::Value Guarded(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&] { return (this->*M)(info); });
  }

  void Construct(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(Model::constructor.Value())) {
      throw Napi::TypeError::New(env, "model must be a Model");
    }
    auto model = Napi::ObjectWrap<Model>::Unwrap(info[0].As<Napi::Object>())->state(env);
    auto o = ObjectArg(info, 1, "options");
    TrainerConfig c;
    c.batch_size = IntField(o, "options", "batchSize", c.batch_size, 1);
    c.accumulation_steps = IntField(o, "options", "accumulationSteps", c.accumulation_steps, 1);
    if (c.batch_size % c.accumulation_steps != 0) {
      throw Napi::RangeError::New(env, "options.accumulationSteps (" + std::to_string(c.accumulation_steps) +
                                           ") must divide options.batchSize (" + std::to_string(c.batch_size) + ")");
    }
    c.total_steps = LongField(o, "options", "totalSteps", c.total_steps, 1);
    c.lr = NumberField(o, "options", "lr", c.lr, 0);
    c.min_lr = NumberField(o, "options", "minLr", c.min_lr, 0);
    c.warmup_steps = LongField(o, "options", "warmupSteps", c.warmup_steps);
    if (o.Has("lrSchedule")) {
      const std::string schedule = o.Get("lrSchedule").ToString().Utf8Value();
      if (schedule == "cosine") c.lr_schedule = LrSchedule::Cosine;
      else if (schedule == "constant") c.lr_schedule = LrSchedule::Constant;
      else throw Napi::TypeError::New(env, "options.lrSchedule must be cosine or constant");
    }
    c.grad_clip = NumberField(o, "options", "gradClip", c.grad_clip, 0);
    c.ema_decay = NumberField(o, "options", "emaDecay", c.ema_decay, 0);
    c.adamw.weight_decay = NumberField(o, "options", "weightDecay", c.adamw.weight_decay, 0);
    c.seed = static_cast<std::uint64_t>(LongField(o, "options", "seed", static_cast<long>(c.seed)));
    c.compile = !o.Has("compile") || o.Get("compile").ToBoolean();
    c.snapshot_every = LongField(o, "options", "snapshotEvery", c.snapshot_every, 1);
    c.max_rollbacks = IntField(o, "options", "maxRollbacks", c.max_rollbacks, 0);
    c.budget.bytes = static_cast<std::size_t>(LongField(o, "options", "budgetBytes", 0));
    c.budget.source = o.Has("budgetSource") ? o.Get("budgetSource").ToString().Utf8Value() : "configured";
    if (o.Has("dataParallel") && o.Get("dataParallel").ToBoolean()) {
      c.group = distributed_group();
      if (!c.group) {
        throw Napi::TypeError::New(env, "options.dataParallel: join a group first (distributed.init)");
      }
      if (c.batch_size % (c.group->size() * c.accumulation_steps) != 0) {
        throw Napi::RangeError::New(env, "options.batchSize (" + std::to_string(c.batch_size) + ") must split into " +
                                             std::to_string(c.group->size()) + " ranks x " +
                                             std::to_string(c.accumulation_steps) + " micro-batches");
      }
    }
    DenoisingOptions d;
    d.cfg_dropout = static_cast<float>(NumberField(o, "options", "cfgDropout", d.cfg_dropout, 0));
    if (d.cfg_dropout > 1) throw Napi::RangeError::New(env, "options.cfgDropout must be in [0, 1]");
    if (o.Has("lossWeighting")) {
      const std::string w = o.Get("lossWeighting").ToString().Utf8Value();
      if (w == "none") d.loss_weighting = LossWeighting::None;
      else if (w == "min-snr") d.loss_weighting = LossWeighting::MinSnr;
      else throw Napi::TypeError::New(env, "options.lossWeighting must be none or min-snr");
    }
    d.min_snr_gamma = NumberField(o, "options", "minSnrGamma", d.min_snr_gamma, 0);
    if (!(d.min_snr_gamma > 0)) throw Napi::RangeError::New(env, "options.minSnrGamma must be positive");
    const std::string dtype = o.Has("dtype") ? o.Get("dtype").ToString().Utf8Value() : "float32";
    if (dtype == "float32") d.compute_dtype = mx::float32;
    else if (dtype == "bfloat16") d.compute_dtype = mx::bfloat16;
    else if (dtype == "float16") d.compute_dtype = mx::float16;
    else throw Napi::TypeError::New(env, "options.dtype must be float32, bfloat16 or float16");
    const int classes = IntField(o, "options", "numClasses", 0, 0);
    const bool bucketed = o.Has("buckets") && !o.Get("buckets").IsUndefined();
    std::vector<std::vector<std::string>> bucket_shards;
    if (bucketed) {
      if (o.Has("shards") && !o.Get("shards").IsUndefined()) {
        throw Napi::TypeError::New(env, "options: give either shards or buckets, not both");
      }
      ReadBuckets(env, o, c, bucket_shards);
    } else {
      bucket_shards.push_back(StringArrayField(o, "options", "shards"));
    }
    model_ = model;
    {
      // The student as this run executes it: attention fused or sliced (options.attention).
      ModelState student = *model;
      student.unet.attention_exec = AttentionExecFromJs(o.Get("attention"), "options.attention");
      const auto& u = student.unet;
      std::vector<ImageDataset> buckets;
      const int factor = 1 << (static_cast<int>(u.block_out_channels.size()) - 1);
      for (std::size_t b = 0; b < bucket_shards.size(); ++b) {
        auto data = load_shards(bucket_shards[b], classes);
        const int h = data.images.shape(1), w = data.images.shape(2), ch = data.images.shape(3);
        const std::string shape = std::to_string(h) + "x" + std::to_string(w) + "x" + std::to_string(ch);
        // One resolution: the model's own (a checkpoint's sample_size is what it samples at).
        // Buckets: any shape whose sides the U-Net can halve at every level.
        if (!bucketed && (h != u.sample_size || w != u.sample_size || ch != u.in_channels)) {
          throw std::invalid_argument("dataset images are " + shape + " but the model expects " +
                                      std::to_string(u.sample_size) + "x" + std::to_string(u.sample_size) + "x" +
                                      std::to_string(u.in_channels));
        }
        if (bucketed && (h % factor != 0 || w % factor != 0 || ch != u.in_channels)) {
          throw std::invalid_argument("options.buckets[" + std::to_string(b) + "]: images are " + shape +
                                      "; the model needs " + std::to_string(u.in_channels) +
                                      " channels and sides that are multiples of 2^(levels-1) = " +
                                      std::to_string(factor));
        }
        buckets.push_back(std::move(data));
      }
      auto objective = MakeObjective(env, o, student, d, c.total_steps);
      trainer_ = std::make_shared<Trainer>(u, objective, c, std::move(buckets), model->params);
    }
  }

  // options.buckets: [{shards: string[], batchSize?: number, accumulationSteps?: number}]
  // (accumulationSteps: that bucket's micro-batches, default options.accumulationSteps),
  // options.stages?: [{endStep,
  // buckets: number[]}] (absent: one stage over every bucket).
  static void ReadBuckets(Napi::Env env, const Napi::Object& o, TrainerConfig& c,
                          std::vector<std::vector<std::string>>& shards) {
    auto list = o.Get("buckets");
    if (!list.IsArray() || list.As<Napi::Array>().Length() == 0) {
      throw Napi::TypeError::New(env, "options.buckets must be a non-empty array of {shards, batchSize?}");
    }
    auto a = list.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      const std::string owner = "options.buckets[" + std::to_string(i) + "]";
      if (!a.Get(i).IsObject()) throw Napi::TypeError::New(env, owner + " must be an object");
      auto b = a.Get(i).As<Napi::Object>();
      shards.push_back(StringArrayField(b, owner.c_str(), "shards"));
      c.bucket_batch.push_back(IntField(b, owner.c_str(), "batchSize", c.batch_size, 1));
      c.bucket_accumulation.push_back(IntField(b, owner.c_str(), "accumulationSteps", c.accumulation_steps, 1));
    }
    if (!o.Has("stages") || o.Get("stages").IsUndefined()) return;
    if (!o.Get("stages").IsArray()) throw Napi::TypeError::New(env, "options.stages must be an array");
    auto st = o.Get("stages").As<Napi::Array>();
    for (uint32_t i = 0; i < st.Length(); ++i) {
      const std::string owner = "options.stages[" + std::to_string(i) + "]";
      if (!st.Get(i).IsObject()) throw Napi::TypeError::New(env, owner + " must be an object");
      auto so = st.Get(i).As<Napi::Object>();
      TrainingStage stage;
      stage.end_step = LongField(so, owner.c_str(), "endStep", 0, 1);
      for (double b : NumberArrayField(so, owner.c_str(), "buckets")) {
        if (!(b >= 0 && b < a.Length()) || b != static_cast<int>(b)) {
          throw Napi::RangeError::New(env, owner + ".buckets: " + std::to_string(b) + " is not a bucket index");
        }
        stage.buckets.push_back(static_cast<int>(b));
      }
      c.stages.push_back(stage);
    }
  }

  static std::shared_ptr<Objective> MakeObjective(Napi::Env env, const Napi::Object& o, const ModelState& student,
                                                  const DenoisingOptions& d, long total_steps) {
    auto field = o.Get("objective");
    if (field.IsUndefined()) return std::make_shared<DenoisingObjective>(student.unet, student.prec, d);
    if (!field.IsObject()) throw Napi::TypeError::New(env, "options.objective must be an object");
    auto obj = field.As<Napi::Object>();
    const std::string kind = obj.Get("kind").IsString() ? obj.Get("kind").ToString().Utf8Value() : "";
    if (kind == "denoising") return std::make_shared<DenoisingObjective>(student.unet, student.prec, d);
    if (kind == "consistency-training") {
      ConsistencyTrainingOptions c;
      c.cfg_dropout = d.cfg_dropout;
      c.compute_dtype = d.compute_dtype;
      c.halving_every = LongField(obj, "options.objective", "halvingEvery", c.halving_every, 1);
      c.total_steps = total_steps;
      c.q = NumberField(obj, "options.objective", "q", c.q, 0);
      c.p_mean = NumberField(obj, "options.objective", "pMean", c.p_mean);
      c.p_std = NumberField(obj, "options.objective", "pStd", c.p_std, 0);
      c.huber_c = NumberField(obj, "options.objective", "huberC", 0, 0);
      return std::make_shared<ConsistencyTrainingObjective>(student.unet, student.prec, c);
    }
    if (kind != "progressive" && kind != "consistency-distillation" && kind != "output-distillation") {
      throw Napi::TypeError::New(env,
                                 "options.objective.kind must be denoising, progressive, consistency-distillation, "
                                 "consistency-training or output-distillation");
    }
    auto t = obj.Get("teacher");
    if (!t.IsObject() || !t.As<Napi::Object>().InstanceOf(Model::constructor.Value())) {
      throw Napi::TypeError::New(env, "options.objective.teacher must be a Model");
    }
    auto teacher_state = Napi::ObjectWrap<Model>::Unwrap(t.As<Napi::Object>())->state(env);
    FrozenModel teacher{teacher_state->unet, teacher_state->prec, teacher_state->params};
    if (kind == "output-distillation") {
      OutputDistillationOptions out;
      out.denoising = d;
      // Read as given (NaN included): the engine refuses a negative or non-finite weight, naming it.
      auto w = obj.Get("outputWeight");
      if (!w.IsUndefined()) {
        if (!w.IsNumber()) throw Napi::TypeError::New(env, "options.objective.outputWeight must be a number");
        out.output_weight = w.As<Napi::Number>().DoubleValue();
      }
      return std::make_shared<OutputDistillationObjective>(teacher, student.unet, student.prec, out);
    }
    auto sigmas = NumberArrayField(obj, "options.objective", "sigmas");
    if (kind == "progressive") {
      ProgressiveOptions p;
      p.sigmas = sigmas;
      p.cfg_dropout = d.cfg_dropout;
      p.compute_dtype = d.compute_dtype;
      if (obj.Has("weighting") && !obj.Get("weighting").IsUndefined()) {
        try {
          p.weighting = parse_distill_weighting(obj.Get("weighting").ToString().Utf8Value());
        } catch (const std::exception& e) {
          throw Napi::TypeError::New(env, std::string("options.objective.weighting: ") + e.what());
        }
      }
      return std::make_shared<ProgressiveObjective>(teacher, student.unet, student.prec, p);
    }
    ConsistencyDistillationOptions c;
    c.sigmas = sigmas;
    c.cfg_dropout = d.cfg_dropout;
    c.compute_dtype = d.compute_dtype;
    c.huber_c = NumberField(obj, "options.objective", "huberC", 0, 0);
    return std::make_shared<ConsistencyDistillationObjective>(teacher, student.unet, student.prec, c);
  }

  void EnsureIdle(Napi::Env env) const {
    if (running_->load()) throw StateError(env, "the trainer is running; wait for run() to settle");
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    EnsureIdle(env);
    const double steps_arg = NumberArg(info, 0, "steps");
    if (!(steps_arg >= 0 && steps_arg <= 9007199254740992.0)) {
      throw Napi::RangeError::New(env, "steps must be an integer in [0, 2^53]");
    }
    const long steps = static_cast<long>(steps_arg);
    running_->store(true);
    cancel_->store(false);
    auto trainer = trainer_;
    auto running = running_;
    auto cancel = cancel_;
    return ProgressPromiseWorker<RunResult, Report>::Run(
        env, info.Length() > 1 ? info[1] : env.Undefined(),
        [trainer, steps, running, cancel](const std::function<void(const Report&)>& report) {
          struct Idle {
            std::shared_ptr<std::atomic<bool>> flag;
            ~Idle() { flag->store(false); }
          } idle{running};
          RunResult result;
          for (long i = 0; i < steps; ++i) {
            if (cancel->load()) {
              result.cancelled = true;
              break;
            }
            auto start = std::chrono::steady_clock::now();
            Report rep;
            rep.r = trainer->step();
            rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            report(rep);
          }
          result.step = trainer->current_step();
          return result;
        },
        [](Napi::Env env, const RunResult& r) {
          auto o = Napi::Object::New(env);
          o.Set("step", static_cast<double>(r.step));
          o.Set("cancelled", r.cancelled);
          return o;
        },
        [](Napi::Env env, const Report& p) {
          auto o = Napi::Object::New(env);
          o.Set("step", static_cast<double>(p.r.step));
          o.Set("loss", p.r.loss);
          o.Set("gradNorm", p.r.grad_norm);
          o.Set("lr", p.r.lr);
          o.Set("lrScale", p.r.lr_scale);
          o.Set("rolledBack", p.r.rolled_back);
          o.Set("restoredTo", static_cast<double>(p.r.restored_to));
          o.Set("peakBytes", Bytes(env, p.r.peak_bytes));
          o.Set("activeBytes", Bytes(env, p.r.active_bytes));
          o.Set("seconds", p.seconds);
          o.Set("stage", p.r.stage);
          o.Set("bucket", p.r.bucket);
          o.Set("height", p.r.height);
          o.Set("width", p.r.width);
          o.Set("batch", p.r.batch);
          return o;
        });
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    cancel_->store(true);
    return info.Env().Undefined();
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(trainer_->current_step()));
  }

  Napi::Value DataOrder(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    EnsureIdle(env);
    auto c = trainer_->data_cursor();
    auto o = Napi::Object::New(env);
    o.Set("epoch", static_cast<double>(c.epoch));
    o.Set("position", static_cast<double>(c.position));
    o.Set("permutationsBuilt", static_cast<double>(trainer_->sampler().permutations_built()));
    o.Set("stage", trainer_->current_stage());
    auto buckets = Napi::Array::New(env);
    const auto& cursors = trainer_->data_cursors();
    for (std::size_t b = 0; b < cursors.size(); ++b) {
      auto e = Napi::Object::New(env);
      e.Set("epoch", static_cast<double>(cursors[b].epoch));
      e.Set("position", static_cast<double>(cursors[b].position));
      buckets.Set(static_cast<uint32_t>(b), e);
    }
    o.Set("buckets", buckets);
    return o;
  }

  Napi::Value SaveState(const Napi::CallbackInfo& info) {
    EnsureIdle(info.Env());
    trainer_->save_state(StringArg(info, 0, "path"));
    return info.Env().Undefined();
  }

  Napi::Value SetAccumulationSteps(const Napi::CallbackInfo& info) {
    EnsureIdle(info.Env());
    if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "k must be a number");
    const double k = info[0].As<Napi::Number>().DoubleValue();
    const int batch = trainer_->config().batch_size;
    if (!(k >= 1) || k != static_cast<int>(k) || batch % static_cast<int>(k) != 0) {
      char text[64];
      std::snprintf(text, sizeof text, "%g", k);
      throw Napi::RangeError::New(info.Env(), std::string("k (") + text + ") must be a divisor of the batch (" +
                                                  std::to_string(batch) + ")");
    }
    trainer_->set_accumulation_steps(static_cast<int>(k));
    return info.Env().Undefined();
  }

  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    EnsureIdle(info.Env());
    trainer_->load_state(StringArg(info, 0, "path"));
    return info.Env().Undefined();
  }

  Napi::Value Wrapped(Napi::Env env, const Params& params) {
    EnsureIdle(env);
    auto s = std::make_shared<ModelState>(*model_);
    s->params = params;
    return Model::Wrap(env, s);
  }
  Napi::Value Ema(const Napi::CallbackInfo& info) { return Wrapped(info.Env(), trainer_->ema_params()); }
  Napi::Value ModelWeights(const Napi::CallbackInfo& info) { return Wrapped(info.Env(), trainer_->params()); }

  std::shared_ptr<ModelState> model_;
  std::shared_ptr<Trainer> trainer_;
  std::shared_ptr<std::atomic<bool>> running_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

void InitTrainer(Napi::Env env, Napi::Object exports) { exports.Set("Trainer", TrainerWrap::Define(env)); }

}  // namespace anneal::addon
