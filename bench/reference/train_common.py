"""What the reference training-step benchmarks (train_step_mlx.py, train_step_torch.py) share:
the JSON config, DDPM's noise schedule, timing statistics and the machine description.
Standard library only, so either script runs with just its own framework installed.

Config (one JSON object on the command line, or @path/to/config.json):
    {"unet": {...diffusers UNet2DModel config...}, "batch": 8, "resolution": 16,
     "warmup": 3, "steps": 10, "seed": 0, "lr": 1e-4}
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import statistics
import sys

DEFAULTS = {"batch": 8, "resolution": 16, "warmup": 3, "steps": 10, "seed": 0, "lr": 1e-4}
# AdamW hyper-parameters both sides use (torch.optim.AdamW's defaults, stated explicitly
# because MLX's AdamW defaults differ in bias correction).
BETAS = (0.9, 0.999)
EPS = 1e-8
WEIGHT_DECAY = 0.01
# DDPM (Ho et al. 2020, section 4): T = 1000, betas linear from 1e-4 to 0.02.
TIMESTEPS, BETA_START, BETA_END = 1000, 1e-4, 0.02


def parse_args(argv: list[str]) -> dict:
    if len(argv) != 1:
        raise SystemExit(
            f"usage: {os.path.basename(sys.argv[0])} '<json config>' | @config.json\n{__doc__}"
        )
    text = argv[0]
    if text.startswith("@"):
        with open(text[1:]) as f:
            text = f.read()
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise SystemExit(f"config is not valid JSON: {err}") from err
    if not isinstance(config, dict) or not isinstance(config.get("unet"), dict):
        raise SystemExit("config needs a `unet` object (the diffusers UNet2DModel config)")
    unknown = set(config) - set(DEFAULTS) - {"unet"}
    if unknown:
        raise SystemExit(f"unknown config keys: {', '.join(sorted(unknown))}")
    config = {**DEFAULTS, **config}
    for key in ("batch", "resolution", "steps"):
        if not isinstance(config[key], int) or config[key] < 1:
            raise SystemExit(f"config `{key}` must be a positive integer, got {config[key]!r}")
    if not isinstance(config["warmup"], int) or config["warmup"] < 0:
        raise SystemExit(
            f"config `warmup` must be a non-negative integer, got {config['warmup']!r}"
        )
    levels = len(config["unet"].get("block_out_channels", [0] * 4))
    if config["resolution"] % 2 ** (levels - 1):
        raise SystemExit(
            f"config `resolution` {config['resolution']} is not divisible by 2^{levels - 1} "
            f"({levels} U-Net levels)"
        )
    return config


def alphas_cumprod() -> list[float]:
    """abar_t = prod_{s<=t} (1 - beta_s), in double precision (DDPM eq. 4)."""
    out, prod = [], 1.0
    for i in range(TIMESTEPS):
        beta = BETA_START + (BETA_END - BETA_START) * i / (TIMESTEPS - 1)
        prod *= 1.0 - beta
        out.append(prod)
    return out


def cpu_model() -> str:
    if platform.system() == "Darwin":
        try:
            import subprocess

            return subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True
            ).stdout.strip()
        except OSError:
            return platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_libraries() -> list[str]:
    """BLAS/LAPACK libraries mapped into this process (Linux). It matters: the mlx-cpu wheel
    bundles netlib's reference BLAS, about 10x slower at GEMM here than OpenBLAS, which a
    run can interpose with LD_PRELOAD (see bench/README.md)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return []
    names = {os.path.basename(p) for p in paths}
    return sorted(n for n in names if any(k in n.lower() for k in ("blas", "mkl", "lapack")))


def max_rss_bytes() -> int:
    """The process's peak resident set size (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if platform.system() == "Darwin" else rss * 1024


def report(
    impl: str,
    config: dict,
    params: int,
    step_seconds: list[float],
    warmup_seconds: list[float],
    peak_memory_bytes: int | None,
    peak_memory_source: str,
    device: str,
    versions: dict,
    final_loss: float,
) -> None:
    """Prints the benchmark's one JSON line; a peak of None falls back to the process's
    max RSS (the only measure some backends have)."""
    median = statistics.median(step_seconds)
    rss = max_rss_bytes()
    line = {
        "impl": impl,
        "params": params,
        "images_per_s": config["batch"] / median,
        "step_ms_median": median * 1000.0,
        "peak_memory_bytes": rss if peak_memory_bytes is None else peak_memory_bytes,
        "device": device,
        "versions": {"python": platform.python_version(), **versions},
        "peak_memory_source": peak_memory_source,
        "max_rss_bytes": rss,
        "blas": blas_libraries(),
        # Thread counts decide CPU timings on a shared machine (oversubscribed OpenMP stalls).
        "thread_env": {
            k: os.environ[k]
            for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
            if k in os.environ
        },
        # Other work on the machine skews timings; the 1-minute load average says how much.
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "step_ms": [round(s * 1000.0, 3) for s in step_seconds],
        # The first warm-up step includes tracing and compilation.
        "warmup_ms": [round(s * 1000.0, 3) for s in warmup_seconds],
        "batch": config["batch"],
        "resolution": config["resolution"],
        "warmup": config["warmup"],
        "steps": config["steps"],
        "final_loss": final_loss,
    }
    if not math.isfinite(final_loss):
        raise SystemExit(f"{impl}: training diverged (loss {final_loss})")
    print(json.dumps(line))
