#include "addon/errors.h"

#include <filesystem>
#include <new>
#include <stdexcept>

#include "engine/errors.h"
#include "engine/memory.h"

namespace anneal::addon {

NativeError Classify(std::exception_ptr e) {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const FileNotFoundError& x) {
    return {"ANNEAL_NOT_FOUND", x.what()};
  } catch (const FileError& x) {
    return {"ANNEAL_IO", x.what()};
  } catch (const std::filesystem::filesystem_error& x) {
    return {"ANNEAL_IO", x.what()};
  } catch (const MemoryBudgetError& x) {
    return {"ANNEAL_MEMORY_BUDGET", x.what()};
  } catch (const DivergenceError& x) {
    return {"ANNEAL_DIVERGED", x.what()};
  } catch (const std::bad_alloc& x) {
    return {"ANNEAL_OUT_OF_MEMORY", std::string("out of memory (") + x.what() + ")"};
  } catch (const std::invalid_argument& x) {
    return {"ANNEAL_INVALID_ARGUMENT", x.what()};
  } catch (const std::domain_error& x) {
    return {"ANNEAL_INVALID_ARGUMENT", x.what()};
  } catch (const std::length_error& x) {
    return {"ANNEAL_INVALID_ARGUMENT", x.what()};
  } catch (const std::out_of_range& x) {
    return {"ANNEAL_INVALID_ARGUMENT", x.what()};
  } catch (const std::exception& x) {
    return {"ANNEAL_INTERNAL", x.what()};
  } catch (...) {
    return {"ANNEAL_INTERNAL", "unknown native error"};
  }
}

Napi::Error ToJsError(Napi::Env env, const NativeError& e) {
  auto err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, e.code));
  return err;
}

Napi::Error StateError(Napi::Env env, const std::string& message) {
  return ToJsError(env, {"ANNEAL_INVALID_STATE", message});
}

void TagArgumentError(const Napi::Error& e) {
  try {
    auto v = e.Value();
    if (!v.IsObject()) return;
    auto o = v.As<Napi::Object>();
    if (!o.Has("code")) o.Set("code", Napi::String::New(e.Env(), "ANNEAL_INVALID_ARGUMENT"));
  } catch (...) {
    // A value whose properties cannot be read or set (a Proxy that throws) keeps no code;
    // the original exception still propagates.
  }
}

}  // namespace anneal::addon
