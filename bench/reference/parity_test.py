"""Parity of the MLX reference U-Net (unet.py) with diffusers' UNet2DModel on PyTorch.

For several small configurations: a randomly initialised diffusers model (norm affines and
embeddings perturbed too, so a wrong scale/shift cannot hide behind weight 1 / bias 0) is
converted with convert_diffusers.py, loaded with unet.load, and run on the same input
(NCHW for torch, NHWC for MLX). Passes when outputs agree to TOLERANCE, the gradients of a
squared-error loss agree to TOLERANCE relative to the largest one, and both sides count the
same parameters under the same names, in the same order. A mutated config (sin/cos order
flipped) must then fail the same comparison, so the check is shown to discriminate.

    bench/.venv/bin/python bench/reference/parity_test.py
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile

import mlx.core as mx
import numpy as np
import torch
from diffusers import UNet2DModel
from diffusers.utils import logging as diffusers_logging

import unet
from convert_diffusers import DEFAULT_SCHEDULE, convert_model, convert_state_dict, load_source
from convert_diffusers import main as convert_cli

TOLERANCE = 1e-4
BASE = {"in_channels": 3, "out_channels": 3, "norm_num_groups": 8, "attention_head_dim": 8}

CASES = [
    (
        "plain-2lvl-16",
        16,
        {
            **BASE,
            "block_out_channels": [32, 64],
            "layers_per_block": 1,
            "down_block_types": ["DownBlock2D", "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "UpBlock2D"],
            "add_attention": False,
        },
    ),
    (
        "attn-2lvl-16",
        16,
        {
            **BASE,
            "block_out_channels": [32, 64],
            "layers_per_block": 2,
            "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
            "up_block_types": ["AttnUpBlock2D", "UpBlock2D"],
        },
    ),
    (
        "class-3lvl-32",
        32,
        {
            **BASE,
            "in_channels": 1,
            "out_channels": 1,
            "block_out_channels": [32, 64, 64],
            "layers_per_block": 2,
            "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"],
            "up_block_types": ["AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
            "attention_head_dim": 16,
            "num_class_embeds": 10,
        },
    ),
    (
        # Non-default knobs: cos/sin order, freq_shift, downsample_padding 0 (pad right and
        # bottom), mid_block_scale_factor, center_input_sample, norm_eps, time_embedding_dim,
        # attn_norm_num_groups, attention in the top level with one head of dim 16 over 24
        # channels (inner_dim 16 < channels), three heads over 48.
        "knobs-3lvl-32",
        32,
        {
            **BASE,
            "block_out_channels": [24, 48, 48],
            "layers_per_block": 1,
            "down_block_types": ["AttnDownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D"],
            "attention_head_dim": 16,
            "norm_num_groups": 4,
            "attn_norm_num_groups": 2,
            "norm_eps": 1e-6,
            "flip_sin_to_cos": False,
            "freq_shift": 1,
            "downsample_padding": 0,
            "mid_block_scale_factor": 1.41421356,
            "center_input_sample": True,
            "time_embedding_dim": 80,
            "num_class_embeds": 3,
        },
    ),
]


def perturb(model: UNet2DModel, seed: int) -> None:
    """Moves GroupNorm affines and the class embedding off their init, so the comparison
    sees their effect."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 or name.startswith("class_embedding"):
                p.add_(0.2 * torch.randn(p.shape, generator=g))


def gradient_error(model, mlx_model, x, t, labels, seed) -> float:
    """Gradients of a squared-error loss through both networks (what a training step
    differentiates): the largest difference, relative to the largest gradient."""
    target = torch.randn(
        model(x, t, class_labels=labels).sample.shape,
        generator=torch.Generator().manual_seed(seed + 2),
    )
    model.zero_grad()
    torch.mean((model(x, t, class_labels=labels).sample - target) ** 2).backward()
    torch_grads = convert_state_dict({n: p.grad for n, p in model.named_parameters()})

    target_nhwc = mx.array(target.permute(0, 2, 3, 1).numpy())
    mlx_labels = None if labels is None else mx.array(labels.numpy())

    def loss(params):
        out = unet.apply(
            mlx_model.config,
            params,
            mx.array(x.permute(0, 2, 3, 1).numpy()),
            mx.array(t.numpy()),
            mlx_labels,
        )
        return mx.mean(mx.square(out - target_nhwc))

    mlx_grads = mx.grad(loss)(mlx_model.params)
    scale = max(float(np.abs(g).max()) for g in torch_grads.values())
    diff = max(float(np.abs(np.array(mlx_grads[n]) - g).max()) for n, g in torch_grads.items())
    return diff / scale


