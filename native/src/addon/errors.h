// How a C++ exception crosses into JS. Every binding entry point runs inside Guard (sync
// functions, methods, constructors) or a worker from worker.h (async), so no exception
// reaches N-API, where it would abort Node. Each becomes a JS Error whose `code` property
// depends only on the exception's type (first match wins):
//
//   Napi::TypeError/RangeError from an argument check    ANNEAL_INVALID_ARGUMENT
//   std::invalid_argument, std::domain_error,
//     std::length_error, std::out_of_range                ANNEAL_INVALID_ARGUMENT
//   anneal::FileNotFoundError                             ANNEAL_NOT_FOUND
//   anneal::FileError, std::filesystem::filesystem_error  ANNEAL_IO
//   anneal::MemoryBudgetError                             ANNEAL_MEMORY_BUDGET
//   anneal::DivergenceError                               ANNEAL_DIVERGED
//   std::bad_alloc                                        ANNEAL_OUT_OF_MEMORY
//   a disposed Model, a Trainer used while it runs        ANNEAL_INVALID_STATE
//   anything else                                         ANNEAL_INTERNAL
//
// MLX reports bad shapes and dtypes with std::invalid_argument, so those arrive as
// ANNEAL_INVALID_ARGUMENT. The message is the exception's what(), unprefixed. The codes are
// mirrored by NativeErrorCode in packages/engine/src/native-types.ts.
#pragma once

#include <napi.h>

#include <exception>
#include <string>
#include <utility>

namespace anneal::addon {

struct NativeError {
  std::string code;
  std::string message;
};

// The code and message for an exception caught with catch (...).
NativeError Classify(std::exception_ptr e);

// An Error with `code` set.
Napi::Error ToJsError(Napi::Env env, const NativeError& e);

// For calls that are valid only in another state (a disposed Model, a running Trainer).
Napi::Error StateError(Napi::Env env, const std::string& message);

// Gives an argument-check error without a code ANNEAL_INVALID_ARGUMENT. N-API's own type
// failures (a string where a number was expected) arrive here too.
void TagArgumentError(const Napi::Error& e);

// Runs `body`, turning whatever it throws into a JS exception with a code.
template <typename Body>
Napi::Value Guard(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error& e) {
    TagArgumentError(e);
    throw;
  } catch (...) {
    throw ToJsError(env, Classify(std::current_exception()));
  }
}

// A free binding function, guarded: Napi::Function::New(env, Guarded<Fn>, "name").
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&] { return F(info); });
}

}  // namespace anneal::addon
