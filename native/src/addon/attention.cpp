// attention.run(options): async -> Promise<{seconds, peakBytes, baselineBytes, workingBytes,
//   q?, k?, v?, output?, dq?, dk?, dv?}>. One attention operation alone
//   (engine/attention_measure.h):
//   options {batch, heads, tokens, headDim, kind: "fused" | "sliced" | "linear", slice,
//   checkpoint (default true), backward (default false), compile (default false: forward +
//   backward through mx::compile), dtype (default "float32": the dtype the op computes in),
//   inputDtype (default dtype: the drawn inputs are rounded to it first), seed (>= 0),
//   iterations (default 1; 0: one untimed run), keepValues (default false: the inputs, output
//   and gradients come back as Float32Arrays only when asked)}.
// attention.bytes(options): sync -> {kept, transient, total}: what the operation holds beyond
//   its inputs and output (engine/attention.h, attention_bytes): {batch, heads, tokens,
//   headDim, kind, slice, checkpoint, training, dtypeBytes (default 4)}.
// attention.unetBytes(options): sync -> {kept, transient, total} of a U-Net's softmax attention
//   layers (engine/unet.h, unet_attention_bytes): {unet, batch, height?, width? (default the
//   config's sample_size), kind, slice, training, dtypeBytes}.
// attention.choose(options): sync -> {kind, slice?, bytes: {kept, transient, total},
//   fusedBytes: {...}}: how attention should execute (engine/unet.h, choose_attention) for
//   {unet, batch, height?, width?, training, availableBytes, dtypeBytes}.
// A bad option throws TypeError/RangeError with code ANNEAL_INVALID_ARGUMENT (addon/errors.h);
// the engine's errors reject the promise with their code.
#include "addon/convert.h"
#include "addon/module.h"
#include "addon/worker.h"
#include "engine/attention_measure.h"
#include "engine/unet.h"

namespace anneal::addon {
namespace {

struct Parsed {
  AttentionShape shape;
  AttentionExec exec;
  bool linear = false;
};

Parsed ParseKind(const Napi::Object& o) {
  auto env = o.Env();
  Parsed p;
  p.shape.batch = IntField(o, "options", "batch", 1, 1);
  p.shape.heads = IntField(o, "options", "heads", 1, 1);
  p.shape.tokens = IntField(o, "options", "tokens", 1, 1);
  p.shape.head_dim = IntField(o, "options", "headDim", 8, 1);
  const bool given = o.Has("kind") && !o.Get("kind").IsUndefined();
  if (given && !o.Get("kind").IsString()) {
    throw Napi::TypeError::New(env, "options.kind must be a string");
  }
  const std::string kind = given ? o.Get("kind").As<Napi::String>().Utf8Value() : "fused";
  if (kind == "linear") {
    p.linear = true;
    return p;
  }
  try {
    p.exec.kind = parse_attention_kind(kind);
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(env, std::string("options.kind: ") + e.what() + " (or \"linear\")");
  }
  if (p.exec.kind == AttentionKind::Sliced) {
    p.exec.slice = IntField(o, "options", "slice", 0, 1);
    if (!o.Has("slice")) {
      throw Napi::TypeError::New(env, "options.slice is required for sliced attention");
    }
  }
  if (o.Has("checkpoint")) p.exec.checkpoint = o.Get("checkpoint").ToBoolean();
  return p;
}

mx::Dtype DtypeField(const Napi::Object& o, const char* key, mx::Dtype fallback) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return fallback;
  const auto value = o.Get(key);
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "float32") return mx::float32;
  if (name == "bfloat16") return mx::bfloat16;
  if (name == "float16") return mx::float16;
  throw Napi::TypeError::New(o.Env(), std::string("options.") + key +
                                          " must be \"float32\", \"bfloat16\" or \"float16\"");
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  auto o = ObjectArg(info, 0, "options");
  auto p = ParseKind(o);
  AttentionRunSpec spec;
  spec.shape = p.shape;
  spec.exec = p.exec;
  spec.linear = p.linear;
  spec.backward = o.Has("backward") && o.Get("backward").ToBoolean();
  const auto seed = LongField(o, "options", "seed", 0);
  if (seed < 0) throw Napi::RangeError::New(info.Env(), "options.seed must be >= 0");
  spec.seed = static_cast<std::uint64_t>(seed);
  spec.compile = o.Has("compile") && o.Get("compile").ToBoolean();
  spec.dtype = DtypeField(o, "dtype", mx::float32);
  spec.input_dtype = DtypeField(o, "inputDtype", spec.dtype);
  spec.iterations = IntField(o, "options", "iterations", 1, 0);
  spec.keep_values = o.Has("keepValues") && o.Get("keepValues").ToBoolean();
  return PromiseWorker<AttentionRunResult>::Run(
      info.Env(), [spec] { return run_attention(spec); },
      [](Napi::Env env, const AttentionRunResult& r) {
        auto out = Napi::Object::New(env);
        out.Set("seconds", r.seconds);
        out.Set("peakBytes", Bytes(env, r.peak_bytes));
        out.Set("baselineBytes", Bytes(env, r.baseline_bytes));
        out.Set("workingBytes", Bytes(env, r.working_bytes()));
        if (r.q) out.Set("q", MxToFloat32Array(env, *r.q));
        if (r.k) out.Set("k", MxToFloat32Array(env, *r.k));
        if (r.v) out.Set("v", MxToFloat32Array(env, *r.v));
        if (r.output) out.Set("output", MxToFloat32Array(env, *r.output));
        if (r.dq) out.Set("dq", MxToFloat32Array(env, *r.dq));
        if (r.dk) out.Set("dk", MxToFloat32Array(env, *r.dk));
        if (r.dv) out.Set("dv", MxToFloat32Array(env, *r.dv));
        return out;
      });
}

