"""The configuration and parameter layout of diffusers' UNet2DModel, for the MLX reference
U-Net in unet.py: config validation with diffusers' defaults, every parameter's name and
MLX shape in diffusers' state_dict order, PyTorch-style random initialisation, and the
checkpoint check. Names and shapes follow diffusers 0.42.1 (paths relative to
diffusers/models/). Only `mlx` is imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mlx.core as mx

SUPPORTED_DOWN = ("DownBlock2D", "AttnDownBlock2D")
SUPPORTED_UP = ("UpBlock2D", "AttnUpBlock2D")

# UNet2DModel.__init__ defaults (unets/unet_2d.py), so partial configs mean what they mean
# to diffusers.
DEFAULTS = {
    "sample_size": None,
    "in_channels": 3,
    "out_channels": 3,
    "center_input_sample": False,
    "time_embedding_type": "positional",
    "time_embedding_dim": None,
    "freq_shift": 0,
    "flip_sin_to_cos": True,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"],
    "mid_block_type": "UNetMidBlock2D",
    "up_block_types": ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
    "block_out_channels": [224, 448, 672, 896],
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "downsample_padding": 1,
    "downsample_type": "conv",
    "upsample_type": "conv",
    "dropout": 0.0,
    "act_fn": "silu",
    "attention_head_dim": 8,
    "norm_num_groups": 32,
    "attn_norm_num_groups": None,
    "norm_eps": 1e-5,
    "resnet_time_scale_shift": "default",
    "add_attention": True,
    "class_embed_type": None,
    "num_class_embeds": None,
    "num_train_timesteps": None,
}


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ValueError(f"unet config `{key}`: {message}")


@dataclass(frozen=True)
class UNetConfig:
    """A validated diffusers UNet2DModel config: `raw` holds every key, defaults filled in;
    keys read as attributes (cfg.block_out_channels)."""

    raw: dict

    def __getattr__(self, key):
        if key == "raw":  # not yet set (copy/pickle): no recursion through self.raw
            raise AttributeError(key)
        try:
            return self.raw[key]
        except KeyError as err:
            raise AttributeError(key) from err

    @property
    def time_embed_dim(self) -> int:
        # unet_2d.py: time_embed_dim = time_embedding_dim or block_out_channels[0] * 4
        return self.raw["time_embedding_dim"] or self.raw["block_out_channels"][0] * 4

    def heads(self, channels: int) -> tuple[int, int]:
        """(heads, dim_head) of an attention over `channels`: unet_2d.py passes
        attention_head_dim (or the block's channels when None); the blocks build
        Attention(heads=channels // attention_head_dim, dim_head=attention_head_dim)."""
        dim_head = self.raw["attention_head_dim"] or channels
        return channels // dim_head, dim_head


def parse_config(raw: dict) -> UNetConfig:
    """Fills diffusers' defaults and refuses what this port does not implement, naming the key."""
    given = {k: v for k, v in raw.items() if not k.startswith("_")}
    # Anneal's own key (anneal train --attention linear): a different model, with softmax
    # attention's weight names, that this softmax port (and diffusers) would misread.
    _require(
        not given.pop("linear_attention", False),
        "linear_attention",
        "a linear-attention model; this reference (like diffusers' UNet2DModel) has softmax "
        "attention only",
    )
    unknown = sorted(set(given) - set(DEFAULTS))
    # A misspelt key would otherwise fall back to diffusers' default silently.
    _require(not unknown, unknown[0] if unknown else "", "unknown key (not a UNet2DModel argument)")
    cfg = {**DEFAULTS, **given}
    channels = list(cfg["block_out_channels"])
    cfg["block_out_channels"] = channels
    downs, ups = list(cfg["down_block_types"]), list(cfg["up_block_types"])
    cfg["down_block_types"], cfg["up_block_types"] = downs, ups
    for i, name in enumerate(downs):
        _require(
            name in SUPPORTED_DOWN,
            f"down_block_types[{i}]",
            f"unknown block type {name!r}; supported: {', '.join(SUPPORTED_DOWN)}",
        )
    for i, name in enumerate(ups):
        _require(
            name in SUPPORTED_UP,
            f"up_block_types[{i}]",
            f"unknown block type {name!r}; supported: {', '.join(SUPPORTED_UP)}",
        )
    _require(len(downs) == len(ups), "up_block_types", "needs as many entries as down_block_types")
    _require(
        len(channels) == len(downs),
        "block_out_channels",
        "needs as many entries as down_block_types",
    )
    _require(
        cfg["time_embedding_type"] == "positional",
        "time_embedding_type",
        f"only 'positional' is supported, got {cfg['time_embedding_type']!r}",
    )
    _require(
        cfg["class_embed_type"] is None,
        "class_embed_type",
        "only None (an Embedding of num_class_embeds) is supported",
    )
    _require(
        cfg["resnet_time_scale_shift"] == "default",
        "resnet_time_scale_shift",
        f"only 'default' is supported, got {cfg['resnet_time_scale_shift']!r}",
    )
    _require(
        cfg["act_fn"] in ("silu", "swish"),
        "act_fn",
        f"only silu is supported, got {cfg['act_fn']!r}",
    )
    _require(
        cfg["mid_block_type"] in ("UNetMidBlock2D", None),
        "mid_block_type",
        f"only 'UNetMidBlock2D' or null is supported, got {cfg['mid_block_type']!r}",
    )
    _require(cfg["downsample_type"] == "conv", "downsample_type", "only 'conv' is supported")
    _require(cfg["upsample_type"] == "conv", "upsample_type", "only 'conv' is supported")
    _require(cfg["downsample_padding"] in (0, 1), "downsample_padding", "must be 0 or 1")
    groups = cfg["norm_num_groups"]
    _require(
        isinstance(groups, int) and groups > 0, "norm_num_groups", "must be a positive integer"
    )
    for c in channels:
        _require(
            c % groups == 0,
            "block_out_channels",
            f"{c} is not divisible by norm_num_groups={groups}",
        )
    attn_groups = cfg["attn_norm_num_groups"]
    _require(
        attn_groups is None or channels[-1] % attn_groups == 0,
        "attn_norm_num_groups",
        f"{attn_groups} does not divide the mid block's {channels[-1]} channels",
    )
    ucfg = UNetConfig(cfg)
    attn_channels = [c for c, d in zip(channels, downs, strict=True) if d == "AttnDownBlock2D"]
    attn_channels += [
        c for c, u in zip(reversed(channels), ups, strict=True) if u == "AttnUpBlock2D"
    ]
    if cfg["mid_block_type"] and cfg["add_attention"]:
        attn_channels.append(channels[-1])
    for c in attn_channels:
        _require(
            ucfg.heads(c)[0] > 0,
            "attention_head_dim",
            f"{cfg['attention_head_dim']} exceeds an attention block's {c} channels",
        )
    return ucfg


# ---- parameter layout ----------------------------------------------------------------------
# Names and order are those of diffusers' state_dict: modules register in __init__ order
# (blocks register `attentions` before `resnets`, see unet_2d_blocks.py).


def _conv(p, name, cin, cout, k):
    p[f"{name}.weight"] = (cout, k, k, cin)
    p[f"{name}.bias"] = (cout,)


def _linear(p, name, fin, fout):
    p[f"{name}.weight"] = (fout, fin)
    p[f"{name}.bias"] = (fout,)


def _norm(p, name, c):
    p[f"{name}.weight"] = (c,)
    p[f"{name}.bias"] = (c,)


def _resnet(p, name, cin, cout, temb):
    # resnet.py ResnetBlock2D.__init__: norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut
    _norm(p, f"{name}.norm1", cin)
    _conv(p, f"{name}.conv1", cin, cout, 3)
    _linear(p, f"{name}.time_emb_proj", temb, cout)
    _norm(p, f"{name}.norm2", cout)
    _conv(p, f"{name}.conv2", cout, cout, 3)
    if cin != cout:
        _conv(p, f"{name}.conv_shortcut", cin, cout, 1)


def _attention(p, name, c, cfg):
    # attention_processor.py Attention.__init__: group_norm, to_q, to_k, to_v, to_out.0;
    # inner_dim = heads * dim_head, which is below `c` when c is not a multiple of dim_head.
    heads, dim_head = cfg.heads(c)
    inner = heads * dim_head
    _norm(p, f"{name}.group_norm", c)
    for proj in ("to_q", "to_k", "to_v"):
        _linear(p, f"{name}.{proj}", c, inner)
    _linear(p, f"{name}.to_out.0", inner, c)


def param_shapes(cfg: UNetConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and MLX shape, in diffusers' state_dict order."""
    p: dict[str, tuple[int, ...]] = {}
    ch, temb = cfg.block_out_channels, cfg.time_embed_dim
    _conv(p, "conv_in", cfg.in_channels, ch[0], 3)
    _linear(p, "time_embedding.linear_1", ch[0], temb)
    _linear(p, "time_embedding.linear_2", temb, temb)
    if cfg.num_class_embeds is not None:
        p["class_embedding.weight"] = (cfg.num_class_embeds, temb)
    cout = ch[0]
    for i, kind in enumerate(cfg.down_block_types):
        cin, cout = cout, ch[i]
        name = f"down_blocks.{i}"
        if kind == "AttnDownBlock2D":
            for j in range(cfg.layers_per_block):
                _attention(p, f"{name}.attentions.{j}", cout, cfg)
        for j in range(cfg.layers_per_block):
            _resnet(p, f"{name}.resnets.{j}", cin if j == 0 else cout, cout, temb)
        if i < len(ch) - 1:
            _conv(p, f"{name}.downsamplers.0.conv", cout, cout, 3)
    rev = list(reversed(ch))
    cout = rev[0]
    for i, kind in enumerate(cfg.up_block_types):
        prev, cout = cout, rev[i]
        cin = rev[min(i + 1, len(ch) - 1)]
        name = f"up_blocks.{i}"
        layers = cfg.layers_per_block + 1
        if kind == "AttnUpBlock2D":
            for j in range(layers):
                _attention(p, f"{name}.attentions.{j}", cout, cfg)
        for j in range(layers):
            # unet_2d_blocks.py UpBlock2D: the last resnet takes the skip of the level's input.
            skip = cin if j == layers - 1 else cout
            _resnet(p, f"{name}.resnets.{j}", (prev if j == 0 else cout) + skip, cout, temb)
        if i < len(ch) - 1:
            _conv(p, f"{name}.upsamplers.0.conv", cout, cout, 3)
    # unet_2d.py sets `self.mid_block = None` before registering up_blocks and assigns the
    # module after them, so mid_block follows up_blocks in the state_dict.
    if cfg.mid_block_type is not None:
        if cfg.add_attention:
            # unet_2d_blocks.py UNetMidBlock2D: attn_groups defaults to resnet_groups.
            _attention(p, "mid_block.attentions.0", ch[-1], cfg)
        for j in range(2):
            _resnet(p, f"mid_block.resnets.{j}", ch[-1], ch[-1], temb)
    _norm(p, "conv_norm_out", ch[0])
    _conv(p, "conv_out", ch[0], cfg.out_channels, 3)
    return p


def init_params(cfg: UNetConfig, seed: int = 0) -> dict[str, mx.array]:
    """Random parameters with PyTorch's default initialisation: U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) for conv/linear weights and biases (kaiming_uniform with a=sqrt(5)),
    GroupNorm weight 1 / bias 0, Embedding N(0, 1)."""
    shapes = param_shapes(cfg)
    key = mx.random.key(seed)
    keys = mx.random.split(key, len(shapes))
    params, fan_in = {}, {}
    for (name, shape), k in zip(shapes.items(), keys, strict=True):
        module = name.rsplit(".", 1)[0]
        if name == "class_embedding.weight":
            params[name] = mx.random.normal(shape, key=k)
        elif name.endswith(".weight") and len(shape) == 1:
            params[name] = mx.ones(shape)
        elif name.endswith(".bias") and module not in fan_in:
            params[name] = mx.zeros(shape)
        else:
            if name.endswith(".weight"):
                fan_in[module] = math.prod(shape[1:])
            bound = 1.0 / math.sqrt(fan_in[module])
            params[name] = mx.random.uniform(-bound, bound, shape, key=k)
    return params


def check_params(cfg: UNetConfig, params: dict[str, mx.array]) -> dict[str, mx.array]:
    """Checks names and shapes against the config; returns the params in state_dict order."""
    shapes = param_shapes(cfg)
    missing = [n for n in shapes if n not in params]
    unexpected = [n for n in params if n not in shapes]
    if missing or unexpected:
        raise ValueError(
            f"checkpoint does not match the config: missing {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}"
            f"{' ...' if len(unexpected) > 8 else ''}"
        )
    for name, shape in shapes.items():
        if tuple(params[name].shape) != shape:
            raise ValueError(
                f"parameter {name} has shape {tuple(params[name].shape)}, "
                f"the config implies {shape} (conv weights are (O, kH, kW, I))"
            )
    return {n: params[n] for n in shapes}


def count_params(params: dict[str, mx.array]) -> int:
    return sum(v.size for v in params.values())
