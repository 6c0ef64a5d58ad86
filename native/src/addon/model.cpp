// class Model
//   new Model(config, {seed?, weights?}): sync. Random init from seed, or weights loaded from a
//     safetensors path and checked against the config. TypeError names a bad config field.
//   parameterCount(): sync -> number.   parameterNames(): sync -> string[] (safetensors keys).
//   forward(x: Float32Array, shape: [B,H,W,C], t: Float32Array, labels?: Int32Array): sync ->
//     Float32Array; the raw network F(x, t, class).
//   save(path, metadata?): sync; writes safetensors atomically.
//   cost(): sync -> {parameters, forwardFlopsPerImage, activationBytesPerImage}
//     (attention's own bytes: attention.unetBytes).
//   measureStep({batch, steps, warmup?, accumulationSteps?}): async -> Promise<{stepSeconds, imagesPerSecond,
//     peakBytes, steps}>: compiled training steps on random data, the model left unchanged.
//   sample(spec, onStep?): async -> Promise<{images: Uint8Array NHWC, shape, nfe, steps,
//     nonFinite, values?, noise?, stepNoise?}>; nonFinite counts NaN/inf values before
//     quantization. spec.noise (Float32Array [n,H,W,C]) and spec.stepNoise (Float32Array
//     [steps,n,H,W,C]) replace the seed's unit-normal draws (GenerateSpec::noise, step_noise);
//     spec.chunk is the batch the network sees (default 64); spec.height and spec.width the
//     images' sides (default sample_size; multiples of 2^(levels-1)); spec.dtype ("float32"
//     default, "bfloat16", "float16") the U-Net's compute dtype;
//     spec.returnNoise returns the draws used in the same layouts; spec.returnValues returns
//     the float32 images in [-1, 1] as `values`. With sampler "adaptive" (spec.rtol, spec.atol)
//     it also returns nfePerImage (Int32Array), calls (batched denoiser calls) and
//     rowsEvaluated (image rows handed to the network) and rejected (step attempts rejected,
//     summed over images); nfe is then the largest per image.
//   gradientCheck({seed, epsilon}): sync -> {analytic, numeric}: directional derivative of a
//     random projection of F, by autodiff and by central differences.
//   derive(config): sync -> Model: the same weights (shared, arrays are immutable) under
//     another config: a copy (the same config), or a distillation student (a consistency
//     config around the same U-Net). TypeError names a bad config field; weights that do not
//     fit the config's U-Net throw ANNEAL_INVALID_ARGUMENT.
//   inheritFrom(teacher: Model, {narrow?}?): sync -> {copied, narrowed, total,
//     copiedParameters, totalParameters}: this model's tensors whose name and shape the teacher
//     also has take the teacher's values (BK-SDM's initialization of a pruned student,
//     engine/distill/inherit.h); with narrow, also up blocks matched by level and narrower
//     tensors restricted to the teacher's leading channels. The rest stay as they are; counts of
//     tensors (whole, restricted, all) and of scalar parameters taken and in all. The teacher
//     may be disposed after.
//     ANNEAL_INVALID_ARGUMENT for a teacher of other in/out channels or classes; TypeError
//     unless teacher is a Model.
//   sigmaRange({height?, width?}?): sync -> {sigmaMin, sigmaMax}: the noise levels its sampling
//     spans (a VP table's ends; a consistency model's boundary sigma_min and its table's top),
//     at height x width when given (a resolution-shifted schedule moves with the size).
//   scheduleSigmas({sampler, steps, schedule?, sigmaMax?, rho?, height?, width?}): sync -> the
//     steps + 1 sigmas sampling would use (engine make_sigmas; schedule "default" is the
//     sampler's default on this model, sigmaMax 0 or absent is the model's largest).
//   learnSchedule(spec, onProgress?): async; see addon/schedule_learn.h.
//   dispose(): sync; frees the weights, later calls throw ANNEAL_INVALID_STATE.
// Errors carry a code (addon/errors.h): ANNEAL_INVALID_ARGUMENT for a bad argument or input
// shape (sync, or a rejection for sample/measureStep), ANNEAL_NOT_FOUND / ANNEAL_IO for a
// missing or unreadable weights file and an unwritable save path.
#include "addon/model.h"

