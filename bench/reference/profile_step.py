"""Where a U-Net training step's time goes, in MLX (the kernels the C++ engine runs) or in
PyTorch (diffusers' UNet2DModel), at one training config (train_common's JSON):

    python profile_step.py mlx|torch '<json config>' [repeats]

phases: forward; forward + backward; the whole step (forward, backward, AdamW). backward =
(fwd+bwd) - fwd, optimizer = step - (fwd+bwd). Compiled in MLX, as the engine's step is.
families: every op of the U-Net, grouped (conv, attention, group norm, elementwise, linear),
run in isolation at the U-Net's own shapes, forward + backward, one family per timing. The
shapes come from walking diffusers' UNet2DModel block layout (layer_shapes below).
Prints one JSON line. For MLX on Linux, LD_PRELOAD the system OpenBLAS as the engine links it.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from train_common import TIMESTEPS, parse_args
from unet_config import parse_config

REPEATS = 5  # timed calls per measurement (after one warm-up call); argv[3] overrides


def layer_shapes(cfg, batch: int, res: int) -> dict[str, list[tuple]]:
    """Per family, the (shape...) of every op in a UNet2DModel forward pass, NHWC."""
    ch, lpb = list(cfg.block_out_channels), cfg.layers_per_block
    temb = 4 * ch[0]
    f = {"conv": [], "attention": [], "group_norm": [], "elementwise": [], "linear": []}

    def conv(r, cin, cout, k=3, stride=1):
        f["conv"].append((batch, r, r, cin, cout, k, stride))

    def resnet(r, cin, cout):
        f["group_norm"] += [(batch, r, r, cin), (batch, r, r, cout)]
        f["elementwise"] += [(batch, r, r, cin), (batch, r, r, cout), (batch, r, r, cout)]  # silu x2, add
        conv(r, cin, cout)
        conv(r, cout, cout)
        f["linear"].append((batch, temb, cout))
        if cin != cout:
            conv(r, cin, cout, k=1)

    def attention(r, c):
        heads = max(1, c // (cfg.attention_head_dim or c))
        f["group_norm"].append((batch, r, r, c))
        f["linear"] += [(batch * r * r, c, c)] * 4  # q, k, v, out
        f["attention"].append((batch, heads, r * r, c // heads))
        f["elementwise"].append((batch, r, r, c))  # residual add

    conv(res, cfg.in_channels, ch[0])
    r, cin = res, ch[0]
    for i, c in enumerate(ch):
        for _ in range(lpb):
            resnet(r, cin, c)
            cin = c
            if cfg.down_block_types[i] == "AttnDownBlock2D":
                attention(r, c)
        if i < len(ch) - 1:
            conv(r // 2, c, c, stride=2)  # output resolution r/2
            r //= 2
    resnet(r, ch[-1], ch[-1])
    if cfg.add_attention:
        attention(r, ch[-1])
    resnet(r, ch[-1], ch[-1])
    rev = ch[::-1]
    prev = rev[0]
    for i, c in enumerate(rev):
        skip_in = rev[min(i + 1, len(ch) - 1)]
        for j in range(lpb + 1):
            skip = skip_in if j == lpb else c
            resnet(r, (prev if j == 0 else c) + skip, c)
            if cfg.up_block_types[i] == "AttnUpBlock2D":
                attention(r, c)
        prev = c
        if i < len(ch) - 1:
            r *= 2
            f["elementwise"].append((batch, r, r, c))  # nearest upsample copy
            conv(r, c, c)
    f["group_norm"].append((batch, r, r, ch[0]))
    f["elementwise"].append((batch, r, r, ch[0]))
    conv(r, ch[0], cfg.out_channels)
    return f


def family_flops(family: str, shapes: list[tuple]) -> float:
    """Forward FLOPs (2 x multiply-adds) of a family's matrix products; 0 for memory-bound ops."""
    total = 0.0
    for s in shapes:
        if family == "conv":
            b, r, _, cin, cout, k, _ = s
            total += 2.0 * b * r * r * cin * cout * k * k
        elif family == "attention":
            b, h, n, d = s
            total += 4.0 * b * h * n * n * d
        elif family == "linear":
            m, fin, fout = s
            total += 2.0 * m * fin * fout
    return total


