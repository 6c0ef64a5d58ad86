"""diffusers' UNet2DModel in MLX Python, NHWC: the reference U-Net of Anneal's benchmarks and
of the C++ engine's checkpoint parity test (one implementation, DESIGN.md sections 3 and 8).

The model is a flat, ordered map from diffusers' state_dict names to MLX arrays plus pure
functions over it, the same shape the C++ engine uses. Conv weights are stored in MLX's
layout (O, kH, kW, I), linear weights as (out, in). Every equation cites the diffusers
0.42.1 source it follows (paths relative to diffusers/models/).

Only `mlx` is imported, so this file runs with nothing but the MLX SDK on PYTHONPATH.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import mlx.core as mx

# Run with bench/reference on sys.path (Python adds a script's own folder).
from unet_config import (  # noqa: F401 (re-exported: unet.init_params etc.)
    UNetConfig,
    check_params,
    count_params,
    init_params,
    param_shapes,
    parse_config,
)


def timestep_embedding(
    t: mx.array, dim: int, flip_sin_to_cos: bool, freq_shift: float, max_period: float = 10000.0
) -> mx.array:
    """embeddings.py get_timestep_embedding (DDPM's sinusoidal embedding, scale 1):
    freqs_i = exp(-ln(max_period) * i / (half - freq_shift)), i < half = dim // 2;
    emb = [sin(t * freqs), cos(t * freqs)], flipped to [cos, sin] by flip_sin_to_cos,
    zero-padded by one column when dim is odd."""
    half = dim // 2
    exponent = -math.log(max_period) * mx.arange(half, dtype=mx.float32) / (half - freq_shift)
    args = t.astype(mx.float32)[:, None] * mx.exp(exponent)[None, :]
    sin, cos = mx.sin(args), mx.cos(args)
    emb = mx.concatenate([cos, sin] if flip_sin_to_cos else [sin, cos], axis=-1)
    if dim % 2 == 1:
        emb = mx.pad(emb, [(0, 0), (0, 1)])
    return emb


def group_norm(x: mx.array, weight: mx.array, bias: mx.array, groups: int, eps: float) -> mx.array:
    """torch.nn.GroupNorm on NHWC: groups are contiguous channel ranges; biased variance;
    eps inside the square root; per-channel affine."""
    b, h, w, c = x.shape
    xg = x.reshape(b, h * w, groups, c // groups)
    mean = mx.mean(xg, axis=(1, 3), keepdims=True)
    var = mx.var(xg, axis=(1, 3), keepdims=True)
    xg = (xg - mean) * mx.rsqrt(var + eps)
    return xg.reshape(b, h, w, c) * weight + bias


def linear(p, name, x):
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def conv(p, name, x, stride=1, padding=None):
    weight = p[f"{name}.weight"]
    pad = weight.shape[1] // 2 if padding is None else padding
    return mx.conv2d(x, weight, stride=stride, padding=pad) + p[f"{name}.bias"]


def silu(x):
    return x * mx.sigmoid(x)


def resnet(p, name, cfg, x, temb_act, dropout_key=None, output_scale_factor=1.0):
    """resnet.py ResnetBlock2D.forward, time_embedding_norm="default":
    h = conv1(silu(norm1(x))) + time_emb_proj(silu(temb)); h = conv2(dropout(silu(norm2(h))));
    out = (shortcut(x) + h) / output_scale_factor."""
    g, eps = cfg.norm_num_groups, cfg.norm_eps
    h = silu(group_norm(x, p[f"{name}.norm1.weight"], p[f"{name}.norm1.bias"], g, eps))
    h = conv(p, f"{name}.conv1", h)
    h = h + linear(p, f"{name}.time_emb_proj", temb_act)[:, None, None, :]
    h = silu(group_norm(h, p[f"{name}.norm2.weight"], p[f"{name}.norm2.bias"], g, eps))
    if dropout_key is not None and cfg.dropout > 0:
        keep = mx.random.bernoulli(1.0 - cfg.dropout, h.shape, key=dropout_key)
        h = mx.where(keep, h / (1.0 - cfg.dropout), 0.0)
    h = conv(p, f"{name}.conv2", h)
    if f"{name}.conv_shortcut.weight" in p:
        x = conv(p, f"{name}.conv_shortcut", x)
    return (x + h) / output_scale_factor


def attention(p, name, cfg, x, groups, rescale_output_factor=1.0):
    """attention_processor.py AttnProcessor2_0 for the blocks' self-attention
    (residual_connection=True, bias=True): tokens = group_norm(x) over H*W positions;
    softmax(q k^T * dim_head^-0.5) v per head; to_out.0; (out + x) / rescale_output_factor."""
    b, h, w, c = x.shape
    heads, dim_head = cfg.heads(c)
    tokens = x
    if groups is not None:
        tokens = group_norm(
            x, p[f"{name}.group_norm.weight"], p[f"{name}.group_norm.bias"], groups, cfg.norm_eps
        )
    tokens = tokens.reshape(b, h * w, c)

    def split(proj):
        return (
            linear(p, f"{name}.{proj}", tokens)
            .reshape(b, h * w, heads, dim_head)
            .transpose(0, 2, 1, 3)
        )

    out = mx.fast.scaled_dot_product_attention(
        split("to_q"), split("to_k"), split("to_v"), scale=dim_head**-0.5
    )
    out = out.transpose(0, 2, 1, 3).reshape(b, h * w, heads * dim_head)
    out = linear(p, f"{name}.to_out.0", out).reshape(b, h, w, c)
    return (out + x) / rescale_output_factor


def upsample_nearest2x(x):
    # upsampling.py Upsample2D: F.interpolate(scale_factor=2.0, mode="nearest"), then conv.
    b, h, w, c = x.shape
    x = mx.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
    return x.reshape(b, h * 2, w * 2, c)


def downsample(p, name, cfg, x):
    # downsampling.py Downsample2D: conv 3x3 stride 2 with `padding`; padding 0 pads the
    # right and bottom edges by one first (F.pad(x, (0, 1, 0, 1))).
    if cfg.downsample_padding == 0:
        x = mx.pad(x, [(0, 0), (0, 1), (0, 1), (0, 0)])
    return conv(p, f"{name}.conv", x, stride=2, padding=cfg.downsample_padding)


def apply(
    cfg: UNetConfig, p: dict, x: mx.array, t, class_labels=None, dropout_key=None
) -> mx.array:
    """unets/unet_2d.py UNet2DModel.forward on NHWC input; returns the NHWC output.
    `dropout_key` turns on the resnets' dropout (training); None is eval mode."""
    # One dropout key per resnet: layers_per_block per down level, +1 per up level, 2 mid.
    levels, layers = len(cfg.block_out_channels), cfg.layers_per_block
    use_dropout = dropout_key is not None and cfg.dropout > 0
    keys = iter(mx.random.split(dropout_key, levels * (2 * layers + 1) + 2) if use_dropout else [])

    def key():
        return next(keys, None)

    if cfg.center_input_sample:
        x = 2 * x - 1.0
    t = mx.array(t) if not isinstance(t, mx.array) else t
    t = mx.broadcast_to(t.reshape(-1), (x.shape[0],)) if t.size == 1 else t
    emb = timestep_embedding(t, cfg.block_out_channels[0], cfg.flip_sin_to_cos, cfg.freq_shift)
    emb = linear(p, "time_embedding.linear_2", silu(linear(p, "time_embedding.linear_1", emb)))
    if "class_embedding.weight" in p:
        if class_labels is None:
            raise ValueError("class_labels should be provided when doing class conditioning")
        emb = emb + p["class_embedding.weight"][class_labels]
    elif class_labels is not None:
        raise ValueError("class_labels given, but the config has no num_class_embeds")
    # Every resnet applies silu to temb before its projection (skip_time_act=False); do it once.
    temb = silu(emb)
    groups = cfg.norm_num_groups

    h = conv(p, "conv_in", x)
    skips = [h]
    last = len(cfg.block_out_channels) - 1
    for i, kind in enumerate(cfg.down_block_types):
        for j in range(cfg.layers_per_block):
            h = resnet(p, f"down_blocks.{i}.resnets.{j}", cfg, h, temb, key())
            if kind == "AttnDownBlock2D":
                h = attention(p, f"down_blocks.{i}.attentions.{j}", cfg, h, groups)
            skips.append(h)
        if i < last:
            h = downsample(p, f"down_blocks.{i}.downsamplers.0", cfg, h)
            skips.append(h)

    if cfg.mid_block_type is not None:
        # unet_2d_blocks.py UNetMidBlock2D: resnet, attention, resnet; all scaled by
        # mid_block_scale_factor (output_scale_factor / rescale_output_factor).
        s = cfg.mid_block_scale_factor
        h = resnet(p, "mid_block.resnets.0", cfg, h, temb, key(), s)
        if cfg.add_attention:
            attn_groups = cfg.attn_norm_num_groups or groups
            h = attention(p, "mid_block.attentions.0", cfg, h, attn_groups, s)
        h = resnet(p, "mid_block.resnets.1", cfg, h, temb, key(), s)

    for i, kind in enumerate(cfg.up_block_types):
        for j in range(cfg.layers_per_block + 1):
            # unet_2d_blocks.py UpBlock2D.forward: pop the newest skip, cat([h, skip], dim=C).
            h = mx.concatenate([h, skips.pop()], axis=-1)
            h = resnet(p, f"up_blocks.{i}.resnets.{j}", cfg, h, temb, key())
            if kind == "AttnUpBlock2D":
                h = attention(p, f"up_blocks.{i}.attentions.{j}", cfg, h, groups)
        if i < last:
            h = conv(p, f"up_blocks.{i}.upsamplers.0.conv", upsample_nearest2x(h))

    h = silu(
        group_norm(h, p["conv_norm_out.weight"], p["conv_norm_out.bias"], groups, cfg.norm_eps)
    )
    return conv(p, "conv_out", h)


@dataclass
class Model:
    """A config and its parameters (the `{config.json, model.safetensors}` pair)."""

    config: UNetConfig
    params: dict
    checkpoint_config: dict | None = None

    def __call__(self, x, t, class_labels=None, dropout_key=None):
        return apply(self.config, self.params, x, t, class_labels, dropout_key)


def forward(params_or_model, x_nhwc, t, class_labels=None, config=None, dropout_key=None):
    """One forward pass: `params_or_model` is a Model, or a params dict with `config`
    (a UNetConfig or a raw diffusers config dict)."""
    if isinstance(params_or_model, Model):
        return params_or_model(x_nhwc, t, class_labels, dropout_key)
    if config is None:
        raise ValueError("forward(params, ...) needs config=; pass a Model to omit it")
    cfg = config if isinstance(config, UNetConfig) else parse_config(config)
    return apply(cfg, params_or_model, x_nhwc, t, class_labels, dropout_key)


def load(directory: str) -> Model:
    """Reads an Anneal checkpoint directory: config.json (the diffusers config under `unet`)
    and model.safetensors (diffusers names, MLX layouts)."""
    with open(os.path.join(directory, "config.json")) as f:
        ckpt = json.load(f)
    if "unet" not in ckpt:
        raise ValueError(
            f"{directory}/config.json has no `unet` key (the diffusers UNet2DModel config)"
        )
    cfg = parse_config(ckpt["unet"])
    params = mx.load(os.path.join(directory, "model.safetensors"))
    return Model(cfg, check_params(cfg, params), ckpt)