def run_case(name: str, size: int, config: dict, seed: int, via_disk: bool) -> dict:
    torch.manual_seed(seed)
    model = UNet2DModel(sample_size=size, **config).eval()
    perturb(model, seed)
    with tempfile.TemporaryDirectory() as tmp:
        if via_disk:
            # The CLI path: save_pretrained directory -> load_source -> convert.
            model.save_pretrained(f"{tmp}/diffusers")
            model, _ = load_source(f"{tmp}/diffusers")
            model.eval()
        convert_model(model, f"{tmp}/anneal")
        mlx_model = unet.load(f"{tmp}/anneal")

    batch = 3
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(batch, config["in_channels"], size, size, generator=g)
    # Integer, large and fractional timesteps: the embedding sees its whole range.
    t = torch.tensor([0.0, 999.0, 123.5])
    labels = None
    if config.get("num_class_embeds"):
        labels = torch.randint(0, config["num_class_embeds"], (batch,), generator=g)
    with torch.no_grad():
        ref = model(x, t, class_labels=labels).sample.numpy()

    def mlx_out(cfg):
        out = unet.forward(
            mlx_model.params,
            mx.array(x.permute(0, 2, 3, 1).numpy()),
            mx.array(t.numpy()),
            None if labels is None else mx.array(labels.numpy()),
            config=cfg,
        )
        return np.array(out).transpose(0, 3, 1, 2)

    err = float(np.abs(mlx_out(mlx_model.config) - ref).max())
    # Mutation check: the same weights with the sin/cos order flipped must disagree.
    mutated = {**mlx_model.config.raw, "flip_sin_to_cos": not mlx_model.config.flip_sin_to_cos}
    mutated_err = float(np.abs(mlx_out(mutated) - ref).max())

    grad_err = gradient_error(model, mlx_model, x, t, labels, seed)

    torch_names = list(model.state_dict().keys())
    mlx_names = list(mlx_model.params.keys())
    torch_count = sum(p.numel() for p in model.parameters())
    return {
        "name": name,
        "size": size,
        "torch_params": torch_count,
        "mlx_params": unet.count_params(mlx_model.params),
        "init_params": unet.count_params(unet.init_params(mlx_model.config, seed)),
        "names_match": torch_names == mlx_names,
        "max_abs_err": err,
        "max_abs_out": float(np.abs(ref).max()),
        "mutated_err": mutated_err,
        "grad_err": grad_err,
    }


def config_errors() -> list[str]:
    """Unsupported configs are refused with the offending key named."""
    cases = [
        ({"down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"]}, "down_block_types[1]"),
        ({"time_embedding_type": "fourier"}, "time_embedding_type"),
        ({"layer_per_block": 2}, "layer_per_block"),
        ({"block_out_channels": [32, 48], "norm_num_groups": 32}, "block_out_channels"),
        ({"linear_attention": True}, "linear_attention"),
    ]
    base = CASES[1][2]
    failures = []
    for override, key in cases:
        try:
            unet.parse_config({**base, **override})
            failures.append(f"config {override} was accepted")
        except ValueError as err:
            if f"`{key}`" not in str(err):
                failures.append(f"config {override}: error does not name `{key}`: {err}")
    return failures


def converter_errors() -> list[str]:
    """The CLI reads a pipeline's scheduler, and falls back to DDPM's schedule without one."""
    from diffusers import DDPMScheduler

    model = UNet2DModel(sample_size=16, **CASES[0][2])
    scheduler = DDPMScheduler(
        num_train_timesteps=500, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction"
    )
    expected = {
        "pipeline": ({"kind": "cosine", "timesteps": 500}, "v"),
        "unet-only": (DEFAULT_SCHEDULE, "eps"),
    }
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(f"{tmp}/pipeline/unet")
        scheduler.save_pretrained(f"{tmp}/pipeline/scheduler")
        model.save_pretrained(f"{tmp}/unet-only")
        for src, (schedule, parameterization) in expected.items():
            with contextlib.redirect_stdout(io.StringIO()):
                convert_cli([f"{tmp}/{src}", f"{tmp}/{src}-anneal"])
            with open(f"{tmp}/{src}-anneal/config.json") as f:
                written = json.load(f)
            got = (written["format"], written["version"], written["schedule"])
            got += (written["parameterization"],)
            if got != ("anneal-checkpoint", 1, schedule, parameterization):
                failures.append(f"converter on {src}: wrote {got}")
    return failures


def main() -> int:
    diffusers_logging.set_verbosity_error()  # from_pretrained's note about `accelerate`
    rows = [
        run_case(name, size, cfg, seed=i, via_disk=(i == 1))
        for i, (name, size, cfg) in enumerate(CASES)
    ]
    header = (
        f"{'case':16s} {'res':>4s} {'torch params':>13s} {'mlx params':>11s} {'names':>6s} "
        f"{'max|out|':>9s} {'max abs err':>12s} {'grad err':>9s} {'mutated err':>12s}  result"
    )
    print(header)
    print("-" * len(header))
    failures = []
    for r in rows:
        problems = []
        if not r["max_abs_err"] <= TOLERANCE:
            problems.append(f"max abs err {r['max_abs_err']:.3g} > {TOLERANCE}")
        if not r["grad_err"] <= TOLERANCE:
            problems.append(f"gradient error {r['grad_err']:.3g} > {TOLERANCE} (relative)")
        if not (r["torch_params"] == r["mlx_params"] == r["init_params"]):
            problems.append("parameter counts differ")
        if not r["names_match"]:
            problems.append("names or order differ from the torch state_dict")
        if not r["mutated_err"] > TOLERANCE:
            problems.append("the mutated config was not detected")
        print(
            f"{r['name']:16s} {r['size']:4d} {r['torch_params']:13d} {r['mlx_params']:11d} "
            f"{'same' if r['names_match'] else 'DIFF':>6s} {r['max_abs_out']:9.3f} "
            f"{r['max_abs_err']:12.3e} {r['grad_err']:9.2e} {r['mutated_err']:12.3e}  "
            f"{'ok' if not problems else 'FAIL: ' + '; '.join(problems)}"
        )
        failures += [f"{r['name']}: {p}" for p in problems]
    failures += config_errors()
    failures += converter_errors()
    print(f"\ntolerance {TOLERANCE}; torch {torch.__version__}, mlx {mx.__version__}")
    if failures:
        print("\nparity FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print(f"parity ok: {len(rows)} configurations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