#include <cmath>
#include <optional>
#include <vector>

#include "addon/convert.h"
#include "addon/module.h"
#include "addon/schedule_learn.h"
#include "addon/worker.h"
#include "engine/checkpoint.h"
#include "engine/cost.h"
#include "engine/distill/inherit.h"
#include "engine/generate.h"

namespace anneal::addon {

Napi::FunctionReference Model::constructor;

Napi::Function Model::Define(Napi::Env env) {
  auto fn = DefineClass(
      env, "Model",
      {InstanceMethod("parameterCount", &Model::Guarded<&Model::ParameterCount>),
       InstanceMethod("parameterNames", &Model::Guarded<&Model::ParameterNames>),
       InstanceMethod("forward", &Model::Guarded<&Model::Forward>),
       InstanceMethod("save", &Model::Guarded<&Model::Save>),
       InstanceMethod("cost", &Model::Guarded<&Model::Cost>),
       InstanceMethod("measureStep", &Model::Guarded<&Model::MeasureStep>),
       InstanceMethod("sample", &Model::Guarded<&Model::Sample>),
       InstanceMethod("gradientCheck", &Model::Guarded<&Model::GradientCheck>),
       InstanceMethod("derive", &Model::Guarded<&Model::Derive>),
       InstanceMethod("inheritFrom", &Model::Guarded<&Model::InheritFrom>),
       InstanceMethod("sigmaRange", &Model::Guarded<&Model::SigmaRange>),
       InstanceMethod("scheduleSigmas", &Model::Guarded<&Model::ScheduleSigmas>),
       InstanceMethod("learnSchedule", &Model::Guarded<&Model::LearnSchedule>),
       InstanceMethod("dispose", &Model::Guarded<&Model::Dispose>)});
  constructor = Napi::Persistent(fn);
  constructor.SuppressDestruct();
  return fn;
}

Model::Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
  Guard(info.Env(), [&] {
    Construct(info);
    return info.Env().Undefined();
  });
}

void Model::Construct(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  if (info.Length() > 0 && info[0].IsExternal()) {
    state_ = *info[0].As<Napi::External<std::shared_ptr<ModelState>>>().Data();
    return;
  }
  auto config = ObjectArg(info, 0, "config");
  auto opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  if (!config.Get("unet").IsObject()) throw Napi::TypeError::New(env, "config.unet must be an object");
  auto state = std::make_shared<ModelState>();
  state->unet = UNetConfigFromJs(config.Get("unet").As<Napi::Object>());
  state->prec = PreconditioningFromJs(config);
  if (opts.Has("weights") && !opts.Get("weights").IsUndefined()) {
    state->params = load_params(StringField(opts, "options", "weights"));
    check_unet_params(state->params, state->unet);
  } else {
    const auto seed = static_cast<std::uint64_t>(LongField(opts, "options", "seed", 0));
    state->params = init_unet(state->unet, seed);
  }
  state_ = state;
}

Napi::Object Model::Wrap(Napi::Env env, std::shared_ptr<ModelState> state) {
  auto ext = Napi::External<std::shared_ptr<ModelState>>::New(
      env, new std::shared_ptr<ModelState>(std::move(state)),
      [](Napi::Env, std::shared_ptr<ModelState>* p) { delete p; });
  return constructor.New({ext});
}

std::shared_ptr<ModelState> Model::state(Napi::Env env) const {
  if (!state_) throw StateError(env, "this Model has been disposed");
  return state_;
}

Napi::Value Model::ParameterCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(parameter_count(state(info.Env())->params)));
}

Napi::Value Model::ParameterNames(const Napi::CallbackInfo& info) {
  auto s = state(info.Env());
  auto out = Napi::Array::New(info.Env(), s->params.size());
  uint32_t i = 0;
  for (const auto& [name, _] : s->params) out.Set(i++, name);
  return out;
}

