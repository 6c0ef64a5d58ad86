"""How far a checkpoint's denoised estimates D(x; sigma) stray from the data's scale along a
deterministic (DDIM / Euler) chain: evidence for where full-amplitude noise tiles come from.

    bench/.venv/bin/python bench/reference/denoised_scale.py --model DIR [--model DIR]
        [--steps 10] [--n 16] [--seed 0]

Runs the checkpoint as diffusers' UNet2DModel (convert_to_diffusers.py) from the same noise
as diffusers_agreement.py (numpy seed, labels i mod classes) on diffusers' trailing integer
timesteps, clipping off, and prints one JSON line per model: per step t, sigma and the RMS of
D over each image (min / median / max), beside the noise tiles the chain ends with. MNIST in
[-1, 1] has RMS about 0.85, so a D far above ~1 is an x0 estimate off the data's scale; an eps
network's error is multiplied by sigma in D = x - sigma eps (sigma_0 = 157 for linear betas).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

from convert_to_diffusers import load_unet, read_config
from diffusers_agreement import NOISE_HF, engine_table, hf_rms


@torch.no_grad()
def chain(model_dir: str, steps: int, n: int, seed: int) -> dict:
    model, sched = load_unet(model_dir)
    table = engine_table(read_config(model_dir).get("schedule") or {})
    cfg = model.config
    rng = np.random.default_rng(seed)
    shape = (n, cfg.sample_size, cfg.sample_size, cfg.in_channels)
    z = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).permute(0, 3, 1, 2)
    labels = torch.arange(n) % (cfg.num_class_embeds - 1) if cfg.num_class_embeds else None
    total = len(table)
    ts = [int(round(total - i * total / steps)) - 1 for i in range(steps)]  # trailing
    x = z * table[ts[0]]
    per_step = []
    for i, t in enumerate(ts):
        s = float(table[t])
        s_next = float(table[ts[i + 1]]) if i + 1 < len(ts) else 0.0
        out = model(x / (1 + s * s) ** 0.5, torch.full((n,), float(t)), class_labels=labels).sample
        if sched["prediction_type"] == "epsilon":
            d = x - s * out
        elif sched["prediction_type"] == "v_prediction":
            d = x / (1 + s * s) - out * s / (1 + s * s) ** 0.5
        else:
            d = out
        rms = d.flatten(1).pow(2).mean(1).sqrt().numpy()
        per_step.append(
            {
                "t": t,
                "sigma": round(s, 3),
                "rms_D_min": round(float(rms.min()), 3),
                "rms_D_median": round(float(np.median(rms)), 3),
                "rms_D_max": round(float(rms.max()), 3),
            }
        )
        x = d + (x - d) / s * s_next  # Euler = DDIM (eta 0) in sigma space
    images = x.clamp(-1, 1).permute(0, 2, 3, 1).numpy()
    return {
        "model": os.path.basename(os.path.normpath(model_dir)),
        "prediction_type": sched["prediction_type"],
        "noise_tiles": int((hf_rms(images) > NOISE_HF).sum()),
        "n": n,
        "steps": per_step,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for m in args.model:
        print(json.dumps(chain(m, args.steps, args.n, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
