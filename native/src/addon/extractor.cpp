// extractor.train(config, training, data, onProgress?): async -> Promise<{heldoutAccuracy,
//   heldoutLoss, heldoutCount, steps}>. Trains a feature network (engine/features.h) on
//   data.train shards, evaluates it on data.heldout and writes its weights to data.out (a
//   .safetensors path). onProgress receives {step, total, loss}. TypeError names a bad
//   argument; the promise rejects if the shards do not match the config.
// extractor.features(config, weights, images, shape): async -> Promise<{features:
//   Float32Array [n*dim], logits: Float32Array [n*classes] (empty for autoencoders), n, dim,
//   classes}>. images: Uint8Array NHWC of `shape` [n, h, w, c].
// config: {kind: 'classifier'|'autoencoder', resolution, width? (images of resolution x width;
//   absent or 0: square), inChannels, channels: number[], featureDim, groups, numClasses}.
//   training: {steps, batchSize, lr, warmupSteps, weightDecay, gradClip, noise, shift, seed}.
// Both throw ANNEAL_INVALID_ARGUMENT synchronously for a bad argument; the promise rejects
// with ANNEAL_NOT_FOUND / ANNEAL_IO for a missing or unreadable file, ANNEAL_INVALID_ARGUMENT
// for weights or shards that do not match the config, ANNEAL_DIVERGED if training diverges
// (addon/errors.h).
#include <cstring>

#include "addon/convert.h"
#include "addon/module.h"
#include "addon/worker.h"
#include "engine/checkpoint.h"
#include "engine/features.h"