Napi::Value Model::Forward(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto s = state(env);
  if (info.Length() < 3 || !info[1].IsArray()) throw Napi::TypeError::New(env, "forward(x, shape, t, labels?, options?)");
  auto shape_js = info[1].As<Napi::Array>();
  if (shape_js.Length() != 4) throw Napi::TypeError::New(env, "shape must be [B, H, W, C]");
  mx::Shape shape;
  for (uint32_t i = 0; i < 4; ++i) {
    auto d = shape_js.Get(i);
    if (!d.IsNumber() || d.As<Napi::Number>().Int32Value() < 1) {
      throw Napi::RangeError::New(env, "shape must be [B, H, W, C] of positive integers");
    }
    shape.push_back(d.As<Napi::Number>().Int32Value());
  }
  if (shape[3] != s->unet.in_channels) {
    throw Napi::RangeError::New(env, "shape[3] must be the model's " +
                                         std::to_string(s->unet.in_channels) + " input channels");
  }
  auto x = Float32ArrayToMx(info[0], "x", shape);
  auto t = Float32ArrayToMx(info[2], "t", {shape[0]});
  std::optional<mx::array> labels;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    if (!info[3].IsTypedArray() ||
        info[3].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      throw Napi::TypeError::New(env, "labels must be an Int32Array");
    }
    auto l = info[3].As<Napi::Int32Array>();
    if (l.ElementLength() != static_cast<std::size_t>(shape[0])) throw Napi::RangeError::New(env, "labels must have B entries");
    labels = mx::array(l.Data(), {shape[0]}, mx::int32);
  }
  auto cfg = s->unet;
  if (info.Length() > 4 && !info[4].IsUndefined()) {
    if (!info[4].IsObject()) throw Napi::TypeError::New(env, "options must be an object");
    cfg.attention_exec =
        AttentionExecFromJs(info[4].As<Napi::Object>().Get("attention"), "options.attention");
  }
  return MxToFloat32Array(env, unet_forward(s->params, cfg, x, t, labels));
}

Napi::Value Model::Save(const Napi::CallbackInfo& info) {
  auto path = StringArg(info, 0, "path");
  std::map<std::string, std::string> meta;
  if (info.Length() > 1 && info[1].IsObject()) {
    auto o = info[1].As<Napi::Object>();
    auto keys = o.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); ++i) {
      auto k = keys.Get(i).ToString().Utf8Value();
      meta[k] = o.Get(k).ToString().Utf8Value();
    }
  }
  save_params(path, state(info.Env())->params, meta);
  return info.Env().Undefined();
}

Napi::Value Model::Cost(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto s = state(env);
  auto out = Napi::Object::New(env);
  out.Set("parameters", static_cast<double>(parameter_count(s->params)));
  out.Set("forwardFlopsPerImage", unet_forward_flops(s->unet));
  out.Set("activationBytesPerImage", unet_activation_bytes(s->unet));
  return out;
}

Napi::Value Model::MeasureStep(const Napi::CallbackInfo& info) {
  auto s = state(info.Env());
  auto o = ObjectArg(info, 0, "options");
  const int batch = IntField(o, "options", "batch", 8, 1);
  const int steps = IntField(o, "options", "steps", 3, 1);
  const int warmup = IntField(o, "options", "warmup", 2, 0);
  const int accumulation = IntField(o, "options", "accumulationSteps", 1, 1);
  if (batch % accumulation != 0) {
    throw Napi::RangeError::New(info.Env(), "options.accumulationSteps (" + std::to_string(accumulation) +
                                                ") must divide options.batch (" + std::to_string(batch) + ")");
  }
  return PromiseWorker<StepCost>::Run(
      info.Env(),
      [s, batch, steps, warmup, accumulation] {
        return measure_training_step(s->params, s->unet, s->prec, batch, steps, warmup, accumulation);
      },
      [](Napi::Env env, const StepCost& c) {
        auto out = Napi::Object::New(env);
        out.Set("stepSeconds", c.step_seconds);
        out.Set("imagesPerSecond", c.images_per_second);
        out.Set("peakBytes", Bytes(env, c.peak_bytes));
        out.Set("steps", c.steps);
        return out;
      });
}

