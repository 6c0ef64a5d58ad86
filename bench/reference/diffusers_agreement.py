"""The engine's samplers against diffusers' schedulers on the same checkpoint, noise and sigmas.

    bench/.venv/bin/python bench/reference/diffusers_agreement.py --model DIR [--steps 5,10,20]
        [--n 16] [--seed 0] [--json OUT.json] [--markdown] [--check]

`npx anneal bench --only diffusers-agreement --model EPS_DIR,V_DIR` runs it and renders the
table into bench/RESULTS.md.

The checkpoint is loaded into diffusers' UNet2DModel (convert_to_diffusers.py) and sampled
with diffusers' own schedulers; the engine samples the same checkpoint through
engine_sample.ts (npx tsx) with:
  - the same initial unit-normal noise z (numpy, from --seed) and class labels (i % classes);
  - the same sigma list: diffusers' "trailing" integer timesteps (999, 899, ..., 99 at 10
    steps; every scheduler here gives the same ones), handed to the engine as an explicit
    sigma list, plus rows on the engine's default schedule (Karras for euler and dpmpp-2m,
    uniform-in-t for ddpm), whose sigmas diffusers' schedulers are given (Euler through
    `set_timesteps(sigmas=...)`, the others by setting `sigmas`/`timesteps` after
    `set_timesteps`, with t from the scheduler's own log-sigma interpolation);
  - for the ancestral pair (engine ddpm = k-diffusion's eta = 1 ancestral step; diffusers
    EulerAncestralDiscreteScheduler, the same step) the same injected noise: diffusers'
    `randn_tensor` is replaced by one that returns step i's unit-normal draw at step i.

Pairs: ddim / DDIMScheduler (eta 0), dpmpp-2m / DPMSolverMultistepScheduler (dpmsolver++,
order 2, final step to sigma 0), euler / EulerDiscreteScheduler, ddpm /
EulerAncestralDiscreteScheduler.

Conventions. The engine works in VE scaling, x = x0 + sigma z, and starts at x = z sigma_0.
Euler and EulerAncestral work in the same scaling (their model input is x / sqrt(1 + sigma^2),
scale_model_input, as the engine's c_in); they are started at z sigma_0 directly rather than
z * init_noise_sigma. DDIM and DPM-Solver work in VP scaling, x_vp = x / sqrt(1 + sigma^2); they
are started at z sigma_0 / sqrt(1 + sigma_0^2), the exact VP image of the engine's start
(diffusers' pipelines start them at z, 2e-5 away at sigma_0 = 157). All chains end at sigma = 0,
where both scalings are x0. Final images are clamped to [-1, 1] on both sides.

Clipping: rows with clip "off" turn the engine's clipDenoised off and diffusers' DDIM
clip_sample off (DPM thresholding is off by default; Euler has none). Rows with clip "on" run
the engine's default (each denoised estimate clamped to [-1, 1]) and, for ddim only,
diffusers' DDIM with clip_sample=True and use_clipped_model_output=True (eps recomputed
from the clipped x0, which is what the engine's clamp on D amounts to; diffusers' default,
False, keeps the network's eps beside the clipped x0 and is reported beside it); for the
other samplers diffusers has no equivalent and the row reports what clipping changes in the
engine's own images.

Not compared, and why (diffusers' own schedule choices, not the samplers): DDIMScheduler
indexes alphas_cumprod by integer timestep and steps to t - T // steps, so it cannot follow the
engine's uniform-in-t list (fractional t) and its "linspace" spacing does not follow its own
list; with use_karras_sigmas, DPMSolverMultistep rounds the model's timesteps to integers
(linear betas) while stepping on the exact Karras sigmas, where the engine passes fractional t;
EulerAncestral's "linspace" interpolates sigma linearly in t, the engine log-sigma. Each of
these is avoided above by giving both sides the same explicit sigmas and timesteps.

Noise tiles: an image whose high-frequency RMS (neighbour differences, see hf_rms) exceeds
NOISE_HF counts as a noise tile. Prints a markdown table (--markdown) or JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import diffusers
import numpy as np
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
)
from diffusers.schedulers import scheduling_euler_ancestral_discrete

from convert_to_diffusers import load_unet, read_config

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Tolerance, in image units (the range [-1, 1] is 2 wide). One U-Net evaluation agrees
# between MLX and PyTorch to ~1e-5 of its output (parity_test.py asserts 1e-4); a sampler of N
# steps compounds N such differences through its update map, whose sensitivity to x is O(1)
# for these solvers, so ~N * 1e-4 = 2e-3 RMS at 20 steps is round-off, and the largest single
# pixel of thousands may reach 10x that. A wrong scaling, timestep or order shows as 1e-1..1.
TOL_RMS = 2e-3
TOL_MAX = 2e-2
# A tile is "noise" when its neighbour-difference RMS exceeds this (pixel units in [-1, 1]).
# Real MNIST 32x32 held-out digits score median 0.34, max 0.45 (1000 images); Gaussian noise
# clamped to [-1, 1] scores ~1.0 at std 1, ~1.2 at std 2, and >= 0.64 from std 0.5 up; a
# blurry digit scores lower than a sharp one.
NOISE_HF = 0.6

PAIRS = {
    "ddim": "DDIMScheduler",
    "dpmpp-2m": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "ddpm": "EulerAncestralDiscreteScheduler",
}


def engine_table(schedule: dict) -> np.ndarray:
    """The engine's discrete sigma table (schedules.cpp DiscreteSigmas), in double."""
    kind = schedule.get("kind", "linear")
    steps = int(schedule.get("timesteps", 1000))
    t = np.arange(steps, dtype=np.float64)
    if kind == "linear":
        b0, b1 = float(schedule.get("beta_start", 1e-4)), float(schedule.get("beta_end", 0.02))
        betas = b0 + (b1 - b0) * t / (steps - 1)
    elif kind == "cosine":
        f = np.cos(((np.arange(steps + 1) / steps) + 0.008) / 1.008 * np.pi / 2) ** 2
        betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    else:
        raise ValueError(f"schedule kind {kind!r}")
    abar = np.cumprod(1 - betas)
    return np.sqrt((1 - abar) / abar)


