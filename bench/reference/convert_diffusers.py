"""Converts a diffusers UNet2DModel to Anneal's checkpoint layout (DESIGN.md section 3):

    OUT/model.safetensors  diffusers' state_dict names; conv weights OIHW -> OHWI (MLX layout)
    OUT/config.json        {"format": "anneal-checkpoint", "version": 1, "unet": {...},
                            "parameterization": ..., "schedule": {...}}

The source is a directory written by `UNet2DModel.save_pretrained`, a pipeline directory
holding `unet/` (and maybe `scheduler/`), or an in-memory model (`convert_model`).

    bench/.venv/bin/python bench/reference/convert_diffusers.py SRC OUT
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from diffusers import UNet2DModel
from safetensors.numpy import save_file

FORMAT = "anneal-checkpoint"
VERSION = 1
# DDPM's training schedule (Ho et al. 2020, section 4): used when the source has no scheduler.
DEFAULT_SCHEDULE = {"kind": "linear", "beta_start": 0.0001, "beta_end": 0.02, "timesteps": 1000}
DEFAULT_PARAMETERIZATION = "eps"

# Scheduler `beta_schedule` -> Anneal schedule kind; `prediction_type` -> parameterization.
BETA_SCHEDULES = {"linear": "linear", "squaredcos_cap_v2": "cosine"}
PREDICTION_TYPES = {"epsilon": "eps", "v_prediction": "v", "sample": "x0"}


def _plain(value):
    """FrozenDict/tuple config values -> JSON-friendly dicts/lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def unet_config(model: UNet2DModel) -> dict:
    # Underscored keys (_class_name, _diffusers_version, ...) are bookkeeping, not architecture.
    return {k: _plain(v) for k, v in dict(model.config).items() if not k.startswith("_")}


def schedule_from_scheduler(scheduler_config: dict | None) -> tuple[dict, str]:
    """(schedule, parameterization) from a diffusers scheduler config, or DDPM's defaults."""
    if not scheduler_config:
        return dict(DEFAULT_SCHEDULE), DEFAULT_PARAMETERIZATION
    beta_schedule = scheduler_config.get("beta_schedule", "linear")
    if beta_schedule not in BETA_SCHEDULES:
        raise ValueError(
            f"scheduler `beta_schedule` {beta_schedule!r} has no Anneal equivalent; "
            f"supported: {', '.join(BETA_SCHEDULES)}"
        )
    prediction = scheduler_config.get("prediction_type", "epsilon")
    if prediction not in PREDICTION_TYPES:
        raise ValueError(
            f"scheduler `prediction_type` {prediction!r} is not supported; "
            f"supported: {', '.join(PREDICTION_TYPES)}"
        )
    schedule = {
        "kind": BETA_SCHEDULES[beta_schedule],
        "timesteps": int(scheduler_config.get("num_train_timesteps", 1000)),
    }
    if beta_schedule == "linear":
        schedule["beta_start"] = float(scheduler_config.get("beta_start", 0.0001))
        schedule["beta_end"] = float(scheduler_config.get("beta_end", 0.02))
    return schedule, PREDICTION_TYPES[prediction]


def convert_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """float32 numpy arrays under the same names; 4-D (conv) weights OIHW -> OHWI, which is
    MLX's conv layout (O, kH, kW, I). Linear weights stay (out, in) in both frameworks."""
    out = {}
    for name, tensor in state_dict.items():
        array = tensor.detach().to(torch.float32).cpu().numpy()
        if array.ndim == 4:
            array = array.transpose(0, 2, 3, 1)
        out[name] = np.ascontiguousarray(array)
    return out


def convert_model(model: UNet2DModel, out_dir: str, scheduler_config: dict | None = None) -> dict:
    """Writes OUT/model.safetensors and OUT/config.json; returns the config written."""
    schedule, parameterization = schedule_from_scheduler(scheduler_config)
    config = {
        "format": FORMAT,
        "version": VERSION,
        "unet": unet_config(model),
        "parameterization": parameterization,
        "schedule": schedule,
    }
    os.makedirs(out_dir, exist_ok=True)
    save_file(convert_state_dict(model.state_dict()), os.path.join(out_dir, "model.safetensors"))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    return config


def _read_json(path: str) -> dict | None:
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def load_source(src: str) -> tuple[UNet2DModel, dict | None]:
    """A UNet2DModel directory, or a pipeline directory with unet/ (and maybe scheduler/).
    from_pretrained also renames pre-0.14 attention weights (query/key/value/proj_attn)."""
    if os.path.isfile(os.path.join(src, "unet", "config.json")):
        unet_dir, scheduler = os.path.join(src, "unet"), os.path.join(src, "scheduler")
    elif os.path.isfile(os.path.join(src, "config.json")):
        unet_dir, scheduler = src, os.path.join(src, "..", "scheduler")
    else:
        raise FileNotFoundError(
            f"{src} holds neither config.json nor unet/config.json "
            "(expected a UNet2DModel.save_pretrained directory or a pipeline)"
        )
    config = _read_json(os.path.join(unet_dir, "config.json"))
    if config.get("_class_name", "UNet2DModel") != "UNet2DModel":
        raise ValueError(f"{unet_dir} holds a {config['_class_name']}, not a UNet2DModel")
    model = UNet2DModel.from_pretrained(unet_dir)
    return model, _read_json(os.path.join(scheduler, "scheduler_config.json"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="diffusers UNet2DModel -> Anneal checkpoint")
    parser.add_argument("src", help="UNet2DModel save_pretrained directory or pipeline directory")
    parser.add_argument("out", help="output directory (model.safetensors + config.json)")
    args = parser.parse_args(argv)
    model, scheduler = load_source(args.src)
    config = convert_model(model, args.out, scheduler)
    n = sum(p.numel() for p in model.parameters())
    print(
        json.dumps(
            {
                "out": args.out,
                "params": n,
                "schedule": config["schedule"],
                "parameterization": config["parameterization"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