Napi::Object BytesToJs(Napi::Env env, const AttentionBytes& b) {
  auto out = Napi::Object::New(env);
  out.Set("kept", b.kept);
  out.Set("transient", b.transient);
  out.Set("total", b.total());
  return out;
}

Napi::Value OpBytes(const Napi::CallbackInfo& info) {
  auto o = ObjectArg(info, 0, "options");
  auto p = ParseKind(o);
  if (p.linear) {
    throw Napi::TypeError::New(info.Env(),
                               "options.kind: bytes are modelled for fused and sliced attention");
  }
  const bool training = o.Has("training") && o.Get("training").ToBoolean();
  const int dtype_bytes = IntField(o, "options", "dtypeBytes", 4, 1);
  return BytesToJs(info.Env(), attention_bytes(p.shape, p.exec, training, dtype_bytes));
}

UNetConfig UNetArg(const Napi::Object& o) {
  if (!o.Get("unet").IsObject()) {
    throw Napi::TypeError::New(o.Env(), "options.unet must be an object");
  }
  return UNetConfigFromJs(o.Get("unet").As<Napi::Object>());
}

AttentionWorkload WorkloadFromJs(const Napi::Object& o) {
  AttentionWorkload w;
  w.batch = IntField(o, "options", "batch", 1, 1);
  w.height = IntField(o, "options", "height", 0, 0);
  w.width = IntField(o, "options", "width", 0, 0);
  w.training = o.Has("training") && o.Get("training").ToBoolean();
  w.dtype_bytes = IntField(o, "options", "dtypeBytes", 4, 1);
  return w;
}

Napi::Value UNetBytes(const Napi::CallbackInfo& info) {
  auto o = ObjectArg(info, 0, "options");
  auto unet = UNetArg(o);
  auto exec = AttentionExecFromJs(o, "options");
  return BytesToJs(info.Env(), unet_attention_bytes(unet, WorkloadFromJs(o), exec));
}

Napi::Value Choose(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = ObjectArg(info, 0, "options");
  auto unet = UNetArg(o);
  const auto work = WorkloadFromJs(o);
  if (!o.Has("availableBytes")) {
    throw Napi::TypeError::New(env, "options.availableBytes is required");
  }
  const double available = NumberField(o, "options", "availableBytes", 0, 0);
  auto exec = choose_attention(unet, work, available);
  auto out = Napi::Object::New(env);
  out.Set("kind", attention_kind_name(exec.kind));
  if (exec.kind == AttentionKind::Sliced) out.Set("slice", exec.slice);
  out.Set("bytes", BytesToJs(env, unet_attention_bytes(unet, work, exec)));
  out.Set("fusedBytes", BytesToJs(env, unet_attention_bytes(unet, work, AttentionExec{})));
  return out;
}

}  // namespace

void InitAttention(Napi::Env env, Napi::Object exports) {
  auto a = Napi::Object::New(env);
  a.Set("run", Napi::Function::New(env, Guarded<Run>, "run"));
  a.Set("bytes", Napi::Function::New(env, Guarded<OpBytes>, "bytes"));
  a.Set("unetBytes", Napi::Function::New(env, Guarded<UNetBytes>, "unetBytes"));
  a.Set("choose", Napi::Function::New(env, Guarded<Choose>, "choose"));
  exports.Set("attention", a);
}

}  // namespace anneal::addon
