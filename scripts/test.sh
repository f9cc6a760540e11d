#!/usr/bin/env bash
# Quick start, command 2: install everything, then run all tests (cargo tests of the Rust core,
# then pytest against the installed wheel). Exits non-zero if any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
echo "[test] cargo tests (rust/core)"
cargo test --quiet -p quant-engine-core
echo "[test] pytest"
# Tests import the installed package, not python/ (so they prove the wheel).
exec .venv/bin/python -m pytest "$@"
