"""Training-step benchmark of the MLX Python reference U-Net (unet.py): the floor for the
overhead of Anneal's binding (DESIGN.md section 8).

One step is DDPM's eps-prediction objective (Ho et al. 2020, Algorithm 1): x0 in [-1, 1],
t ~ U{0..T-1}, eps ~ N(0, I), x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps,
loss = mean((eps_theta(x_t, t) - eps)^2), then AdamW (lr 1e-4). The whole step, random draws
included, is one `mx.compile`d function over (params, optimizer state, RNG state) as in
ml-explore/mlx-examples; one `mx.eval` per step.

    bench/.venv/bin/python bench/reference/train_step_mlx.py '{"unet": {...}, "batch": 8}'

Prints one JSON line (see train_common.report). Needs only `mlx`.
"""

from __future__ import annotations

import json
import sys
import time

import mlx.core as mx
import mlx.optimizers as optim

import unet
from train_common import (
    BETAS,
    EPS,
    TIMESTEPS,
    WEIGHT_DECAY,
    alphas_cumprod,
    cpu_model,
    parse_args,
    report,
)


def build_step(config: dict, compiled: bool = True):
    """(step, state, n_params): `step()` runs one training step in place on `state`
    ([params, optimizer state, RNG state]) and returns the loss; evaluate state after it."""
    cfg = unet.parse_config(config["unet"])
    mx.random.seed(config["seed"])
    params = unet.init_params(cfg, config["seed"])
    batch, res = config["batch"], config["resolution"]
    shape = (batch, res, res, cfg.in_channels)
    abar = mx.array(alphas_cumprod(), dtype=mx.float32)
    num_classes = cfg.num_class_embeds

    # torch.optim.AdamW's update, bias correction included (MLX defaults to none).
    optimizer = optim.AdamW(
        learning_rate=config["lr"],
        betas=list(BETAS),
        eps=EPS,
        weight_decay=WEIGHT_DECAY,
        bias_correction=True,
    )
    optimizer.init(params)
    state = [params, optimizer.state, mx.random.state]

    def loss_fn(p, x_t, t, noise, labels, dropout_key):
        pred = unet.apply(cfg, p, x_t, t, labels, dropout_key)
        return mx.mean(mx.square(pred - noise))

    def step():
        x0 = mx.random.uniform(-1.0, 1.0, shape)
        noise = mx.random.normal(shape)
        t = mx.random.randint(0, TIMESTEPS, (batch,))
        labels = mx.random.randint(0, num_classes, (batch,)) if num_classes else None
        a = abar[t][:, None, None, None]
        x_t = mx.sqrt(a) * x0 + mx.sqrt(1.0 - a) * noise
        # A key is any two uint32 words; drawing them from the captured RNG state keeps the
        # dropout masks fresh per step (only when the config asks for dropout).
        dropout_key = None
        if cfg.dropout > 0:
            dropout_key = mx.random.randint(0, 2**31 - 1, (2,), dtype=mx.uint32)
        loss, grads = mx.value_and_grad(loss_fn)(params, x_t, t, noise, labels, dropout_key)
        params.update(optimizer.apply_gradients(grads, params))
        return loss

    if compiled:
        step = mx.compile(step, inputs=state, outputs=state)
    return step, state, unet.count_params(params)


def check_compile(config: dict, steps: int = 2) -> dict:
    """The compiled step must reproduce the uncompiled one (same seed, same random draws),
    and both must move the parameters (a step that updates nothing would also agree)."""
    results = []
    for compiled in (True, False):
        step, state, _ = build_step(config, compiled)
        for _ in range(steps):
            loss = step()
            mx.eval(state, loss)
        results.append((state[0], loss.item()))
    (p_c, loss_c), (p_u, loss_u) = results
    init = unet.init_params(unet.parse_config(config["unet"]), config["seed"])
    return {
        "check": "compile",
        "steps": steps,
        "max_abs_param_diff": max(mx.abs(p_c[n] - p_u[n]).max().item() for n in p_c),
        "max_abs_param_update": max(mx.abs(p_c[n] - init[n]).max().item() for n in p_c),
        "loss_compiled": loss_c,
        "loss_uncompiled": loss_u,
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check-compile"]:
        print(json.dumps(check_compile(parse_args(argv[1:]))))
        return 0
    config = parse_args(argv)
    step, state, n_params = build_step(config)

    times, warmup_times, loss = [], [], None
    for i in range(config["warmup"] + config["steps"]):
        start = time.perf_counter()
        loss = step()
        mx.eval(state, loss)
        (times if i >= config["warmup"] else warmup_times).append(time.perf_counter() - start)

    on_cpu = mx.default_device() == mx.cpu
    device_name = f"mlx cpu: {cpu_model()}" if on_cpu else "mlx gpu"
    report(
        impl="mlx-python",
        config=config,
        params=n_params,
        step_seconds=times,
        warmup_seconds=warmup_times,
        peak_memory_bytes=mx.get_peak_memory(),
        peak_memory_source="mx.get_peak_memory (MLX allocator)",
        device=device_name,
        versions={"mlx": mx.__version__},
        final_loss=loss.item(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
