// One templated AsyncWorker for every asynchronous binding: runs `work` off the JS thread
// and settles a promise with `toJs(result)`, or rejects it with the std::exception's message.
#pragma once

#include <napi.h>

#include <exception>
#include <functional>
#include <string>
#include <utility>

namespace anneal::addon {

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using ToJs = std::function<Napi::Value(Napi::Env, const Result&)>;

  PromiseWorker(Napi::Env env, Work work, ToJs to_js)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), to_js_(std::move(to_js)) {}

  // Queues the worker and returns its promise.
  static Napi::Promise Run(Napi::Env env, Work work, ToJs to_js) {
    auto* w = new PromiseWorker(env, std::move(work), std::move(to_js));
    auto promise = w->deferred_.Promise();
    w->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      result_ = work_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }

  void OnOK() override {
    try {
      deferred_.Resolve(to_js_(Env(), result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  ToJs to_js_;
  Result result_{};
};

// Argument checks that throw TypeErrors naming the argument.
inline Napi::Object ObjectArg(const Napi::CallbackInfo& info, std::size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsObject()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an object");
  }
  return info[i].As<Napi::Object>();
}

inline std::string StringArg(const Napi::CallbackInfo& info, std::size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

inline double NumberArg(const Napi::CallbackInfo& info, std::size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  return info[i].As<Napi::Number>().DoubleValue();
}

// Reads an optional numeric field; throws a TypeError naming `owner.field` if it has the
// wrong type or is out of range.
inline double NumberField(const Napi::Object& obj, const char* owner, const char* field,
                          double fallback, double min = -1e300) {
  auto env = obj.Env();
  if (!obj.Has(field) || obj.Get(field).IsUndefined()) return fallback;
  auto v = obj.Get(field);
  if (!v.IsNumber()) {
    throw Napi::TypeError::New(env, std::string(owner) + "." + field + " must be a number");
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min)) {
    throw Napi::RangeError::New(env, std::string(owner) + "." + field + " must be >= " +
                                         std::to_string(static_cast<long long>(min)));
  }
  return d;
}

// JS numbers are exact to 2^53, enough for byte counts.
inline Napi::Value Bytes(Napi::Env env, std::size_t v) {
  return Napi::Number::New(env, static_cast<double>(v));
}

}  // namespace anneal::addon