namespace {
std::vector<float> ToFloats(const mx::array& a_in) {
  auto a = mx::contiguous(mx::astype(a_in, mx::float32));
  mx::eval(a);
  return std::vector<float>(a.data<float>(), a.data<float>() + a.size());
}
Napi::Float32Array FloatsToJs(Napi::Env env, const std::vector<float>& v) {
  auto out = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), out.Data());
  return out;
}
struct Sampled {
  std::vector<std::uint8_t> pixels;
  std::optional<std::vector<float>> values, noise, step_noise;
  std::vector<int> shape;
  int nfe = 0, steps = 0;
  double non_finite = 0;
  std::vector<int> nfe_per_image;  // adaptive
  int calls = 0;
  double rows_evaluated = 0;
  int rejected = 0;
};
struct StepProgress {
  int step = 0, total = 0;
};
}  // namespace

Napi::Value Model::Sample(const Napi::CallbackInfo& info) {
  auto s = state(info.Env());
  auto js = ObjectArg(info, 0, "spec");
  auto spec = GenerateSpecFromJs(js);
  const auto& c = s->unet;
  const int height = spec.height > 0 ? spec.height : c.sample_size;
  const int width = spec.width > 0 ? spec.width : c.sample_size;
  const int per_image = height * width * c.in_channels;
  if (js.Has("noise") && !js.Get("noise").IsUndefined()) {
    spec.noise = Float32ArrayToMx(js.Get("noise"), "spec.noise", {spec.n, height, width, c.in_channels});
  }
  if (js.Has("stepNoise") && !js.Get("stepNoise").IsUndefined()) {
    auto v = js.Get("stepNoise");
    const std::size_t len = v.IsTypedArray() ? v.As<Napi::TypedArray>().ElementLength() : 0;
    const std::size_t per_step = static_cast<std::size_t>(spec.n) * per_image;
    if (len == 0 || len % per_step != 0) {
      throw Napi::RangeError::New(info.Env(), "spec.stepNoise must be a Float32Array of steps * n * H * W * C (a multiple of " +
                                                  std::to_string(per_step) + ") values");
    }
    spec.step_noise = Float32ArrayToMx(v, "spec.stepNoise",
                                       {static_cast<int>(len / per_step), spec.n, height, width, c.in_channels});
  }
  spec.record_noise = js.Has("returnNoise") && js.Get("returnNoise").ToBoolean().Value();
  const bool return_values = js.Has("returnValues") && js.Get("returnValues").ToBoolean().Value();
  auto on_step = info.Length() > 1 ? info[1] : info.Env().Undefined();
  return ProgressPromiseWorker<Sampled, StepProgress>::Run(
      info.Env(), on_step,
      [s, spec, return_values](const std::function<void(const StepProgress&)>& report) {
        auto r = generate(s->params, s->unet, s->prec, spec, [&](int step, int total) { report({step, total}); });
        // [-1, 1] -> uint8, rounding to nearest. NaN has no uint8 value, so count them first.
        auto u8 = mx::astype(mx::round(mx::multiply(mx::add(r.images, mx::array(1.0f)), mx::array(127.5f))), mx::uint8);
        u8 = mx::contiguous(u8);
        auto non_finite = mx::sum(mx::astype(mx::logical_not(mx::isfinite(r.images)), mx::float32));
        mx::eval({u8, non_finite});
        Sampled out;
        out.pixels.assign(u8.data<std::uint8_t>(), u8.data<std::uint8_t>() + u8.size());
        out.shape.assign(u8.shape().begin(), u8.shape().end());
        out.nfe = r.nfe;
        out.steps = r.steps;
        out.nfe_per_image = r.nfe_per_image;
        out.calls = r.calls;
        out.rows_evaluated = static_cast<double>(r.rows_evaluated);
        out.rejected = r.rejected;
        out.non_finite = non_finite.item<float>();
        if (return_values) out.values = ToFloats(r.images);
        if (r.noise) out.noise = ToFloats(*r.noise);
        if (r.step_noise) out.step_noise = ToFloats(*r.step_noise);
        return out;
      },
      [](Napi::Env env, const Sampled& r) {
        auto obj = Napi::Object::New(env);
        auto buf = Napi::Uint8Array::New(env, r.pixels.size());
        std::copy(r.pixels.begin(), r.pixels.end(), buf.Data());
        auto shape = Napi::Array::New(env, r.shape.size());
        for (uint32_t i = 0; i < r.shape.size(); ++i) shape.Set(i, r.shape[i]);
        obj.Set("images", buf);
        obj.Set("shape", shape);
        obj.Set("nfe", r.nfe);
        obj.Set("steps", r.steps);
        obj.Set("nonFinite", r.non_finite);
        if (!r.nfe_per_image.empty()) {
          auto per = Napi::Int32Array::New(env, r.nfe_per_image.size());
          std::copy(r.nfe_per_image.begin(), r.nfe_per_image.end(), per.Data());
          obj.Set("nfePerImage", per);
          obj.Set("calls", r.calls);
          obj.Set("rowsEvaluated", r.rows_evaluated);
          obj.Set("rejected", r.rejected);
        }
        if (r.values) obj.Set("values", FloatsToJs(env, *r.values));
        if (r.noise) obj.Set("noise", FloatsToJs(env, *r.noise));
        if (r.step_noise) obj.Set("stepNoise", FloatsToJs(env, *r.step_noise));
        return obj;
      },
      [](Napi::Env env, const StepProgress& p) {
        auto obj = Napi::Object::New(env);
        obj.Set("step", p.step);
        obj.Set("total", p.total);
        return obj;
      });
}