def engine_default_sigmas(table: np.ndarray, sampler: str, steps: int) -> list[float]:
    """generate.cpp make_sigmas "default" for a VP model: uniform-in-t for ddpm/ddim, else
    Karras (rho 7) between the table's ends."""
    if sampler in ("ddpm", "ddim"):
        log = np.log(table)
        max_t = len(table) - 1
        out = []
        for i in range(steps):
            t = max_t if steps == 1 else max_t * (1 - i / (steps - 1))
            lo = int(np.floor(t))
            hi = min(lo + 1, max_t)
            w = t - lo
            out.append(float(np.exp((1 - w) * log[lo] + w * log[hi])))
        return [*out, 0.0]
    rho = 7.0
    a, b = table[-1] ** (1 / rho), table[0] ** (1 / rho)
    r = np.arange(steps) / max(steps - 1, 1)
    return [*((a + r * (b - a)) ** rho).tolist(), 0.0]


def hf_rms(images: np.ndarray) -> np.ndarray:
    """Per image (NHWC): RMS of horizontal and vertical neighbour differences."""
    dx = np.diff(images, axis=2)
    dy = np.diff(images, axis=1)
    return np.sqrt((np.mean(dx**2, axis=(1, 2, 3)) + np.mean(dy**2, axis=(1, 2, 3))) / 2)


