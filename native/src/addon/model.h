#pragma once

#include <napi.h>

#include <memory>

#include "addon/errors.h"
#include "engine/denoiser.h"
#include "engine/unet.h"

namespace anneal::addon {

struct ModelState {
  Params params;
  UNetConfig unet;
  Preconditioning prec;
};

// JS class Model: a U-Net's parameters plus its configuration.
class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::FunctionReference constructor;
  explicit Model(const Napi::CallbackInfo& info);
  std::shared_ptr<ModelState> state(Napi::Env env) const;
  // Wraps existing state in a new JS Model.
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<ModelState> state);

 private:
  Napi::Value ParameterCount(const Napi::CallbackInfo& info);
  Napi::Value ParameterNames(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value Cost(const Napi::CallbackInfo& info);
  Napi::Value MeasureStep(const Napi::CallbackInfo& info);
  Napi::Value Sample(const Napi::CallbackInfo& info);
  Napi::Value GradientCheck(const Napi::CallbackInfo& info);
  Napi::Value Derive(const Napi::CallbackInfo& info);
  Napi::Value InheritFrom(const Napi::CallbackInfo& info);
  Napi::Value SigmaRange(const Napi::CallbackInfo& info);
  Napi::Value ScheduleSigmas(const Napi::CallbackInfo& info);
  Napi::Value LearnSchedule(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  // A method run inside Guard (addon/errors.h), so its exceptions reach JS with a code.
  template <Napi::Value (Model::*M)(const Napi::CallbackInfo&)>
  Napi::Value Guarded(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&] { return (this->*M)(info); });
  }
  void Construct(const Napi::CallbackInfo& info);

  std::shared_ptr<ModelState> state_;
};

}  // namespace anneal::addon
