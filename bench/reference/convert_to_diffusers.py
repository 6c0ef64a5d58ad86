"""Loads an Anneal checkpoint (DESIGN.md section 3) into diffusers: the reverse of
convert_diffusers.py.

    DIR/model.safetensors  diffusers' state_dict names; conv weights OHWI (MLX) -> OIHW (PyTorch)
    DIR/config.json        "unet" holds UNet2DModel's arguments; "parameterization" and
                           "schedule" become a scheduler config (prediction_type, betas)

    bench/.venv/bin/python bench/reference/convert_to_diffusers.py DIR OUT

writes OUT/unet (UNet2DModel.save_pretrained) and OUT/scheduler/scheduler_config.json, a
directory convert_diffusers.py reads back. Every tensor must land on a parameter of the
same shape, and every parameter must be filled (load_state_dict strict).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from diffusers import UNet2DModel
from safetensors.numpy import load_file

# Anneal parameterization -> diffusers prediction_type; schedule kind -> beta_schedule.
PREDICTION_TYPES = {"eps": "epsilon", "v": "v_prediction", "x0": "sample"}
BETA_SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


def read_config(checkpoint: str) -> dict:
    path = os.path.join(checkpoint, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no config.json in {checkpoint}; is it an Anneal checkpoint?")
    with open(path) as f:
        return json.load(f)


def scheduler_config(config: dict) -> dict:
    """The diffusers scheduler settings that describe the checkpoint's training schedule."""
    parameterization = config.get("parameterization", "eps")
    if parameterization not in PREDICTION_TYPES:
        raise ValueError(
            f"parameterization {parameterization!r} has no diffusers prediction_type "
            f"(supported: {', '.join(PREDICTION_TYPES)})"
        )
    schedule = config.get("schedule") or {}
    kind = schedule.get("kind", "linear")
    if kind not in BETA_SCHEDULES:
        raise ValueError(f"schedule kind {kind!r} is not one of {', '.join(BETA_SCHEDULES)}")
    out = {
        "num_train_timesteps": int(schedule.get("timesteps", 1000)),
        "beta_schedule": BETA_SCHEDULES[kind],
        "prediction_type": PREDICTION_TYPES[parameterization],
    }
    if kind == "linear":
        out["beta_start"] = float(schedule.get("beta_start", 0.0001))
        out["beta_end"] = float(schedule.get("beta_end", 0.02))
    return out


def convert_state_dict(tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Same names; 4-D (conv) weights OHWI -> OIHW. Linear weights are (out, in) in both."""
    out = {}
    for name, array in tensors.items():
        array = np.asarray(array, dtype=np.float32)
        if array.ndim == 4:
            array = array.transpose(0, 3, 1, 2)
        out[name] = torch.from_numpy(np.ascontiguousarray(array))
    return out


def load_unet(checkpoint: str) -> tuple[UNet2DModel, dict]:
    """(UNet2DModel in eval mode, float32, with the checkpoint's weights; scheduler config)."""
    config = read_config(checkpoint)
    if "unet" not in config:
        raise ValueError(f"{checkpoint}/config.json has no 'unet' section")
    weights = os.path.join(checkpoint, "model.safetensors")
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"no model.safetensors in {checkpoint}")
    unet = dict(config["unet"])
    # Anneal's own key: a linear-attention model (anneal train --attention linear) is a
    # different model whose weights diffusers' softmax attention would misread.
    if unet.pop("linear_attention", False):
        raise ValueError(
            f"{checkpoint} uses linear attention, which diffusers' UNet2DModel does not have; "
            "a linear-attention model cannot be exported to diffusers"
        )
    model = UNet2DModel(**unet).eval()
    state = convert_state_dict(load_file(weights))
    expected = model.state_dict()
    wrong = [
        f"{k}: {tuple(v.shape)} vs {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if wrong:
        raise ValueError("shape mismatch: " + "; ".join(wrong[:5]))
    model.load_state_dict(state, strict=True)
    return model, scheduler_config(config)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Anneal checkpoint -> diffusers UNet2DModel")
    parser.add_argument("checkpoint", help="directory with config.json and model.safetensors")
    parser.add_argument("out", help="output directory (unet/ and scheduler/)")
    args = parser.parse_args(argv)
    model, scheduler = load_unet(args.checkpoint)
    model.save_pretrained(os.path.join(args.out, "unet"), safe_serialization=True)
    os.makedirs(os.path.join(args.out, "scheduler"), exist_ok=True)
    with open(os.path.join(args.out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(scheduler, f, indent=2)
        f.write("\n")
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({"out": args.out, "params": n, "scheduler": scheduler}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