def make_scheduler(name: str, sched_cfg: dict, clip: bool, spacing: str = "trailing"):
    common = {
        "num_train_timesteps": sched_cfg["num_train_timesteps"],
        "beta_schedule": sched_cfg["beta_schedule"],
        "prediction_type": sched_cfg["prediction_type"],
        "timestep_spacing": spacing,
    }
    if "beta_start" in sched_cfg:
        common["beta_start"] = sched_cfg["beta_start"]
        common["beta_end"] = sched_cfg["beta_end"]
    if name == "DDIMScheduler":
        return DDIMScheduler(**common, clip_sample=clip, set_alpha_to_one=True)
    if name == "DPMSolverMultistepScheduler":
        return DPMSolverMultistepScheduler(
            **common, algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero"
        )
    if name == "EulerDiscreteScheduler":
        return EulerDiscreteScheduler(**common, final_sigmas_type="zero")
    if name == "EulerAncestralDiscreteScheduler":
        return EulerAncestralDiscreteScheduler(**common)
    raise ValueError(name)


def scheduler_sigmas(s, name: str) -> list[float]:
    """The sigma list (ending in 0) a scheduler steps through after set_timesteps."""
    if name == "DDIMScheduler":
        abar = s.alphas_cumprod[s.timesteps.long()].double().numpy()
        return [*np.sqrt((1 - abar) / abar).tolist(), 0.0]
    return s.sigmas.double().numpy().tolist()


def set_sigmas(s, name: str, sigmas: list[float]) -> None:
    """Makes a sigma-space scheduler step through `sigmas` (ending in 0), with timesteps from
    its own log-sigma interpolation (the map the engine's sigma_to_t implements)."""
    steps = len(sigmas) - 1
    if name == "EulerDiscreteScheduler":
        s.set_timesteps(sigmas=sigmas)
        return
    if name == "DDIMScheduler":
        raise ValueError("DDIMScheduler indexes alphas_cumprod by integer timestep")
    s.set_timesteps(steps)
    table = ((1 - s.alphas_cumprod) / s.alphas_cumprod) ** 0.5
    log_sigmas = np.log(table.numpy().astype(np.float64))
    # EulerDiscreteScheduler's map (it does not use self); not every scheduler has one.
    to_t = EulerDiscreteScheduler._sigma_to_t
    t = np.array([to_t(None, np.float64(x), log_sigmas) for x in sigmas[:-1]])
    s.timesteps = torch.from_numpy(t.astype(np.float32))
    s.sigmas = torch.tensor(sigmas, dtype=torch.float32)


class InjectedNoise:
    """Replaces diffusers' randn_tensor in the ancestral scheduler: step i gets draw i."""

    def __init__(self, step_noise_nchw: torch.Tensor):
        self.noise = step_noise_nchw
        self.calls = 0

    def __call__(self, shape, **_):
        z = self.noise[self.calls]
        self.calls += 1
        assert tuple(z.shape) == tuple(shape), (z.shape, shape)
        return z.clone()


@torch.no_grad()
def diffusers_sample(model, s, name, z, step_noise, labels, **step_kwargs) -> np.ndarray:
    """Runs scheduler `s` (timesteps already set) from unit noise z (NCHW); returns NHWC."""
    sigma0 = float(scheduler_sigmas(s, name)[0])
    vp = name in ("DDIMScheduler", "DPMSolverMultistepScheduler")
    x = z * (sigma0 / (1 + sigma0**2) ** 0.5 if vp else sigma0)
    injected = InjectedNoise(step_noise)
    original = scheduling_euler_ancestral_discrete.randn_tensor
    scheduling_euler_ancestral_discrete.randn_tensor = injected
    try:
        for t in s.timesteps:
            inp = x if vp else s.scale_model_input(x, t)
            out = model(inp, t.float().expand(x.shape[0]), class_labels=labels).sample
            x = s.step(out, t, x, **step_kwargs).prev_sample
    finally:
        scheduling_euler_ancestral_discrete.randn_tensor = original
    if name == "EulerAncestralDiscreteScheduler" and injected.calls != len(s.timesteps):
        raise RuntimeError(f"ancestral scheduler drew {injected.calls} times, not once a step")
    return x.clamp(-1, 1).permute(0, 2, 3, 1).numpy()


