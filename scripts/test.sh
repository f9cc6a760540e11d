#!/usr/bin/env bash
# Quick start, command 2: install everything, then run all tests (cargo tests of the Rust core,
# then pytest against the installed wheel). Exits non-zero if any test fails, and when pytest
# collects no test at all (its exit status 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/bootstrap.sh test
echo "[test] cargo tests (rust/core)"
cargo test --quiet -p quant-engine-core
echo "[test] pytest"
# Tests import the installed package, not python/ (so they prove the wheel).
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "[test] error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
