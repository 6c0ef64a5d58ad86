// The denoiser wrapper (engine/denoiser.h) without a U-Net, so tests can check each
// parameterization's scalings and its network-space target against their definitions.
// config is a model config ({parameterization, sigma_data?, sigma_min?, schedule?}).
// denoiser.scalings(config, sigma: Float32Array [B]): sync -> {cSkip, cOut, cIn, cNoise}, each
//   a Float32Array [B].
// denoiser.target(config, xNoisy, x0, sigma, shape): sync -> Float32Array: the network-space
//   regression target (x0 - c_skip x) / c_out. Throws ANNEAL_INVALID_ARGUMENT for consistency
//   models, which have none.
// denoiser.denoise(config, x, sigma, networkOutput, shape): sync -> {denoised, networkInput,
//   cNoise}: D(x; sigma) computed by the Denoiser around a network that returns
//   networkOutput; networkInput and cNoise are what the Denoiser passed that network.
// denoiser.minSnrWeight(config, sigma, gamma): sync -> Float32Array [B]: the per-example
//   weight the denoising objective puts on the network-space MSE under min-SNR loss
//   weighting. Throws ANNEAL_INVALID_ARGUMENT for EDM and consistency models or gamma <= 0.
// x, xNoisy, x0, networkOutput: Float32Array of shape [B, H, W, C]; sigma: Float32Array [B].
// A bad argument throws TypeError/RangeError with code ANNEAL_INVALID_ARGUMENT (addon/errors.h).
#include "addon/convert.h"
#include "addon/module.h"
#include "addon/worker.h"
#include "engine/denoiser.h"
#include "engine/objective.h"

namespace anneal::addon {
namespace {

mx::Shape ShapeArg(const Napi::CallbackInfo& info, std::size_t i) {
  if (info.Length() <= i || !info[i].IsArray() || info[i].As<Napi::Array>().Length() != 4) {
    throw Napi::TypeError::New(info.Env(), "shape must be [B, H, W, C]");
  }
  auto a = info[i].As<Napi::Array>();
  mx::Shape shape;
  for (uint32_t k = 0; k < 4; ++k) {
    auto v = a.Get(k);
    if (!v.IsNumber() || v.As<Napi::Number>().Int32Value() < 1) {
      throw Napi::RangeError::New(info.Env(), "shape must be [B, H, W, C] of positive integers");
    }
    shape.push_back(v.As<Napi::Number>().Int32Value());
  }
  return shape;
}

Napi::Value Scalings(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto prec = PreconditioningFromJs(ObjectArg(info, 0, "config"));
  if (info.Length() <= 1 || !info[1].IsTypedArray()) {
    throw Napi::TypeError::New(env, "sigma must be a Float32Array");
  }
  const int b = static_cast<int>(info[1].As<Napi::TypedArray>().ElementLength());
  auto sigma = Float32ArrayToMx(info[1], "sigma", {b});
  auto s = scalings(prec, DiscreteSigmas(prec.schedule), sigma);
  auto out = Napi::Object::New(env);
  out.Set("cSkip", MxToFloat32Array(env, s.c_skip));
  out.Set("cOut", MxToFloat32Array(env, s.c_out));
  out.Set("cIn", MxToFloat32Array(env, s.c_in));
  out.Set("cNoise", MxToFloat32Array(env, s.c_noise));
  return out;
}

Napi::Value MinSnrWeight(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto prec = PreconditioningFromJs(ObjectArg(info, 0, "config"));
  if (info.Length() <= 1 || !info[1].IsTypedArray()) {
    throw Napi::TypeError::New(env, "sigma must be a Float32Array");
  }
  const int b = static_cast<int>(info[1].As<Napi::TypedArray>().ElementLength());
  auto sigma = Float32ArrayToMx(info[1], "sigma", {b});
  const double gamma = NumberArg(info, 2, "gamma");
  return MxToFloat32Array(env, min_snr_weight(prec.kind, sigma, gamma));
}

// A network that ignores its input and returns `output`, recording what it was given.
struct Recorded {
  std::optional<mx::array> input, c_noise;
};

Napi::Value Target(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto prec = PreconditioningFromJs(ObjectArg(info, 0, "config"));
  auto shape = ShapeArg(info, 4);
  auto x_noisy = Float32ArrayToMx(info[1], "xNoisy", shape);
  auto x0 = Float32ArrayToMx(info[2], "x0", shape);
  auto sigma = Float32ArrayToMx(info[3], "sigma", {shape[0]});
  // network_target uses only the scalings; the network is never called.
  Denoiser d(prec, [](const mx::array& x, const mx::array&, const std::optional<mx::array>&) {
    return x;
  });
  return MxToFloat32Array(env, d.network_target(x_noisy, x0, sigma));
}

Napi::Value Denoise(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto prec = PreconditioningFromJs(ObjectArg(info, 0, "config"));
  auto shape = ShapeArg(info, 4);
  auto x = Float32ArrayToMx(info[1], "x", shape);
  auto sigma = Float32ArrayToMx(info[2], "sigma", {shape[0]});
  auto output = Float32ArrayToMx(info[3], "networkOutput", shape);
  auto seen = std::make_shared<Recorded>();
  Denoiser d(prec, [output, seen](const mx::array& in, const mx::array& c_noise,
                                   const std::optional<mx::array>&) {
    seen->input = in;
    seen->c_noise = c_noise;
    return output;
  });
  auto denoised = d(x, sigma);
  auto out = Napi::Object::New(env);
  out.Set("denoised", MxToFloat32Array(env, denoised));
  out.Set("networkInput", MxToFloat32Array(env, *seen->input));
  out.Set("cNoise", MxToFloat32Array(env, *seen->c_noise));
  return out;
}

}  // namespace

void InitDenoiser(Napi::Env env, Napi::Object exports) {
  auto d = Napi::Object::New(env);
  d.Set("scalings", Napi::Function::New(env, Guarded<Scalings>, "scalings"));
  d.Set("target", Napi::Function::New(env, Guarded<Target>, "target"));
  d.Set("minSnrWeight", Napi::Function::New(env, Guarded<MinSnrWeight>, "minSnrWeight"));
  d.Set("denoise", Napi::Function::New(env, Guarded<Denoise>, "denoise"));
  exports.Set("denoiser", d);
}

}  // namespace anneal::addon
