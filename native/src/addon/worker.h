// One templated AsyncWorker for every asynchronous binding: runs `work` off the JS thread
// and settles a promise with `toJs(result)`, or rejects it with an Error carrying the code
// that addon/errors.h assigns to what `work` threw.
#pragma once

#include <napi.h>

#include <climits>
#include <exception>
#include <functional>
#include <string>
#include <utility>

#include "addon/errors.h"

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
    } catch (...) {
      error_ = Classify(std::current_exception());
      SetError(error_.message);
    }
  }

  void OnOK() override {
    try {
      deferred_.Resolve(to_js_(Env(), result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(ToJsError(Env(), Classify(std::current_exception())).Value());
    }
  }

  void OnError(const Napi::Error&) override { deferred_.Reject(ToJsError(Env(), error_).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  ToJs to_js_;
  Result result_{};
  NativeError error_;
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

inline std::string StringField(const Napi::Object& obj, const char* owner, const char* field) {
  auto v = obj.Has(field) ? obj.Get(field) : obj.Env().Undefined();
  if (!v.IsString()) {
    throw Napi::TypeError::New(obj.Env(), std::string(owner) + "." + field + " must be a string");
  }
  return v.As<Napi::String>().Utf8Value();
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

// An integer option: NumberField, also refusing values past `max` (a cast of a larger double
// to int is undefined behaviour). Fractions are truncated.
inline int IntField(const Napi::Object& obj, const char* owner, const char* field, int fallback,
                    int min = 0, int max = INT_MAX) {
  double d = NumberField(obj, owner, field, fallback, min);
  if (!(d <= max)) {
    throw Napi::RangeError::New(obj.Env(), std::string(owner) + "." + field + " must be <= " +
                                               std::to_string(max));
  }
  return static_cast<int>(d);
}

// Like IntField for counts that may pass 2^31 (steps); JS integers are exact to 2^53.
inline long LongField(const Napi::Object& obj, const char* owner, const char* field, long fallback,
                      long min = 0) {
  constexpr double kMax = 9007199254740992.0;  // 2^53
  double d =
      NumberField(obj, owner, field, static_cast<double>(fallback), static_cast<double>(min));
  if (!(d <= kMax)) {
    throw Napi::RangeError::New(obj.Env(), std::string(owner) + "." + field + " must be <= 2^53");
  }
  return static_cast<long>(d);
}

// A boolean field; undefined or null: `fallback`.
inline bool BoolField(const Napi::Object& obj, const char* owner, const char* field, bool fallback) {
  auto v = obj.Has(field) ? obj.Get(field) : obj.Env().Undefined();
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) throw Napi::TypeError::New(obj.Env(), std::string(owner) + "." + field + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

// JS numbers are exact to 2^53, enough for byte counts.
inline Napi::Value Bytes(Napi::Env env, std::size_t v) {
  return Napi::Number::New(env, static_cast<double>(v));
}

}  // namespace anneal::addon

namespace anneal::addon {

// Like PromiseWorker, but `work` receives a `report(progress)` function; each report is
// delivered to `on_progress` (a JS function, optional) on the JS thread, in order.
template <typename Result, typename Progress>
class ProgressPromiseWorker : public Napi::AsyncProgressQueueWorker<Progress> {
 public:
  using Report = std::function<void(const Progress&)>;
  using Work = std::function<Result(const Report&)>;
  using ToJs = std::function<Napi::Value(Napi::Env, const Result&)>;
  using ProgressToJs = std::function<Napi::Value(Napi::Env, const Progress&)>;

  static Napi::Promise Run(Napi::Env env, Napi::Value on_progress, Work work, ToJs to_js, ProgressToJs progress_to_js) {
    auto* w = new ProgressPromiseWorker(env, std::move(work), std::move(to_js), std::move(progress_to_js));
    if (on_progress.IsFunction()) w->callback_ = Napi::Persistent(on_progress.As<Napi::Function>());
    auto promise = w->deferred_.Promise();
    w->Queue();
    return promise;
  }

 protected:
  using ExecutionProgress = typename Napi::AsyncProgressQueueWorker<Progress>::ExecutionProgress;

  void Execute(const ExecutionProgress& progress) override {
    try {
      result_ = work_([&progress](const Progress& p) { progress.Send(&p, 1); });
    } catch (...) {
      error_ = Classify(std::current_exception());
      this->SetError(error_.message);
    }
  }

  void OnProgress(const Progress* data, size_t count) override {
    if (callback_.IsEmpty()) return;
    Napi::HandleScope scope(this->Env());
    for (size_t i = 0; i < count; ++i) {
      try {
        callback_.Call({progress_to_js_(this->Env(), data[i])});
      } catch (...) {
        // A throwing progress callback must not abort native work; the error is dropped.
      }
    }
  }

  void OnOK() override {
    try {
      deferred_.Resolve(to_js_(this->Env(), result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(ToJsError(this->Env(), Classify(std::current_exception())).Value());
    }
  }

  void OnError(const Napi::Error&) override {
    deferred_.Reject(ToJsError(this->Env(), error_).Value());
  }

 private:
  ProgressPromiseWorker(Napi::Env env, Work work, ToJs to_js, ProgressToJs progress_to_js)
      : Napi::AsyncProgressQueueWorker<Progress>(env), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), to_js_(std::move(to_js)), progress_to_js_(std::move(progress_to_js)) {}

  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference callback_;
  Work work_;
  ToJs to_js_;
  ProgressToJs progress_to_js_;
  Result result_{};
  NativeError error_;
};

}  // namespace anneal::addon
