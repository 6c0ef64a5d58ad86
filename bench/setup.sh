#!/usr/bin/env bash
# Creates bench/.venv, the reference environment of the benchmarks and of the checkpoint
# parity test: PyTorch + diffusers (what a user would pick instead of Anneal) and MLX
# Python (the floor for the binding's overhead). Idempotent: rerunning only installs what
# is missing. Not run by `npm install` (DESIGN.md section 8, issue 4).
#
# MLX is pinned in ONE place, native/package.json's `mlx.version`; the frontend `mlx` and
# its backend wheel go in the same pip call as everything else, because two pip calls can
# resolve different MLX builds into one environment.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="$here/.venv"

# diffusers 0.42.1 is the release the reference U-Net (bench/reference/unet.py) was
# checked against; its UNet2DModel runs on torch 2.13.
DIFFUSERS_VERSION="0.42.1"

say() { printf '[bench/setup] %s\n' "$*"; }
die() { printf '[bench/setup] error: %s\n' "$*" >&2; exit 1; }

python="${ANNEAL_PYTHON:-python3}"
command -v "$python" >/dev/null || die "no $python on PATH; Python >= 3.10 is required (or set ANNEAL_PYTHON)"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "$python is $("$python" -V 2>&1); MLX's wheels need Python >= 3.10"

mlx_version="$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["mlx"]["version"])' \
  "$root/native/package.json")" || die "cannot read mlx.version from native/package.json"

os="$(uname -s)"
arch="$(uname -m)"
case "$os/$arch" in
  Linux/x86_64)
    # The CPU build of torch 2.13.0 lies on this machine's disk; any other torch pulls a
    # multi-GB CUDA build. Not pinning the local label (+cpu) keeps the script usable
    # where only PyPI's build exists.
    torch_req="torch==2.13.0"
    mlx_backend="mlx-cpu==$mlx_version"
    ;;
  Linux/aarch64)
    torch_req="torch==2.13.0"
    mlx_backend="mlx-cpu==$mlx_version"
    ;;
  Darwin/arm64)
    # PyPI's macOS arm64 torch carries MPS; the benchmark's torch side runs on it.
    torch_req="torch"
    mlx_backend="mlx-metal==$mlx_version"
    ;;
  *)
    die "unsupported platform $os/$arch: MLX publishes wheels for macOS arm64 and Linux"
    ;;
esac

if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi

packages=(
  "$torch_req"
  "diffusers==$DIFFUSERS_VERSION"
  "safetensors"
  "numpy"
  "mlx==$mlx_version"
  "$mlx_backend"
)
say "installing: ${packages[*]}"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-input "${packages[@]}"

say "installed:"
"$venv/bin/python" - <<'EOF'
import importlib.metadata as md

import mlx.core as mx
import torch

for name in ("torch", "diffusers", "safetensors", "numpy", "mlx", "mlx-cpu", "mlx-metal"):
    try:
        print(f"  {name:12s} {md.version(name)}")
    except md.PackageNotFoundError:
        pass
cuda = torch.version.cuda
mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
print(f"  torch device: {'mps' if mps else 'cpu'}" + (f" (CUDA {cuda} build)" if cuda else ""))
print(f"  mlx device:   {mx.default_device()}")
EOF