def timed(fn, sync) -> float:
    """Median milliseconds of fn over REPEATS calls after one warm-up call."""
    sync(fn())
    out = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        sync(fn())
        out.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(out)


def profile_mlx(config, shapes):
    import mlx.core as mx
    import mlx.optimizers as optim

    import unet
    from train_step_mlx import build_step

    cfg = unet.parse_config(config["unet"])
    params = unet.init_params(cfg, 0)
    b, res = config["batch"], config["resolution"]
    x = mx.random.normal((b, res, res, cfg.in_channels))
    t = mx.random.randint(0, TIMESTEPS, (b,)).astype(mx.float32)
    labels = mx.random.randint(0, cfg.num_class_embeds, (b,)) if cfg.num_class_embeds else None

    def loss(p):
        return mx.mean(mx.square(unet.apply(cfg, p, x, t, labels) - x))

    fwd = mx.compile(lambda p: unet.apply(cfg, p, x, t, labels))
    fwd_bwd = mx.compile(mx.value_and_grad(loss))
    step, state, _ = build_step({**config, "warmup": 0})
    sync = mx.eval
    phases = {
        "forward_ms": timed(lambda: fwd(params), sync),
        "forward_backward_ms": timed(lambda: fwd_bwd(params), sync),
        "step_ms": timed(lambda: (step(), state)[1], sync),
    }
    # AdamW alone, compiled as in the engine's step, on gradients of the parameters' shapes:
    # a direct measure (step - fwd/bwd is a difference of noisy numbers on a loaded machine).
    opt = optim.AdamW(learning_rate=1e-4, bias_correction=True)
    opt.init(params)
    grads = {k: mx.random.normal(v.shape) * 1e-3 for k, v in params.items()}
    opt_state = [opt.state]
    update = mx.compile(lambda g, p: opt.apply_gradients(g, p), inputs=opt_state, outputs=opt_state)
    phases["optimizer_direct_ms"] = timed(lambda: (update(grads, params), opt_state), sync)
    a = mx.random.normal((1024, 1024))
    matmul_ms = timed(lambda: a @ a, sync)

    def family_fn(family, ops):
        """(grad fn, inputs, weights): every op of the family on fresh inputs of its shape."""
        ins, ws, fns = [], [], []
        for s in ops:
            if family == "conv":
                bb, r, _, ci, co, k, stride = s
                ins.append(mx.random.normal((bb, r * stride, r * stride, ci)))
                ws.append(mx.random.normal((co, k, k, ci)) * 0.05)
                fns.append(lambda a, w, k=k, st=stride: mx.conv2d(a, w, stride=st, padding=k // 2))
            elif family == "linear":
                m, fi, fo = s
                ins.append(mx.random.normal((m, fi)))
                ws.append(mx.random.normal((fo, fi)) * 0.05)
                fns.append(lambda a, w: a @ w.T)
            elif family == "group_norm":
                ins.append(mx.random.normal(s))
                ws.append(mx.ones((s[3],)))
                fns.append(lambda a, w: unet.group_norm(a, w, w, cfg.norm_num_groups, cfg.norm_eps))
            elif family == "attention":
                bb, h, n, d = s
                ins.append(mx.random.normal((bb, h, n, d)))
                ws.append(mx.zeros((1,)))
                fns.append(lambda a, w, d=d: mx.fast.scaled_dot_product_attention(a, a, a, scale=d**-0.5))
            else:
                ins.append(mx.random.normal(s))
                ws.append(mx.zeros((1,)))
                fns.append(lambda a, w: unet.silu(a) + a)

        def apply(ins, ws):
            return sum(mx.mean(fn(a, w)) for fn, a, w in zip(fns, ins, ws))

        return mx.compile(mx.grad(apply, argnums=(0, 1))), ins, ws

    families = {}
    for family, ops in shapes.items():
        fn, ins, ws = family_fn(family, ops)
        families[family] = timed(lambda: fn(ins, ws), sync)
    return phases, families, {"mlx": mx.__version__}, 2 * 1024**3 / matmul_ms / 1e6


def profile_torch(config, shapes):
    import torch
    import torch.nn.functional as F
    from diffusers import UNet2DModel

    model = UNet2DModel(**config["unet"])
    b, res = config["batch"], config["resolution"]
    cin = model.config.in_channels
    x = torch.randn(b, cin, res, res)
    t = torch.randint(0, TIMESTEPS, (b,))
    ncls = model.config.num_class_embeds
    labels = torch.randint(0, ncls, (b,)) if ncls else None
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def fwd():
        with torch.no_grad():
            return model(x, t, class_labels=labels).sample

    def fwd_bwd():
        model.zero_grad(set_to_none=True)
        loss = torch.mean((model(x, t, class_labels=labels).sample - x) ** 2)
        loss.backward()
        return loss

    def step():
        loss = fwd_bwd()
        opt.step()
        return loss

    sync = lambda _: None  # noqa: E731 -- CPU torch is synchronous
    phases = {"forward_ms": timed(fwd, sync), "forward_backward_ms": timed(fwd_bwd, sync), "step_ms": timed(step, sync)}
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    phases["optimizer_direct_ms"] = timed(opt.step, sync)
    a = torch.randn(1024, 1024)
    matmul_ms = timed(lambda: a @ a, sync)

    def run_family(family, ops):
        tensors = []
        for s in ops:
            if family == "conv":
                bb, r, _, ci, co, k, stride = s
                a = torch.randn(bb, ci, r * stride, r * stride, requires_grad=True)
                w = (torch.randn(co, ci, k, k) * 0.05).requires_grad_()
                tensors.append((a, w, lambda a, w, k=k, stride=stride: F.conv2d(a, w, stride=stride, padding=k // 2)))
            elif family == "linear":
                m, fi, fo = s
                a = torch.randn(m, fi, requires_grad=True)
                w = (torch.randn(fo, fi) * 0.05).requires_grad_()
                tensors.append((a, w, lambda a, w: a @ w.T))
            elif family == "group_norm":
                bb, r, _, c = s
                a = torch.randn(bb, c, r, r, requires_grad=True)
                w = torch.ones(c, requires_grad=True)
                tensors.append((a, w, lambda a, w: F.group_norm(a, cfg_groups, w, w, cfg_eps)))
            elif family == "attention":
                bb, h, n, d = s
                a = torch.randn(bb, h, n, d, requires_grad=True)
                tensors.append((a, None, lambda a, w: F.scaled_dot_product_attention(a, a, a)))
            else:
                bb, r, _, c = s
                a = torch.randn(bb, c, r, r, requires_grad=True)
                tensors.append((a, None, lambda a, w: F.silu(a) + a))

        def go():
            total = sum(torch.mean(fn(a, w)) for a, w, fn in tensors)
            total.backward()
            return total

        return go

    cfg_groups, cfg_eps = model.config.norm_num_groups, model.config.norm_eps
    families = {family: timed(run_family(family, ops), sync) for family, ops in shapes.items()}
    versions = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    return phases, families, versions, 2 * 1024**3 / matmul_ms / 1e6


def main(argv: list[str]) -> int:
    global REPEATS
    if len(argv) not in (2, 3) or argv[0] not in ("mlx", "torch"):
        print(__doc__, file=sys.stderr)
        return 2
    if len(argv) == 3:
        REPEATS = int(argv[2])
    config = parse_args(argv[1:2])
    shapes = layer_shapes(parse_config(config["unet"]), config["batch"], config["resolution"])
    run = profile_mlx if argv[0] == "mlx" else profile_torch
    phases, families, versions, matmul_gflops = run(config, shapes)
    phases["backward_ms"] = phases["forward_backward_ms"] - phases["forward_ms"]
    phases["optimizer_ms"] = phases["step_ms"] - phases["forward_backward_ms"]
    print(
        json.dumps(
            {
                "framework": argv[0],
                "phases": phases,
                "families_ms": families,
                "matmul_1024_gflops": matmul_gflops,
                "families_ops": {k: len(v) for k, v in shapes.items()},
                "families_gflop_fwd": {k: family_flops(k, v) / 1e9 for k, v in shapes.items()},
                "versions": versions,
                "repeats": REPEATS,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
