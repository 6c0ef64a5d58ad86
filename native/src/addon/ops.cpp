// ops.matmul(a, aShape, b, bShape): sync; multiplies two float32 matrices through MLX and
// returns {data: Float32Array, shape}. Throws TypeError/RangeError naming a bad argument
// (code ANNEAL_INVALID_ARGUMENT, addon/errors.h).
// A direct path for checking that arrays cross the binding intact.
#include <mlx/mlx.h>

#include "addon/module.h"
#include "addon/worker.h"

namespace mx = mlx::core;

namespace anneal::addon {
namespace {

mx::array MatrixArg(const Napi::CallbackInfo& info, std::size_t i, const char* name) {
  auto env = info.Env();
  if (info.Length() <= i + 1 || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(env, std::string(name) + " must be a Float32Array");
  }
  if (!info[i + 1].IsArray() || info[i + 1].As<Napi::Array>().Length() != 2) {
    throw Napi::TypeError::New(env, std::string(name) + "Shape must be [rows, cols]");
  }
  auto data = info[i].As<Napi::Float32Array>();
  auto shape = info[i + 1].As<Napi::Array>();
  if (!shape.Get(0u).IsNumber() || !shape.Get(1u).IsNumber()) {
    throw Napi::TypeError::New(env, std::string(name) + "Shape must be [rows, cols]");
  }
  int rows = shape.Get(0u).As<Napi::Number>().Int32Value();
  int cols = shape.Get(1u).As<Napi::Number>().Int32Value();
  if (rows < 1 || cols < 1 || static_cast<std::size_t>(rows) * cols != data.ElementLength()) {
    throw Napi::RangeError::New(env, std::string(name) + "Shape does not match " + name +
                                         ".length (" + std::to_string(data.ElementLength()) + ")");
  }
  // Copy: the JS buffer may be collected or mutated while MLX evaluates lazily.
  return mx::array(data.Data(), {rows, cols}, mx::float32);
}

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto a = MatrixArg(info, 0, "a");
  auto b = MatrixArg(info, 2, "b");
  if (a.shape(1) != b.shape(0)) {
    throw Napi::RangeError::New(env, "a's columns (" + std::to_string(a.shape(1)) +
                                         ") must equal b's rows (" + std::to_string(b.shape(0)) + ")");
  }
  auto c = mx::matmul(a, b);
  mx::eval(c);
  auto out = Napi::Float32Array::New(env, c.size());
  std::copy(c.data<float>(), c.data<float>() + c.size(), out.Data());
  auto shape = Napi::Array::New(env, 2);
  shape.Set(0u, c.shape(0));
  shape.Set(1u, c.shape(1));
  auto result = Napi::Object::New(env);
  result.Set("data", out);
  result.Set("shape", shape);
  return result;
}

}  // namespace

void InitOps(Napi::Env env, Napi::Object exports) {
  auto ops = Napi::Object::New(env);
  ops.Set("matmul", Napi::Function::New(env, Guarded<Matmul>, "matmul"));
  exports.Set("ops", ops);
}

}  // namespace anneal::addon
