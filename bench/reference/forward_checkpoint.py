"""Runs the reference U-Net on inputs read from a safetensors file and writes its output.

The engine's parity test (packages/engine/src/parity.test.ts) uses it:
    python forward_checkpoint.py CHECKPOINT_DIR INPUTS.safetensors OUTPUT.safetensors
INPUTS holds `x` (float32 NHWC), `t` (float32 [B]) and optionally `labels` (int32 [B]).
Needs only MLX (the project-local SDK is enough).
"""

import sys

import mlx.core as mx
from unet import forward, load


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    checkpoint, inputs_path, output_path = argv
    model = load(checkpoint)
    inputs = mx.load(inputs_path)
    y = forward(model, inputs["x"], inputs["t"], inputs.get("labels"))
    mx.save_safetensors(output_path, {"y": y})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
