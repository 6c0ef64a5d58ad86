#!/usr/bin/env bash
# Creates examples/airflow/.venv: Apache Airflow with its HTTP provider, every package pinned
# by requirements.lock.txt (Airflow's own constraints file lives on GitHub, out of reach of
# offline machines). The example DAG in dags/ runs in it.
# Idempotent: a venv that already has this exact Airflow is left as it is.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
lock="$here/requirements.lock.txt"

# The version the lock was made with and the example DAG was written and run against.
AIRFLOW_VERSION="3.3.2"

say() { printf '[examples/airflow/setup] %s\n' "$*"; }
die() { printf '[examples/airflow/setup] error: %s\n' "$*" >&2; exit 1; }

python="${ANNEAL_PYTHON:-python3}"
command -v "$python" >/dev/null || die "no $python on PATH; Python >= 3.10 is required (or set ANNEAL_PYTHON)"
"$python" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 15) else 1)' \
  || die "$python is $("$python" -V 2>&1); airflow $AIRFLOW_VERSION needs Python 3.10 to 3.14"
grep -qx "apache-airflow==$AIRFLOW_VERSION" "$lock" \
  || die "$lock does not pin apache-airflow==$AIRFLOW_VERSION; regenerate it (see its header)"

if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi

have() {
  "$venv/bin/python" - "$AIRFLOW_VERSION" <<'PY'
import importlib.metadata as md, sys
try:
    ok = md.version("apache-airflow") == sys.argv[1]
    md.version("apache-airflow-providers-http")
except md.PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

if have; then
  say "apache-airflow $AIRFLOW_VERSION already installed"
else
  start=$(date +%s)
  say "installing apache-airflow==$AIRFLOW_VERSION and the HTTP provider from $lock"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -r "$lock"
  say "installed in $(( $(date +%s) - start )) s"
fi
# Versions from package metadata: importing airflow (or any airflow command) creates
# ~/airflow when AIRFLOW_HOME is unset.
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
print(" ".join(f"{name}=={md.version(name)}" for name in ("apache-airflow", "apache-airflow-providers-http")))
PY
