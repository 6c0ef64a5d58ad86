#!/usr/bin/env bash
# Creates bench/interop/.venv: the official MLflow and DVC clients, pinned, that the interop
# tests drive against Anneal (issue 15). `mlflow` (not `mlflow-skinny`) because the mirror
# test starts a real `mlflow server`; `dvc` 3 brings its HTTP remote (dvc-http) with it.
# Idempotent: a venv that already has these exact versions is left as it is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"

# The versions the interop tests were written and run against.
MLFLOW_VERSION="3.17.2"
DVC_VERSION="3.67.1"

say() { printf '[bench/interop/setup] %s\n' "$*"; }
die() { printf '[bench/interop/setup] error: %s\n' "$*" >&2; exit 1; }

python="${ANNEAL_PYTHON:-python3}"
command -v "$python" >/dev/null || die "no $python on PATH; Python >= 3.10 is required (or set ANNEAL_PYTHON)"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "$python is $("$python" -V 2>&1); mlflow $MLFLOW_VERSION needs Python >= 3.10"

if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi

have() {
  "$venv/bin/python" - "$MLFLOW_VERSION" "$DVC_VERSION" <<'PY'
import importlib.metadata as md, sys
try:
    ok = md.version("mlflow") == sys.argv[1] and md.version("dvc") == sys.argv[2]
except md.PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

if have; then
  say "mlflow $MLFLOW_VERSION and dvc $DVC_VERSION already installed"
else
  start=$(date +%s)
  say "installing mlflow==$MLFLOW_VERSION dvc==$DVC_VERSION"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    "mlflow==$MLFLOW_VERSION" "dvc==$DVC_VERSION"
  say "installed in $(( $(date +%s) - start )) s"
fi
"$venv/bin/mlflow" --version
"$venv/bin/dvc" --version
