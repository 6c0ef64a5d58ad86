"""Runs an Anneal checkpoint as diffusers' UNet2DModel (convert_to_diffusers.py) on inputs read
from a safetensors file and writes its output: the reverse conversion's forward-pass check
(bench/reference/diffusers_agreement.test.ts compares it with the engine's own forward).

    bench/.venv/bin/python bench/reference/to_diffusers_forward.py CHECKPOINT IN OUT

IN holds `x` (float32 NHWC), `t` (float32 [B]) and optionally `labels` (int32 [B]); OUT gets
`y` (float32 NHWC).
"""

import sys

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from convert_to_diffusers import load_unet


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    checkpoint, inputs_path, output_path = argv
    model, _ = load_unet(checkpoint)
    inputs = load_file(inputs_path)
    x = torch.from_numpy(inputs["x"]).permute(0, 3, 1, 2)
    t = torch.from_numpy(inputs["t"])
    labels = torch.from_numpy(inputs["labels"]).long() if "labels" in inputs else None
    with torch.no_grad():
        y = model(x, t, class_labels=labels).sample
    save_file({"y": np.ascontiguousarray(y.permute(0, 2, 3, 1).numpy())}, output_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