Napi::Value Model::GradientCheck(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto s = state(env);
  auto opts = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  const auto seed = static_cast<std::uint64_t>(LongField(opts, "options", "seed", 0));
  const float eps = static_cast<float>(NumberField(opts, "options", "epsilon", 1e-2, 0));
  const auto& c = s->unet;
  auto keys = mx::random::split(mx::random::key(seed), 4);
  auto k = [&](int i) { return mx::take(keys, i, 0); };
  auto x = mx::random::normal({2, c.sample_size, c.sample_size, c.in_channels}, mx::float32, k(0));
  auto t = mx::array({10.0f, 500.0f});
  std::optional<mx::array> labels;
  if (c.num_class_embeds > 0) labels = mx::array({0, c.num_class_embeds - 1});
  auto r = mx::random::normal({2, c.sample_size, c.sample_size, c.out_channels}, mx::float32, k(1));
  // A scalar L(params) = <F(x; params), r>, and a random unit direction u over all params.
  auto loss = [&](const std::vector<mx::array>& p) {
    return mx::sum(mx::multiply(unet_forward(unflatten(s->params, p), c, x, t, labels), r));
  };
  auto p0 = flatten(s->params);
  std::vector<mx::array> u;
  auto dir_key = k(2);
  auto sq = mx::array(0.0f);
  for (const auto& p : p0) {
    auto [a, b] = mx::random::split(dir_key);
    dir_key = a;
    u.push_back(mx::random::normal(p.shape(), mx::float32, b));
    sq = mx::add(sq, mx::sum(mx::square(u.back())));
  }
  auto inv = mx::rsqrt(sq);
  for (auto& d : u) d = mx::multiply(d, inv);
  {
    auto grads = mx::grad(loss, all_argnums(p0.size()))(p0);
    auto analytic = mx::array(0.0f);
    for (std::size_t i = 0; i < p0.size(); ++i) analytic = mx::add(analytic, mx::sum(mx::multiply(grads[i], u[i])));
    std::vector<mx::array> plus, minus;
    for (std::size_t i = 0; i < p0.size(); ++i) {
      plus.push_back(mx::add(p0[i], mx::multiply(u[i], mx::array(eps))));
      minus.push_back(mx::subtract(p0[i], mx::multiply(u[i], mx::array(eps))));
    }
    auto numeric = mx::divide(mx::subtract(loss(plus), loss(minus)), mx::array(2 * eps));
    mx::eval({analytic, numeric});
    auto out = Napi::Object::New(env);
    out.Set("analytic", analytic.item<float>());
    out.Set("numeric", numeric.item<float>());
    return out;
  }
}