namespace anneal::addon {
namespace {

ExtractorConfig ConfigFromJs(const Napi::Object& o) {
  auto env = o.Env();
  ExtractorConfig c;
  if (!o.Get("kind").IsString()) throw Napi::TypeError::New(env, "config.kind must be 'classifier' or 'autoencoder'");
  try {
    c.kind = parse_extractor_kind(o.Get("kind").As<Napi::String>().Utf8Value());
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(env, std::string("config.kind: ") + e.what());
  }
  c.resolution = IntField(o, "config", "resolution", c.resolution, 4);
  c.width = IntField(o, "config", "width", 0, 0);
  c.in_channels = IntField(o, "config", "inChannels", c.in_channels, 1);
  c.feature_dim = IntField(o, "config", "featureDim", c.feature_dim, 1);
  c.groups = IntField(o, "config", "groups", c.groups, 1);
  c.num_classes = IntField(o, "config", "numClasses", c.num_classes, 0);
  if (o.Has("channels")) {
    auto v = o.Get("channels");
    if (!v.IsArray()) throw Napi::TypeError::New(env, "config.channels must be an array of integers");
    auto a = v.As<Napi::Array>();
    c.channels.clear();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      if (!a.Get(i).IsNumber()) throw Napi::TypeError::New(env, "config.channels must be an array of integers");
      c.channels.push_back(a.Get(i).As<Napi::Number>().Int32Value());
    }
  }
  try {
    check_extractor_config(c);
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(env, e.what());
  }
  return c;
}

ExtractorTraining TrainingFromJs(const Napi::Object& o) {
  ExtractorTraining t;
  t.steps = LongField(o, "training", "steps", t.steps, 1);
  t.batch_size = IntField(o, "training", "batchSize", t.batch_size, 1);
  t.lr = NumberField(o, "training", "lr", t.lr, 0);
  t.warmup_steps = LongField(o, "training", "warmupSteps", t.warmup_steps);
  t.weight_decay = NumberField(o, "training", "weightDecay", t.weight_decay, 0);
  t.grad_clip = NumberField(o, "training", "gradClip", t.grad_clip, 0);
  t.noise = NumberField(o, "training", "noise", t.noise, 0);
  t.shift = IntField(o, "training", "shift", t.shift, 0);
  t.seed = static_cast<std::uint64_t>(LongField(o, "training", "seed", 0));
  return t;
}

Napi::Value Train(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto config = ConfigFromJs(ObjectArg(info, 0, "config"));
  auto training = TrainingFromJs(ObjectArg(info, 1, "training"));
  auto data = ObjectArg(info, 2, "data");
  auto train_paths = StringArrayField(data, "data", "train");
  auto heldout_paths = StringArrayField(data, "data", "heldout");
  if (!data.Get("out").IsString()) throw Napi::TypeError::New(env, "data.out must be a string");
  const std::string out = data.Get("out").As<Napi::String>().Utf8Value();
  if (out.size() < 12 || out.substr(out.size() - 12) != ".safetensors") {
    throw Napi::TypeError::New(env, "data.out must end in .safetensors");
  }
  return ProgressPromiseWorker<ExtractorReport, ExtractorProgress>::Run(
      env, info.Length() > 3 ? info[3] : env.Undefined(),
      [=](const std::function<void(const ExtractorProgress&)>& report) {
        // Everything is loaded, trained and saved on this worker thread: MLX streams are
        // per thread, so no lazy array crosses to the JS thread.
        const int classes = config.kind == ExtractorKind::Classifier ? config.num_classes : 0;
        auto train_set = load_shards(train_paths, classes);
        auto heldout_set = load_shards(heldout_paths, classes);
        auto trained = train_extractor(config, training, train_set, heldout_set, report);
        std::unordered_map<std::string, mx::array> arrays(trained.params.begin(), trained.params.end());
        write_safetensors(out, arrays, {{"format", "anneal-extractor"}});
        return trained.report;
      },
      [](Napi::Env env, const ExtractorReport& r) {
        auto o = Napi::Object::New(env);
        o.Set("heldoutAccuracy", r.heldout_accuracy < 0 ? env.Null() : Napi::Number::New(env, r.heldout_accuracy));
        o.Set("heldoutLoss", r.heldout_loss);
        o.Set("heldoutCount", r.heldout_count);
        o.Set("steps", static_cast<double>(r.steps));
        return o;
      },
      [](Napi::Env env, const ExtractorProgress& p) {
        auto o = Napi::Object::New(env);
        o.Set("step", static_cast<double>(p.step));
        o.Set("total", static_cast<double>(p.total));
        o.Set("loss", p.loss);
        return o;
      });
}

Napi::Float32Array ToFloat32(Napi::Env env, const std::vector<float>& v) {
  auto out = Napi::Float32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(out.Data(), v.data(), v.size() * sizeof(float));
  return out;
}

Napi::Value Features(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto config = ConfigFromJs(ObjectArg(info, 0, "config"));
  const std::string weights = StringArg(info, 1, "weights");
  if (info.Length() <= 2 || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, "images must be a Uint8Array");
  }
  auto images = info[2].As<Napi::Uint8Array>();
  if (info.Length() <= 3 || !info[3].IsArray() || info[3].As<Napi::Array>().Length() != 4) {
    throw Napi::TypeError::New(env, "shape must be [n, height, width, channels]");
  }
  auto shape_js = info[3].As<Napi::Array>();
  mx::Shape shape;
  std::size_t total = 1;
  for (uint32_t i = 0; i < 4; ++i) {
    const auto v = shape_js.Get(i);
    if (!v.IsNumber()) {
      throw Napi::TypeError::New(env, "shape must be [n, height, width, channels]");
    }
    const int d = v.As<Napi::Number>().Int32Value();
    if (d < 1) throw Napi::RangeError::New(env, "shape entries must be positive");
    shape.push_back(d);
    total *= static_cast<std::size_t>(d);
  }
  if (total != images.ElementLength()) {
    throw Napi::RangeError::New(env, "shape holds " + std::to_string(total) + " values but images.length is " +
                                         std::to_string(images.ElementLength()));
  }
  // Copied now: the JS buffer may be collected or changed while the worker runs.
  auto pixels = std::make_shared<std::vector<std::uint8_t>>(images.Data(), images.Data() + images.ElementLength());
  return PromiseWorker<Extracted>::Run(
      env,
      [config, weights, pixels, shape]() {
        auto [arrays, meta] = read_safetensors(weights, "extractor weights");
        Params params(arrays.begin(), arrays.end());
        auto expected = init_extractor(config, mx::random::key(0));
        for (const auto& [name, a] : expected) {
          auto it = params.find(name);
          if (it == params.end()) throw std::invalid_argument(weights + " lacks " + name + "; does it match the config?");
          if (it->second.shape() != a.shape()) throw std::invalid_argument(weights + ": " + name + " has the wrong shape for the config");
        }
        auto x = mx::array(pixels->data(), shape, mx::uint8);
        return extract_features(params, config, x);
      },
      [](Napi::Env env, const Extracted& e) {
        auto o = Napi::Object::New(env);
        o.Set("features", ToFloat32(env, e.features));
        o.Set("logits", ToFloat32(env, e.logits));
        o.Set("n", e.n);
        o.Set("dim", e.dim);
        o.Set("classes", e.classes);
        return o;
      });
}

}  // namespace

void InitExtractor(Napi::Env env, Napi::Object exports) {
  auto x = Napi::Object::New(env);
  x.Set("train", Napi::Function::New(env, Guarded<Train>, "train"));
  x.Set("features", Napi::Function::New(env, Guarded<Features>, "features"));
  exports.Set("extractor", x);
}

}  // namespace anneal::addon
