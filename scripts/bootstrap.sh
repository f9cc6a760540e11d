#!/usr/bin/env bash
# Installs quant-engine and its Python dependencies into ./.venv (idempotent).
#
#   scripts/bootstrap.sh [extra ...]     e.g. scripts/bootstrap.sh test bench
#
# The release wheel is rebuilt (incrementally, reusing target/) only when the Rust or Python
# sources, Cargo.lock or pyproject.toml changed since the last install; otherwise this returns
# in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMPS=.stamps
mkdir -p "$STAMPS"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi

extras=$(IFS=,; echo "$*")
spec="."
[ -n "$extras" ] && spec=".[$extras]"

# Fingerprint of everything that affects the installed package.
fingerprint=$( { echo "$spec"; cat pyproject.toml Cargo.toml Cargo.lock;
  find rust python -type f \( -name '*.rs' -o -name '*.toml' -o -name '*.py' -o -name '*.pyi' \) \
    -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -d' ' -f1)
stamp="$STAMPS/install-$(echo "$spec" | tr -c 'a-z0-9' '_')"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] && "$VENV/bin/python" -c "import quant_engine" 2>/dev/null; then
  exit 0
fi

echo "[bootstrap] installing quant-engine $spec (release build of the Rust core)"
"$VENV/bin/python" -m pip install --quiet "maturin>=1.9,<2"
# --no-build-isolation reuses the venv's maturin and the incremental build in target/.
"$VENV/bin/python" -m pip install --quiet --no-build-isolation "$spec"
echo "$fingerprint" > "$stamp"
