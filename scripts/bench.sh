#!/usr/bin/env bash
# Runs every benchmark in benches/ (each prints a table: median, min, max, ratio vs peers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh bench
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
status=0
for b in benches/bench_*.py; do
  echo "== $b"
  .venv/bin/python "$b" "$@" || status=1
done
exit $status
