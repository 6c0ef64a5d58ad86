#include "addon/convert.h"

#include "addon/worker.h"

namespace anneal::addon {

namespace {

Napi::Value Field(const Napi::Object& o, const char* field) { return o.Has(field) ? o.Get(field) : o.Env().Undefined(); }

std::string StrField(const Napi::Object& o, const char* owner, const char* field, const std::string& fallback) {
  auto v = Field(o, field);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string(owner) + "." + field + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::vector<int> IntArrayField(const Napi::Object& o, const char* owner, const char* field) {
  auto v = Field(o, field);
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string(owner) + "." + field + " must be an array of integers");
  auto a = v.As<Napi::Array>();
  std::vector<int> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    auto e = a.Get(i);
    if (!e.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(owner) + "." + field + " must be an array of integers");
    out.push_back(e.As<Napi::Number>().Int32Value());
  }
  return out;
}

}  // namespace

std::vector<double> NumberArrayField(const Napi::Object& o, const char* owner, const char* field) {
  auto v = Field(o, field);
  const std::string what = std::string(owner) + "." + field + " must be an array of numbers";
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), what);
  auto a = v.As<Napi::Array>();
  std::vector<double> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    auto e = a.Get(i);
    if (!e.IsNumber()) throw Napi::TypeError::New(o.Env(), what);
    out.push_back(e.As<Napi::Number>().DoubleValue());
  }
  return out;
}

std::vector<std::string> StringArrayField(const Napi::Object& o, const char* owner, const char* field) {
  auto v = Field(o, field);
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string(owner) + "." + field + " must be an array of strings");
  auto a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    auto e = a.Get(i);
    if (!e.IsString()) throw Napi::TypeError::New(o.Env(), std::string(owner) + "." + field + " must be an array of strings");
    out.push_back(e.As<Napi::String>().Utf8Value());
  }
  return out;
}

UNetConfig UNetConfigFromJs(const Napi::Object& o) {
  const char* k = "unet";
  UNetConfig c;
  c.sample_size = IntField(o, k, "sample_size", c.sample_size, 1);
  c.in_channels = IntField(o, k, "in_channels", c.in_channels, 1);
  c.out_channels = IntField(o, k, "out_channels", c.out_channels, 1);
  c.block_out_channels = IntArrayField(o, k, "block_out_channels");
  c.layers_per_block = IntField(o, k, "layers_per_block", c.layers_per_block, 1);
  c.down_block_types = StringArrayField(o, k, "down_block_types");
  c.up_block_types = StringArrayField(o, k, "up_block_types");
  c.attention_head_dim = IntField(o, k, "attention_head_dim", c.attention_head_dim, 1);
  c.norm_num_groups = IntField(o, k, "norm_num_groups", c.norm_num_groups, 1);
  c.norm_eps = static_cast<float>(NumberField(o, k, "norm_eps", c.norm_eps, 0));
  c.add_attention = BoolField(o, k, "add_attention", c.add_attention);
  auto classes = Field(o, "num_class_embeds");
  c.num_class_embeds = classes.IsNumber() ? classes.As<Napi::Number>().Int32Value() : 0;
  c.dropout = static_cast<float>(NumberField(o, k, "dropout", c.dropout, 0));
  c.flip_sin_to_cos = BoolField(o, k, "flip_sin_to_cos", c.flip_sin_to_cos);
  c.freq_shift = static_cast<float>(NumberField(o, k, "freq_shift", c.freq_shift));
  c.downsample_padding = IntField(o, k, "downsample_padding", c.downsample_padding, 0);
  c.mid_block_scale_factor = static_cast<float>(NumberField(o, k, "mid_block_scale_factor", c.mid_block_scale_factor));
  c.center_input_sample = BoolField(o, k, "center_input_sample", c.center_input_sample);
  c.linear_attention = BoolField(o, k, "linear_attention", c.linear_attention);
  try {
    c.validate();
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(o.Env(), e.what());
  }
  return c;
}

Preconditioning PreconditioningFromJs(const Napi::Object& m) {
  Preconditioning p;
  try {
    p.kind = parse_parameterization(StrField(m, "config", "parameterization", "eps"));
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(m.Env(), std::string("config.parameterization: ") + e.what());
  }
  p.sigma_data = NumberField(m, "config", "sigma_data", p.sigma_data, 0);
  p.sigma_min = NumberField(m, "config", "sigma_min", p.sigma_min, 0);
  // A consistency model's own block: the network inside f and the boundary sigma_min (it
  // takes precedence over the top-level EDM field). f needs no sigma_data (engine/denoiser.h).
  auto cm = Field(m, "consistency");
  if (cm.IsObject()) {
    auto co = cm.As<Napi::Object>();
    const std::string inner = StrField(co, "config.consistency", "inner", "v");
    if (inner == "eps") p.inner = Parameterization::Eps;
    else if (inner == "v") p.inner = Parameterization::V;
    else if (inner == "x0") p.inner = Parameterization::X0;
    else throw Napi::TypeError::New(m.Env(), "config.consistency.inner must be eps, v or x0");
    p.sigma_min = NumberField(co, "config.consistency", "sigma_min", p.sigma_min, 0);
  }
  if (!(p.sigma_min > 0)) throw Napi::RangeError::New(m.Env(), "config.sigma_min must be positive");
  if (!(p.sigma_data > 0)) throw Napi::RangeError::New(m.Env(), "config.sigma_data must be positive");
  auto s = Field(m, "schedule");
  if (s.IsObject()) {
    auto so = s.As<Napi::Object>();
    p.schedule.kind = StrField(so, "schedule", "kind", p.schedule.kind);
    p.schedule.timesteps = IntField(so, "schedule", "timesteps", p.schedule.timesteps, 2);
    p.schedule.beta_start = NumberField(so, "schedule", "beta_start", p.schedule.beta_start, 0);
    p.schedule.beta_end = NumberField(so, "schedule", "beta_end", p.schedule.beta_end, 0);
    p.schedule.shift_base = IntField(so, "schedule", "shift_base", 0, 0);
  }
  if (p.schedule.shift_base > 0) {
    if (p.kind == Parameterization::Edm) {
      throw Napi::TypeError::New(m.Env(),
                                 "config.schedule.shift_base: the resolution shift applies to VP parameterizations "
                                 "(eps, v, x0, consistency over one); EDM draws its sigmas log-normally");
    }
    // The model's own resolution fixes its shift; training at other sizes (progressive or
    // multi-resolution) rescales per batch (at_resolution in the denoising objective).
    auto unet = Field(m, "unet");
    const int size = unet.IsObject() ? IntField(unet.As<Napi::Object>(), "config.unet", "sample_size", 0, 1) : 0;
    if (size > 0) p.schedule = at_resolution(p.schedule, size, size);
  }
  try {
    DiscreteSigmas check(p.schedule);
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(m.Env(), std::string("config.schedule: ") + e.what());
  }
  return p;
}

