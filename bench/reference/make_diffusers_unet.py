"""Writes a randomly initialised diffusers UNet2DModel and its outputs on fixed inputs, for the
interop check of `anneal import diffusers` (packages/bench/src/interop.ts):

    python make_diffusers_unet.py OUT_DIR '<json: {"unet": {...}, "batch": 3, "seed": 0}>'

OUT_DIR/unet/            UNet2DModel.save_pretrained (safetensors) -- the importer's input
OUT_DIR/io.safetensors   x (float32 NHWC), t (float32 [B]), labels (int32 [B], if
                         class-conditional), y (float32 NHWC): diffusers' output on them
Prints one JSON line: params, max_abs_output, versions. Norm affines and class embeddings
are moved off their init (as in parity_test.py), so a wrong scale or shift cannot hide.
"""

from __future__ import annotations

import json
import os
import sys

import diffusers
import numpy as np
import torch
from diffusers import UNet2DModel
from safetensors.numpy import save_file

from parity_test import perturb


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out, spec = argv[0], json.loads(argv[1])
    config, batch, seed = spec["unet"], int(spec.get("batch", 3)), int(spec.get("seed", 0))
    torch.manual_seed(seed)
    model = UNet2DModel(**config).eval()
    perturb(model, seed)
    model.save_pretrained(os.path.join(out, "unet"), safe_serialization=True)

    size, channels = model.config.sample_size, model.config.in_channels
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, channels, size, size, generator=g)
    # Integer, large and fractional timesteps: the embedding sees its whole range.
    t = torch.linspace(0.0, 999.0, batch) + 0.5 * (torch.arange(batch) % 2)
    labels = None
    if model.config.num_class_embeds:
        labels = torch.randint(0, model.config.num_class_embeds, (batch,), generator=g)
    with torch.no_grad():
        y = model(x, t, class_labels=labels).sample
    tensors = {
        "x": x.permute(0, 2, 3, 1).contiguous().numpy(),
        "t": t.numpy().astype(np.float32),
        "y": y.permute(0, 2, 3, 1).contiguous().numpy(),
    }
    if labels is not None:
        tensors["labels"] = labels.numpy().astype(np.int32)
    save_file(tensors, os.path.join(out, "io.safetensors"))
    print(
        json.dumps(
            {
                "params": sum(p.numel() for p in model.parameters()),
                "max_abs_output": float(y.abs().max()),
                "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
