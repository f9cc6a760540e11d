#!/usr/bin/env bash
# Installs quant-engine and its Python dependencies into ./.venv (idempotent), then compiles the
# Numba kernels once (warms their on-disk cache) so the first backtest does not stall on them.
#
#   scripts/bootstrap.sh [extra ...]     e.g. scripts/bootstrap.sh test bench
#
# Works from nothing (a fresh clone, an empty pip cache, PIP_NO_CACHE_DIR=1):
# * the project's own wheel is built by maturin (installed into the venv) with an incremental
#   release build that reuses target/; it is rebuilt, reinstalled and its kernels re-warmed only
#   when the Rust or Python sources, Cargo.lock or pyproject.toml changed;
# * the dependencies (and the extras asked for) are installed by pip from that wheel's metadata,
#   build-isolated, so a dependency published only as a source package builds in its own
#   environment with its own build requirements (nothing is assumed present in the venv).
# A second run with nothing changed returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=.venv
STAMPS=.stamps
WHEELS=$STAMPS/wheels
mkdir -p "$STAMPS"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
PY="$VENV/bin/python"

extras=$(IFS=,; echo "$*")

# Fingerprint of everything that goes into the wheel.
fingerprint=$( { cat pyproject.toml Cargo.toml Cargo.lock;
  find rust python -type f \( -name '*.rs' -o -name '*.toml' -o -name '*.py' -o -name '*.pyi' \) \
    -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -d' ' -f1)
wheel_stamp="$STAMPS/wheel"
deps_stamp="$STAMPS/deps-$(echo "${extras:-none}" | tr -c 'a-z0-9' '_')"

installed() {  # the wheel of this fingerprint is built, installed and importable
  [ -f "$wheel_stamp" ] && [ "$(head -n1 "$wheel_stamp")" = "$fingerprint" ] \
    && [ -f "$(sed -n 2p "$wheel_stamp")" ] && "$PY" -c "import quant_engine._core" 2>/dev/null
}

if installed && [ -f "$deps_stamp" ] && [ "$(cat "$deps_stamp")" = "$fingerprint" ]; then
  exit 0
fi

if ! installed; then
  echo "[bootstrap] building the quant-engine wheel (release build of the Rust core)"
  "$PY" -m pip install --quiet "maturin>=1.9,<2"
  rm -rf "$WHEELS"
  # a local wheel (platform tag linux_x86_64): no manylinux audit of the host glibc
  "$VENV/bin/maturin" build --release --quiet --compatibility linux --interpreter "$PY" --out "$WHEELS"
  wheel=$(ls "$WHEELS"/quant_engine-*.whl | head -n1)
  spec="$wheel"
  [ -n "$extras" ] && spec="$wheel[$extras]"
  echo "[bootstrap] installing $(basename "$wheel") and its dependencies${extras:+ (extras: $extras)}"
  "$PY" -m pip install --quiet "$spec"
  # the same version may already be installed from older sources: replace it (not its dependencies)
  "$PY" -m pip install --quiet --force-reinstall --no-deps "$wheel"
  echo "[bootstrap] compiling the Numba kernels (once per install; cached on disk)"
  "$PY" -m quant_engine.kernels.warmup
  printf '%s\n%s\n' "$fingerprint" "$wheel" > "$wheel_stamp"
else
  wheel=$(sed -n 2p "$wheel_stamp")
  if [ -n "$extras" ]; then
    echo "[bootstrap] installing the dependencies of extras: $extras"
    "$PY" -m pip install --quiet "$wheel[$extras]"
  fi
fi
echo "$fingerprint" > "$deps_stamp"
