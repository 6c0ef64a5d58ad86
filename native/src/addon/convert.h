// Conversions between JS values and engine types, with TypeErrors that name the field.
#pragma once

#include <napi.h>

#include "engine/denoiser.h"
#include "engine/generate.h"
#include "engine/unet.h"

namespace anneal::addon {

UNetConfig UNetConfigFromJs(const Napi::Object& o);
Preconditioning PreconditioningFromJs(const Napi::Object& model_config);
GenerateSpec GenerateSpecFromJs(const Napi::Object& o);
// {kind: "fused" | "sliced", slice} (undefined: fused); `owner` names the field in errors.
AttentionExec AttentionExecFromJs(const Napi::Value& v, const std::string& owner);
std::vector<double> NumberArrayField(const Napi::Object& o, const char* owner, const char* field);
std::vector<std::string> StringArrayField(const Napi::Object& o, const char* owner, const char* field);
mx::array Float32ArrayToMx(const Napi::Value& v, const char* name, const mx::Shape& shape);
Napi::Float32Array MxToFloat32Array(Napi::Env env, const mx::array& a);

}  // namespace anneal::addon
