#pragma once

#include <napi.h>

#include "engine/hardware.h"

namespace anneal::addon {

// Each binding file registers its functions on the module's exports.
void InitHardware(Napi::Env env, Napi::Object exports);
void InitMemory(Napi::Env env, Napi::Object exports);
void InitThroughput(Napi::Env env, Napi::Object exports);
void InitOps(Napi::Env env, Napi::Object exports);
void InitAttention(Napi::Env env, Napi::Object exports);
void InitModel(Napi::Env env, Napi::Object exports);
void InitTrainer(Napi::Env env, Napi::Object exports);
void InitSampling(Napi::Env env, Napi::Object exports);
void InitExtractor(Napi::Env env, Napi::Object exports);
void InitDenoiser(Napi::Env env, Napi::Object exports);
void InitDistill(Napi::Env env, Napi::Object exports);
void InitDistributed(Napi::Env env, Napi::Object exports);

// Shared by bindings that return a profile.
Napi::Object HardwareToJs(Napi::Env env, const ::anneal::HardwareProfile& p);

}  // namespace anneal::addon
