"""Training-step benchmark of diffusers' UNet2DModel on PyTorch: what a user would pick
instead of Anneal (DESIGN.md section 8). CPU on Linux, MPS on Apple Silicon.

The step is the same as train_step_mlx.py's: DDPM's eps-prediction objective (Ho et al.
2020, Algorithm 1) with x0 ~ U[-1, 1], t ~ U{0..T-1}, eps ~ N(0, I),
x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, loss = mean((eps_theta(x_t, t) - eps)^2),
then torch.optim.AdamW (lr 1e-4, same betas/eps/weight decay as the MLX side).

    bench/.venv/bin/python bench/reference/train_step_torch.py '{"unet": {...}, "batch": 8}'

Prints one JSON line (see train_common.report).
"""

from __future__ import annotations

import importlib.metadata
import sys
import time

import torch
import torch.nn.functional as F
from diffusers import UNet2DModel

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


def pick_device() -> torch.device:
    mps = getattr(torch.backends, "mps", None)
    return torch.device("mps" if mps is not None and mps.is_available() else "cpu")


def synchronize(device: torch.device) -> None:
    if device.type == "mps":
        torch.mps.synchronize()


def main(argv: list[str]) -> int:
    config = parse_args(argv)
    device = pick_device()
    torch.manual_seed(config["seed"])
    model = UNet2DModel(sample_size=config["resolution"], **config["unet"]).to(device).train()
    n_params = sum(p.numel() for p in model.parameters())
    batch, res = config["batch"], config["resolution"]
    shape = (batch, model.config.in_channels, res, res)
    abar = torch.tensor(alphas_cumprod(), dtype=torch.float32, device=device)
    num_classes = model.config.num_class_embeds
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config["lr"], betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY
    )

    def step() -> torch.Tensor:
        x0 = torch.rand(shape, device=device) * 2.0 - 1.0
        noise = torch.randn(shape, device=device)
        t = torch.randint(0, TIMESTEPS, (batch,), device=device)
        labels = torch.randint(0, num_classes, (batch,), device=device) if num_classes else None
        a = abar[t][:, None, None, None]
        x_t = a.sqrt() * x0 + (1.0 - a).sqrt() * noise
        loss = F.mse_loss(model(x_t, t, class_labels=labels).sample, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    times, warmup_times, loss = [], [], None
    peak_mps = 0
    for i in range(config["warmup"] + config["steps"]):
        start = time.perf_counter()
        loss = step()
        synchronize(device)
        (times if i >= config["warmup"] else warmup_times).append(time.perf_counter() - start)
        if device.type == "mps":
            peak_mps = max(peak_mps, torch.mps.driver_allocated_memory())

    if device.type == "mps":
        peak, source, name = peak_mps, "torch.mps.driver_allocated_memory (max over steps)", "mps"
    else:
        # PyTorch's CPU allocator keeps no statistics; the process's peak RSS is the honest
        # bound (it includes the interpreter and libraries, a few hundred MB).
        peak, source = None, "process max RSS"
        name = f"cpu: {cpu_model()} ({torch.get_num_threads()} threads)"
    versions = {"torch": torch.__version__, "diffusers": importlib.metadata.version("diffusers")}
    report(
        impl="diffusers-torch",
        config=config,
        params=n_params,
        step_seconds=times,
        warmup_seconds=warmup_times,
        peak_memory_bytes=peak,
        peak_memory_source=source,
        device=f"torch {name}",
        versions=versions,
        final_loss=loss.item(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
