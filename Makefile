# The two Quick start commands (see README.md) and the benchmark runner.
# Each target installs what it needs first (idempotent; a second run reuses the build).

.PHONY: run test bench clean

run:            ## install everything, then run the main job on the embedded default
	@bash scripts/run.sh

test:           ## install everything, then run every test (cargo tests and pytest)
	@bash scripts/test.sh

bench:          ## install everything, then run every benchmark in benches/ (peers side by side)
	@bash scripts/bench.sh

clean:
	rm -rf target .venv .stamps out bench-results