def run_engine(model_dir: str, n: int, z: np.ndarray, step_noise: np.ndarray, jobs, tmp):
    """Engine images per job id, from one engine_sample.ts process."""
    z.astype("<f4").tofile(os.path.join(tmp, "noise.bin"))
    step_noise.astype("<f4").tofile(os.path.join(tmp, "step-noise.bin"))
    job = {
        "model": os.path.abspath(model_dir),
        "n": n,
        "noise": os.path.join(tmp, "noise.bin"),
        "stepNoise": os.path.join(tmp, "step-noise.bin"),
        "out": tmp,
        "jobs": jobs,
    }
    path = os.path.join(tmp, "job.json")
    with open(path, "w") as f:
        json.dump(job, f)
    tsx = os.path.join(ROOT, "node_modules", ".bin", "tsx")
    run = subprocess.run(
        [tsx, os.path.join(HERE, "engine_sample.ts"), path],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(f"engine_sample.ts failed ({run.returncode}):\n{run.stderr[-4000:]}")
    out = {}
    for j in jobs:
        out[j["id"]] = np.fromfile(os.path.join(tmp, j["id"] + ".bin"), dtype="<f4").reshape(
            z.shape
        )
    return out


def compare(
    model_dir: str, steps_list, n: int, seed: int, samplers, spacing: str = "trailing"
) -> list[dict]:
    config = read_config(model_dir)
    model, sched_cfg = load_unet(model_dir)
    table = engine_table(config.get("schedule") or {})
    cfg = model.config
    shape = (n, cfg.sample_size, cfg.sample_size, cfg.in_channels)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape, dtype=np.float32)
    step_noise = rng.standard_normal((max(steps_list), *shape), dtype=np.float32)
    labels = None
    if cfg.num_class_embeds:
        # The engine cycles through the classes; the last embedding is the null class.
        labels = torch.arange(n) % (cfg.num_class_embeds - 1)
    z_t = torch.from_numpy(z).permute(0, 3, 1, 2).contiguous()
    step_t = torch.from_numpy(step_noise).permute(0, 1, 4, 2, 3).contiguous()

    cases = []
    for steps in steps_list:
        for sampler in samplers:
            name = PAIRS[sampler]
            s = make_scheduler(name, sched_cfg, clip=False, spacing=spacing)
            s.set_timesteps(steps)
            own = scheduler_sigmas(s, name)
            ts = [int(t) for t in s.timesteps]
            for clip in (False, True):
                cases.append((spacing, steps, sampler, clip, own, ts))
            if sampler != "ddim":
                cases.append(
                    ("engine-default", steps, sampler, False,
                     engine_default_sigmas(table, sampler, steps), None)
                )
    jobs = []
    for schedule, steps, sampler, clip, sigmas, _ in cases:
        job = {"id": f"{schedule}-{sampler}-{steps}-{'clip' if clip else 'noclip'}",
               "sampler": sampler, "clipDenoised": clip, "eta": 0}
        if schedule == "engine-default":
            job.update(steps=steps, schedule="default")  # the engine's own list, not ours
        else:
            job["sigmas"] = sigmas
        jobs.append(job)
    with tempfile.TemporaryDirectory() as tmp:
        engine = run_engine(model_dir, n, z, step_noise, jobs, tmp)

    rows = []
    ref = {}
    for (schedule, steps, sampler, clip, sigmas, ts), job in zip(cases, jobs, strict=True):
        name = PAIRS[sampler]
        mine = engine[job["id"]]
        row = {
            "model": os.path.basename(os.path.normpath(model_dir)),
            "parameterization": config.get("parameterization", "eps"),
            "engine": sampler,
            "diffusers": name,
            "steps": steps,
            "schedule": schedule,
            "clip": clip,
            "sigma_max": sigmas[0],
            "timesteps": ts,
            "noise_tiles_engine": int((hf_rms(mine) > NOISE_HF).sum()),
            "n": n,
        }
        theirs = None
        if not clip or sampler == "ddim":
            s = make_scheduler(name, sched_cfg, clip=clip, spacing=spacing)
            if schedule == spacing:
                s.set_timesteps(steps)
            else:
                set_sigmas(s, name, sigmas)
            used = scheduler_sigmas(s, name)
            row["sigma_list_rel_diff"] = float(
                np.max(np.abs(np.array(used) - np.array(sigmas)) / np.maximum(sigmas, 1e-12))
            )
            # The engine clamps D, so eps follows from the clamped x0: DDIM's
            # use_clipped_model_output=True (Glide's form).
            kwargs = {"use_clipped_model_output": True} if clip else {}
            theirs = diffusers_sample(model, s, name, z_t, step_t[:steps], labels, **kwargs)
            if clip:
                # diffusers' default keeps the network's own eps beside the clipped x0.
                default = diffusers_sample(model, s, name, z_t, step_t[:steps], labels)
                gap = np.sqrt(np.mean((mine - default) ** 2))
                row["rms_vs_diffusers_default_clip"] = float(gap)
                row["noise_tiles_diffusers_default_clip"] = int((hf_rms(default) > NOISE_HF).sum())
            d = mine - theirs
            row["max_abs"] = float(np.abs(d).max())
            row["rms"] = float(np.sqrt(np.mean(d**2)))
            row["agree"] = row["rms"] <= TOL_RMS and row["max_abs"] <= TOL_MAX
            row["noise_tiles_diffusers"] = int((hf_rms(theirs) > NOISE_HF).sum())
        if clip:
            base = ref[(schedule, steps, sampler)]
            row["clip_changes_rms"] = float(np.sqrt(np.mean((mine - base) ** 2)))
            row["clip_changes_max_abs"] = float(np.abs(mine - base).max())
        else:
            ref[(schedule, steps, sampler)] = mine
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    head = (
        "| model | engine / diffusers | steps | sigmas | clip | max abs | RMS | agree "
        "| noise tiles engine / diffusers | clip changes engine (RMS) |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        agree = "-" if "agree" not in r else ("yes" if r["agree"] else "**no**")
        mx = f"{r['max_abs']:.1e}" if "max_abs" in r else "-"
        rms = f"{r['rms']:.1e}" if "rms" in r else "-"
        tiles = f"{r['noise_tiles_engine']} / {r.get('noise_tiles_diffusers', '-')} of {r['n']}"
        clip_changes = f"{r['clip_changes_rms']:.3f}" if "clip_changes_rms" in r else ""
        lines.append(
            f"| {r['model']} ({r['parameterization']}) | {r['engine']} / "
            f"{r['diffusers'].replace('Scheduler', '')} | {r['steps']} | {r['schedule']} "
            f"| {'on' if r['clip'] else 'off'} | {mx} | {rms} | {agree} | {tiles} "
            f"| {clip_changes} |"
        )
    return head + "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, help="checkpoint directory")
    parser.add_argument("--steps", default="5,10,20")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samplers", default=",".join(PAIRS))
    parser.add_argument(
        "--spacing",
        choices=["trailing", "leading"],
        default="trailing",
        help="diffusers' timestep_spacing for the rows on its own timesteps (leading starts "
        "below t = 999: at 900 for DDIM and Euler at 10 steps)",
    )
    parser.add_argument("--json", help="write all rows here")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if any compared row disagrees"
    )
    args = parser.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    samplers = args.samplers.split(",")
    for s in samplers:
        if s not in PAIRS:
            parser.error(f"--samplers: {s!r} is not one of {', '.join(PAIRS)}")
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    rows = []
    for model_dir in args.model:
        rows += compare(model_dir, steps, args.n, args.seed, samplers, args.spacing)
    result = {
        "tol_rms": TOL_RMS,
        "tol_max": TOL_MAX,
        "noise_hf": NOISE_HF,
        "steps": steps,
        "n": args.n,
        "seed": args.seed,
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__},
        "rows": rows,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.markdown:
        print(markdown(rows))
    else:
        print(json.dumps(result))  # one line, last: what `anneal bench` reads
    disagree = [r for r in rows if r.get("agree") is False]
    return 1 if disagree and args.check else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