AttentionExec AttentionExecFromJs(const Napi::Value& v, const std::string& owner) {
  AttentionExec exec;
  if (v.IsUndefined() || v.IsNull()) return exec;
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), owner + " must be an object {kind, slice}");
  auto o = v.As<Napi::Object>();
  try {
    exec.kind = parse_attention_kind(StrField(o, owner.c_str(), "kind", "fused"));
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(v.Env(), owner + ".kind: " + e.what());
  }
  if (exec.kind == AttentionKind::Sliced) {
    if (Field(o, "slice").IsUndefined()) throw Napi::TypeError::New(v.Env(), owner + ".slice is required for sliced attention");
    exec.slice = IntField(o, owner.c_str(), "slice", 1, 1);
  }
  return exec;
}

GenerateSpec GenerateSpecFromJs(const Napi::Object& o) {
  GenerateSpec s;
  // Absent fields keep GenerateSpec's defaults (generate.h): the native side's one definition.
  try {
    const std::string sampler = StrField(o, "spec", "sampler", "");
    if (!sampler.empty()) s.sampler = parse_sampler(sampler);
  } catch (const std::exception& e) {
    throw Napi::TypeError::New(o.Env(), std::string("spec.sampler: ") + e.what());
  }
  s.steps = IntField(o, "spec", "steps", s.steps, 1);
  s.n = IntField(o, "spec", "n", s.n, 1);
  s.height = IntField(o, "spec", "height", s.height, 0, 4096);
  s.width = IntField(o, "spec", "width", s.width, 0, 4096);
  s.seed = static_cast<std::uint64_t>(LongField(o, "spec", "seed", static_cast<long>(s.seed)));
  s.class_label = IntField(o, "spec", "classLabel", s.class_label, -1);
  s.guidance = NumberField(o, "spec", "guidance", s.guidance, 0);
  s.eta = NumberField(o, "spec", "eta", s.eta, 0);
  s.chunk = IntField(o, "spec", "chunk", s.chunk, 1);
  s.first_chunk = IntField(o, "spec", "firstChunk", s.first_chunk, 0);
  s.schedule.kind = StrField(o, "spec", "schedule", s.schedule.kind);
  s.clip_denoised = BoolField(o, "spec", "clipDenoised", s.clip_denoised);
  const std::string dtype = StrField(o, "spec", "dtype", "float32");
  if (dtype == "float32") s.dtype = mx::float32;
  else if (dtype == "bfloat16") s.dtype = mx::bfloat16;
  else if (dtype == "float16") s.dtype = mx::float16;
  else throw Napi::TypeError::New(o.Env(), "spec.dtype must be float32, bfloat16 or float16");
  s.schedule.rho = NumberField(o, "spec", "rho", s.schedule.rho, 0);
  s.schedule.sigma_max = NumberField(o, "spec", "sigmaMax", s.schedule.sigma_max, 0);
  // No lower bound here: the one check below says "> 0" for 0 and negatives alike (NaN too).
  s.rtol = NumberField(o, "spec", "rtol", s.rtol);
  s.atol = NumberField(o, "spec", "atol", s.atol);
  if (!(s.rtol > 0)) throw Napi::RangeError::New(o.Env(), "spec.rtol must be > 0");
  if (!(s.atol > 0)) throw Napi::RangeError::New(o.Env(), "spec.atol must be > 0");
  s.attention = AttentionExecFromJs(Field(o, "attention"), "spec.attention");
  if (!Field(o, "sigmas").IsUndefined()) {
    s.schedule.sigmas = NumberArrayField(o, "spec", "sigmas");
    s.schedule.kind = "explicit";
  }
  return s;
}

mx::array Float32ArrayToMx(const Napi::Value& v, const char* name, const mx::Shape& shape) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a Float32Array");
  }
  auto data = v.As<Napi::Float32Array>();
  std::size_t n = 1;
  for (int d : shape) n *= static_cast<std::size_t>(d);
  if (n != data.ElementLength()) {
    throw Napi::RangeError::New(v.Env(), std::string(name) + " has " + std::to_string(data.ElementLength()) +
                                             " elements, the shape needs " + std::to_string(n));
  }
  return mx::array(data.Data(), shape, mx::float32);
}

Napi::Float32Array MxToFloat32Array(Napi::Env env, const mx::array& a_in) {
  auto a = mx::contiguous(mx::astype(a_in, mx::float32));
  mx::eval(a);
  auto out = Napi::Float32Array::New(env, a.size());
  std::copy(a.data<float>(), a.data<float>() + a.size(), out.Data());
  return out;
}

}  // namespace anneal::addon
