#!/usr/bin/env bash
# Quick start, command 1: install everything, then run the main job on the embedded default
# (a seeded synthetic market streamed live into bars; summary printed, bars written to Parquet).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/quant-engine run "$@"