Napi::Value Model::Derive(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto s = state(env);
  auto config = ObjectArg(info, 0, "config");
  if (!config.Get("unet").IsObject()) throw Napi::TypeError::New(env, "config.unet must be an object");
  auto derived = std::make_shared<ModelState>();
  derived->unet = UNetConfigFromJs(config.Get("unet").As<Napi::Object>());
  derived->prec = PreconditioningFromJs(config);
  check_unet_params(s->params, derived->unet);
  derived->params = s->params;
  return Wrap(env, derived);
}

Napi::Value Model::InheritFrom(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto s = state(env);
  if (info.Length() < 1 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(constructor.Value())) {
    throw Napi::TypeError::New(env, "teacher must be a Model");
  }
  auto teacher = Napi::ObjectWrap<Model>::Unwrap(info[0].As<Napi::Object>())->state(env);
  const auto opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  const bool narrow = BoolField(opts, "options", "narrow", false);
  auto inherited = inherit_params(s->params, s->unet, teacher->params, teacher->unet, narrow);
  // A new state rather than an edit of the shared one: a sample or measureStep in flight, and
  // any Model derived from this one, keep the weights they started with.
  auto next = std::make_shared<ModelState>(*s);
  next->params = std::move(inherited.params);
  state_ = next;
  auto out = Napi::Object::New(env);
  out.Set("copied", static_cast<double>(inherited.copied));
  out.Set("narrowed", static_cast<double>(inherited.narrowed));
  out.Set("total", static_cast<double>(inherited.total));
  out.Set("copiedParameters", static_cast<double>(inherited.copied_parameters));
  out.Set("totalParameters", static_cast<double>(inherited.total_parameters));
  return out;
}

namespace {
// The preconditioning for images of spec.height x spec.width (absent or 0: sample_size): a
// resolution-shifted schedule is shifted at that size, as `generate` shifts it.
Preconditioning PrecAtSize(const ModelState& s, const Napi::Object& spec) {
  Preconditioning p = s.prec;
  const int height = IntField(spec, "spec", "height", 0, 0, 4096);
  const int width = IntField(spec, "spec", "width", 0, 0, 4096);
  p.schedule = at_resolution(p.schedule, height > 0 ? height : s.unet.sample_size,
                             width > 0 ? width : s.unet.sample_size);
  return p;
}
}  // namespace

Napi::Value Model::SigmaRange(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto s = state(env);
  const auto size = info.Length() > 0 && info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
  Denoiser d(PrecAtSize(*s, size), NetworkFn{});
  auto out = Napi::Object::New(env);
  out.Set("sigmaMin", d.sigma_min());
  out.Set("sigmaMax", d.sigma_max());
  return out;
}

Napi::Value Model::ScheduleSigmas(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "spec");
  auto s = state(env);
  if (!o.Get("sampler").IsString()) throw Napi::TypeError::New(env, "spec.sampler must be a sampler name");
  const auto sampler = parse_sampler(o.Get("sampler").As<Napi::String>().Utf8Value());
  const int steps = IntField(o, "spec", "steps", 0, 1, 100000);
  ScheduleSpec spec;
  spec.kind = o.Has("schedule") && !o.Get("schedule").IsUndefined() ? StringField(o, "spec", "schedule") : "default";
  spec.sigma_max = NumberField(o, "spec", "sigmaMax", 0, 0);
  spec.rho = NumberField(o, "spec", "rho", 7.0, 0);
  Denoiser d(PrecAtSize(*s, o), NetworkFn{});
  const auto sigmas = make_sigmas(d, sampler, steps, spec);
  auto out = Napi::Array::New(env, sigmas.size());
  for (uint32_t i = 0; i < sigmas.size(); ++i) out.Set(i, sigmas[i]);
  return out;
}

Napi::Value Model::LearnSchedule(const Napi::CallbackInfo& info) {
  return LearnModelSchedule(info, state(info.Env()));
}

Napi::Value Model::Dispose(const Napi::CallbackInfo& info) {
  state_.reset();
  return info.Env().Undefined();
}

void InitModel(Napi::Env env, Napi::Object exports) { exports.Set("Model", Model::Define(env)); }

}  // namespace anneal::addon
