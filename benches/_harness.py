"""Shared benchmark harness: time implementations side by side, print a ratio table.

Every benchmark in ``benches/`` measures quant-engine and its peers *in the same run* on the same
inputs and reports medians (this machine is shared and noisy), min and max, a throughput and the
ratio against a named baseline. Results are also written as JSON under ``bench-results/`` so a
closing note can quote them.

Usage::

    bench = Bench("bars", items_label="ticks")
    bench.case("batch, 1 symbol", n_items=10_000_000, baseline="polars")
    bench.time("quant-engine", lambda: aggregate_ticks(t))
    bench.time("polars", lambda: ...)
    bench.report()
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Bench", "Timing", "timeit", "check_agree"]


@dataclass
class Timing:
    """Seconds per call over the repeats."""

    median: float
    minimum: float
    maximum: float
    repeats: int

    @property
    def spread(self) -> float:
        """(max - min) / median."""
        return (self.maximum - self.minimum) / self.median if self.median else 0.0


def timeit(fn: Callable[[], Any], *, repeat: int = 7, number: int = 1, warmup: int = 1) -> Timing:
    """Times ``fn`` (``number`` calls per sample, ``repeat`` samples, GC off while timing)."""
    for _ in range(warmup):
        fn()
    samples = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            samples.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return Timing(statistics.median(samples), min(samples), max(samples), repeat)


@dataclass
class _Row:
    case: str
    impl: str
    timing: Timing
    n_items: int
    baseline: str | None
    note: str = ""


@dataclass
class Bench:
    """A named benchmark: cases, each with implementations timed side by side."""

    name: str
    items_label: str = "items"
    rows: list[_Row] = field(default_factory=list)
    _case: str = ""
    _n: int = 1
    _baseline: str | None = None
    targets: dict[str, str] = field(default_factory=dict)

    def case(self, title: str, *, n_items: int, baseline: str | None = None, target: str = "") -> None:
        """Starts a case; later :meth:`time` calls belong to it."""
        self._case, self._n, self._baseline = title, n_items, baseline
        if target:
            self.targets[title] = target

    def time(
        self,
        impl: str,
        fn: Callable[[], Any],
        *,
        repeat: int = 7,
        number: int = 1,
        warmup: int = 1,
        n_items: int | None = None,
        note: str = "",
    ) -> Timing:
        """Times one implementation of the current case."""
        t = timeit(fn, repeat=repeat, number=number, warmup=warmup)
        self.rows.append(_Row(self._case, impl, t, n_items or self._n, self._baseline, note))
        print(f"  {self._case:<46} {impl:<28} {_fmt_time(t.median):>10}", file=sys.stderr, flush=True)
        return t

    def record(self, impl: str, timing: Timing, *, n_items: int | None = None, note: str = "") -> None:
        """Adds a timing measured elsewhere (e.g. in a subprocess)."""
        self.rows.append(_Row(self._case, impl, timing, n_items or self._n, self._baseline, note))

    def report(self) -> list[dict[str, Any]]:
        """Prints the table and writes ``bench-results/<name>.json``; returns the rows."""
        out = []
        by_case: dict[str, list[_Row]] = {}
        for r in self.rows:
            by_case.setdefault(r.case, []).append(r)
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:  # pragma: no cover
            Console = None  # type: ignore[assignment,misc]
        table = None
        if Console is not None:
            table = Table(title=f"benchmark: {self.name}", show_lines=False)
            for col in ("case", "implementation", "median", "min", "max", f"M {self.items_label}/s", "ratio"):
                table.add_column(col, justify="right" if col not in ("case", "implementation") else "left")
        for case, rows in by_case.items():
            base = next((r for r in rows if r.impl == rows[0].baseline), None)
            for r in rows:
                rate = r.n_items / r.timing.median / 1e6 if r.timing.median else float("inf")
                # Throughput ratio: peers may be timed on fewer items (a slow per-item loop).
                base_rate = base.n_items / base.timing.median / 1e6 if base and base.timing.median else None
                ratio = rate / base_rate if base_rate else None
                row = {
                    "case": case,
                    "impl": r.impl,
                    "median_s": r.timing.median,
                    "min_s": r.timing.minimum,
                    "max_s": r.timing.maximum,
                    "repeats": r.timing.repeats,
                    "n_items": r.n_items,
                    "mitems_per_s": rate,
                    "speedup_vs_baseline": ratio,
                    "baseline": r.baseline,
                    "note": r.note,
                    "target": self.targets.get(case, ""),
                }
                out.append(row)
                if table is not None:
                    table.add_row(
                        case,
                        r.impl + (f" ({r.note})" if r.note else ""),
                        _fmt_time(r.timing.median),
                        _fmt_time(r.timing.minimum),
                        _fmt_time(r.timing.maximum),
                        f"{rate:,.1f}",
                        f"{ratio:.2f}x" if ratio is not None else "",
                    )
                else:  # pragma: no cover
                    print(case, r.impl, r.timing.median, rate, ratio)
        if table is not None:
            Console(width=160).print(table)
            for case, target in self.targets.items():
                Console(width=160).print(f"[dim]target[/dim] {case}: {target}")
        results = Path(os.environ.get("QE_BENCH_RESULTS", "bench-results"))
        results.mkdir(parents=True, exist_ok=True)
        meta = {
            "bench": self.name,
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        (results / f"{self.name}.json").write_text(json.dumps({"meta": meta, "rows": out}, indent=2))
        return out


def check_agree(case: str, results: dict[str, tuple[float, ...]], *, rel: float = 1e-9, abs_tol: float = 0.0) -> None:
    """Asserts that every implementation of ``case`` computed the same thing before any of them
    is timed: ``results`` maps an implementation to a tuple of figures (a row count first, then
    checksums); each figure must equal the first implementation's within ``rel`` (relative) or
    ``abs_tol``. Raises ``AssertionError`` naming the implementation and the figure; prints one
    line when they agree."""
    names = list(results)
    ref = results[names[0]]
    for name in names[1:]:
        got = results[name]
        assert len(got) == len(ref), f"{case}: {name} reports {len(got)} figures, {names[0]} {len(ref)}"
        for k, (a, b) in enumerate(zip(ref, got)):
            if not abs(a - b) <= max(abs_tol, rel * max(abs(a), abs(b))):
                raise AssertionError(f"{case}: {name} disagrees with {names[0]} on figure {k}: {b!r} != {a!r}")
    print(
        f"  {case}: {len(names)} implementations agree ({', '.join(f'{x:,.6g}' for x in ref)})",
        file=sys.stderr,
        flush=True,
    )


def _fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.2f} µs"
    return f"{s * 1e9:.0f} ns"


def as_dict(t: Timing) -> dict[str, float]:
    """A timing as a plain dict."""
    return asdict(t)
