"""Benchmark: option Greeks and implied volatility, quant-engine against its peers in one run.

Cases (1 M random European options by default: spot 50-150, log-moneyness +-0.4, 1 week to 2
years, rates 0-6 %, yields 0-3 %, vols 10-80 %, calls and puts mixed):

1. price + every first and second order Greek (13 values per option);
2. implied volatility to 1e-10 (prices from the same model);
3. the first call in a fresh process, with an empty Numba cache (compilation) and with the
   cache the first process wrote (``cache=True``: what every later process pays).

Peers: NumPy + SciPy (vectorized closed forms; a vectorized safeguarded Newton for implied
volatility), py_vollib (Let's Be Rational, one Python call per option, on a subset),
py_vollib_vectorized (reported as failed when it does not run with the installed Numba).

    python benches/bench_options.py [--n 1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numba
import numpy as np
from scipy.special import ndtr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Bench, Timing, check_agree  # noqa: E402
from quant_engine.kernels.greeks import COLUMNS, LEVEL_ROWS, greeks_kernel  # noqa: E402
from quant_engine.options import greeks, implied_vol, price  # noqa: E402

SQRT_2PI = np.sqrt(2.0 * np.pi)


def make_inputs(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Random option contracts (see the module docstring)."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(50.0, 150.0, n)
    return {
        "s": s,
        "k": s * np.exp(rng.uniform(-0.4, 0.4, n)),
        "t": rng.uniform(7.0 / 365.0, 2.0, n),
        "r": rng.uniform(0.0, 0.06, n),
        "q": rng.uniform(0.0, 0.03, n),
        "v": rng.uniform(0.1, 0.8, n),
        "call": (rng.random(n) < 0.5),
    }


def numpy_greeks(
    s: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray, q: np.ndarray, v: np.ndarray, call: np.ndarray
) -> dict[str, np.ndarray]:
    """The peer: price and the same 12 Greeks with NumPy and scipy.special.ndtr."""
    sgn = np.where(call, 1.0, -1.0)
    sqt = np.sqrt(t)
    sv = v * sqt
    d1 = (np.log(s / k) + (r - q + 0.5 * v * v) * t) / sv
    d2 = d1 - sv
    dfq = np.exp(-q * t)
    dfr = np.exp(-r * t)
    nd1 = ndtr(sgn * d1)
    nd2 = ndtr(sgn * d2)
    pdf1 = np.exp(-0.5 * d1 * d1) / SQRT_2PI
    a = s * dfq * nd1
    c = k * dfr * nd2
    out = {"price": sgn * (a - c)}
    out["delta"] = sgn * dfq * nd1
    out["vega"] = s * dfq * pdf1 * sqt
    out["theta"] = -s * dfq * pdf1 * v / (2 * sqt) + sgn * (q * a - r * c)
    out["rho"] = sgn * t * c
    out["epsilon"] = -sgn * t * a
    out["lambda"] = out["delta"] * s / out["price"]
    out["gamma"] = dfq * pdf1 / (s * sv)
    out["vanna"] = -dfq * pdf1 * d2 / v
    out["charm"] = sgn * q * dfq * nd1 - dfq * pdf1 * ((r - q) / sv - d2 / (2 * t))
    out["vomma"] = out["vega"] * d1 * d2 / v
    out["veta"] = out["vega"] * (q + (r - q) * d1 / sv - (1 + d1 * d2) / (2 * t))
    out["vera"] = -t * k * dfr * np.exp(-0.5 * d2 * d2) / SQRT_2PI * d1 / v
    return out


def numpy_implied_vol(
    p: np.ndarray,
    s: np.ndarray,
    k: np.ndarray,
    t: np.ndarray,
    r: np.ndarray,
    q: np.ndarray,
    call: np.ndarray,
    tol: float = 1e-12,
) -> np.ndarray:
    """The peer: vectorized Newton on the price with a bisection safeguard, until every step is
    below ``tol`` (or 100 iterations)."""
    sgn = np.where(call, 1.0, -1.0)
    sqt = np.sqrt(t)
    sig = np.full_like(p, 0.3)
    lo = np.full_like(p, 1e-6)
    hi = np.full_like(p, 10.0)
    active = np.ones(p.shape, bool)
    for _ in range(100):
        sv = sig * sqt
        d1 = (np.log(s / k) + (r - q + 0.5 * sig * sig) * t) / sv
        d2 = d1 - sv
        model = sgn * (s * np.exp(-q * t) * ndtr(sgn * d1) - k * np.exp(-r * t) * ndtr(sgn * d2))
        vega = s * np.exp(-q * t) * np.exp(-0.5 * d1 * d1) / SQRT_2PI * sqt
        diff = model - p
        hi = np.where(diff > 0, sig, hi)
        lo = np.where(diff < 0, sig, lo)
        new = sig - diff / np.maximum(vega, 1e-300)
        new = np.where((new > lo) & (new < hi), new, 0.5 * (lo + hi))
        step = np.abs(new - sig)
        sig = np.where(active, new, sig)
        active &= step > tol
        if not active.any():
            break
    return sig


def _try_py_vollib_vectorized() -> Any:
    try:
        import py_vollib_vectorized  # noqa: F401

        return py_vollib_vectorized
    except Exception:  # pragma: no cover - optional peer
        return None


def _failed(bench: Bench, impl: str, exc: BaseException) -> None:
    message = f"{type(exc).__name__}: {str(exc).splitlines()[0][:70]}"
    print(f"  {impl}: failed ({message})", file=sys.stderr)
    bench.record(impl, Timing(float("nan"), float("nan"), float("nan"), 0), note=f"failed: {message}")


_COLD_SCRIPT = """
import time, numpy as np
t0 = time.perf_counter()
from quant_engine.options import greeks, implied_vol
t1 = time.perf_counter()
n = 1000
rng = np.random.default_rng(0)
s = rng.uniform(50, 150, n)
g = greeks(s, s, 0.5, 0.03, 0.01, 0.3, "call", order=2)
t2 = time.perf_counter()
implied_vol(g.column("price"), s, s, 0.5, 0.03, 0.01, "call")
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def _fresh_process(cache_dir: str) -> tuple[float, float, float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", _COLD_SCRIPT], env=env, capture_output=True, text=True, check=True)
    imp, g, iv = (float(x) for x in out.stdout.split())
    return imp, g, iv


def main() -> None:
    """Runs the three cases and prints the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="options per case (default 1000000)")
    parser.add_argument("--repeat", type=int, default=7, help="timed samples per implementation (default 7)")
    parser.add_argument(
        "--vollib-n", type=int, default=20_000, help="options for py_vollib's per-option loop (default 20000)"
    )
    parser.add_argument("--no-cold", action="store_true", help="skip case 3 (a fresh process compiling the kernels)")
    args = parser.parse_args()
    n, repeat = args.n, args.repeat
    print(
        f"numba {numba.__version__}, threading layer {numba.config.THREADING_LAYER}, {numba.get_num_threads()} threads; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs",
        file=sys.stderr,
    )
    x = make_inputs(n)
    bench = Bench("options", items_label="options")

    # 1. Price + first and second order Greeks.
    bench.case(
        "price + 12 Greeks (1st+2nd order)", n_items=n, baseline="numpy+scipy", target=">= 30 M options/s on 2 threads"
    )
    g = greeks(x["s"], x["k"], x["t"], x["r"], x["q"], x["v"], x["call"], order=2)
    ref = numpy_greeks(x["s"], x["k"], x["t"], x["r"], x["q"], x["v"], x["call"])
    worst = max(float(np.max(np.abs(g.column(c).to_numpy() - ref[c]) / (np.abs(ref[c]) + 1e-8))) for c in ref)
    assert worst < 1e-7, f"greeks() differs from the NumPy+SciPy peer by up to {worst:.3g} (relative)"
    bench.time(
        "numpy+scipy",
        lambda: numpy_greeks(x["s"], x["k"], x["t"], x["r"], x["q"], x["v"], x["call"]),
        repeat=max(3, repeat // 2),
    )
    bench.time(
        "quant-engine greeks()",
        lambda: greeks(x["s"], x["k"], x["t"], x["r"], x["q"], x["v"], x["call"], order=2),
        repeat=repeat,
        note=f"Arrow table out; max rel diff vs peer {worst:.1e}",
    )
    out = np.empty((LEVEL_ROWS[2], n))
    status = np.empty(n, np.uint8)
    is_call = x["call"].astype(np.uint8)
    greeks_kernel(x["s"], x["k"], x["t"], x["r"], x["q"], x["v"], is_call, False, 2, out, status)
    check_agree("greeks: API and kernel", {
        "quant-engine greeks()": (n, *(float(np.sum(g.column(c).to_numpy())) for c in ("price", "delta", "gamma", "vega"))),
        "quant-engine kernel": (n, *(float(np.sum(out[COLUMNS.index(c)])) for c in ("price", "delta", "gamma", "vega"))),
        "numpy+scipy": (n, *(float(np.sum(ref[c])) for c in ("price", "delta", "gamma", "vega"))),
    }, rel=1e-9)  # fmt: skip
    bench.time(
        "quant-engine kernel",
        lambda: greeks_kernel(x["s"], x["k"], x["t"], x["r"], x["q"], x["v"], is_call, False, 2, out, status),
        repeat=repeat,
        note="preallocated output",
    )
    pvv = _try_py_vollib_vectorized()
    flags = np.where(x["call"], "c", "p")
    m = min(n, 100_000)
    if pvv is None:
        _failed(bench, "py_vollib_vectorized", ImportError("not installed"))
    else:
        try:
            pvv.get_all_greeks(
                flags[:m],
                x["s"][:m],
                x["k"][:m],
                x["t"][:m],
                x["r"][:m],
                x["v"][:m],
                x["q"][:m],
                model="black_scholes_merton",
                return_as="numpy",
            )
            bench.time(
                "py_vollib_vectorized",
                lambda: pvv.get_all_greeks(
                    flags[:m],
                    x["s"][:m],
                    x["k"][:m],
                    x["t"][:m],
                    x["r"][:m],
                    x["v"][:m],
                    x["q"][:m],
                    model="black_scholes_merton",
                    return_as="numpy",
                ),
                repeat=3,
                n_items=m,
                note="5 numerical Greeks",
            )
        except Exception as exc:
            _failed(bench, "py_vollib_vectorized", exc)

    # 2. Implied volatility.
    p = price(x["s"], x["k"], x["t"], x["r"], x["q"], x["v"], x["call"]).column("price").to_numpy()
    bench.case("implied vol, 1e-10", n_items=n, baseline="numpy+scipy", target=">= 10 M options/s at 1e-10")
    iv = implied_vol(p, x["s"], x["k"], x["t"], x["r"], x["q"], x["call"])
    ok = iv.column("status").to_numpy(zero_copy_only=False) == "ok"
    vega = g.column("vega").to_numpy()
    conditioned = ok & (64 * 2.2e-16 * (p + x["s"] + x["k"]) / vega < 1e-11)
    err = float(np.max(np.abs(iv.column("implied_vol").to_numpy()[conditioned] - x["v"][conditioned])))
    peer = numpy_implied_vol(p, x["s"], x["k"], x["t"], x["r"], x["q"], x["call"])
    peer_err = float(np.max(np.abs(peer[conditioned] - x["v"][conditioned])))
    assert err < 1e-10, f"implied_vol() misses the true volatility by up to {err:.3g} on well-conditioned options"
    assert peer_err < 1e-8, f"the NumPy Newton peer misses the true volatility by up to {peer_err:.3g}"
    assert ok.mean() > 0.99, f"implied_vol() inverts only {ok.mean():.2%} of the prices"
    bench.time(
        "numpy+scipy",
        lambda: numpy_implied_vol(p, x["s"], x["k"], x["t"], x["r"], x["q"], x["call"]),
        repeat=3,
        note=f"Newton+bisection; max err {peer_err:.0e}",
    )
    bench.time(
        "quant-engine implied_vol()",
        lambda: implied_vol(p, x["s"], x["k"], x["t"], x["r"], x["q"], x["call"]),
        repeat=repeat,
        note=f"max err {err:.0e} on {conditioned.mean():.0%} well-conditioned; {ok.mean():.2%} ok",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from py_vollib.black_scholes_merton.implied_volatility import (
            implied_volatility as lbr,
        )
    mv = min(n, args.vollib_n)
    ours_iv = iv.column("implied_vol").to_numpy()
    theirs = np.full(mv, np.nan)
    for i in range(mv):
        try:
            theirs[i] = lbr(p[i], x["s"][i], x["k"][i], x["t"][i], x["r"][i], x["q"][i], "c" if x["call"][i] else "p")
        except Exception:
            pass
    both = conditioned[:mv] & np.isfinite(theirs)
    lbr_err = float(np.max(np.abs(theirs[both] - ours_iv[:mv][both]))) if both.any() else float("nan")
    assert both.mean() > 0.9 and lbr_err < 1e-8, (
        f"py_vollib and implied_vol() disagree: {lbr_err:.3g} on {both.mean():.0%}"
    )
    print(
        f"  py_vollib agrees with implied_vol() to {lbr_err:.1e} on {both.sum():,} well-conditioned options",
        file=sys.stderr,
    )

    def vollib_loop() -> None:
        for i in range(mv):
            try:
                lbr(p[i], x["s"][i], x["k"][i], x["t"][i], x["r"][i], x["q"][i], "c" if x["call"][i] else "p")
            except Exception:
                pass

    bench.time(
        "py_vollib (LetsBeRational)", vollib_loop, repeat=3, warmup=0, n_items=mv, note=f"Python loop, {mv:,} options"
    )
    if pvv is not None:
        try:
            pv_iv = pvv.vectorized_implied_volatility(p[:m], x["s"][:m], x["k"][:m], x["t"][:m], x["r"][:m], flags[:m], q=x["q"][:m],
                                                      model="black_scholes_merton", return_as="numpy")  # fmt: skip
            sel = conditioned[:m] & np.isfinite(pv_iv)
            pv_err = float(np.max(np.abs(pv_iv[sel] - ours_iv[:m][sel])))
            assert sel.mean() > 0.9 and pv_err < 1e-8, f"py_vollib_vectorized and implied_vol() disagree: {pv_err:.3g}"
            bench.time(
                "py_vollib_vectorized",
                lambda: pvv.vectorized_implied_volatility(
                    p[:m],
                    x["s"][:m],
                    x["k"][:m],
                    x["t"][:m],
                    x["r"][:m],
                    flags[:m],
                    q=x["q"][:m],
                    model="black_scholes_merton",
                    return_as="numpy",
                ),
                repeat=3,
                n_items=m,
            )
        except Exception as exc:
            _failed(bench, "py_vollib_vectorized", exc)

    # 3. Compilation and the cached second process.
    if args.no_cold:
        bench.report()
        return
    bench.case(
        "fresh process: import + first greeks() + first implied_vol() (1k options)",
        n_items=1000,
        baseline="cold (compile)",
    )
    with tempfile.TemporaryDirectory() as cache:
        cold = _fresh_process(cache)
        warm = [_fresh_process(cache) for _ in range(3)]
    cold_total = sum(cold)
    bench.record(
        "cold (compile)",
        Timing(cold_total, cold_total, cold_total, 1),
        note=f"import {cold[0]:.2f} s, greeks {cold[1]:.2f} s, implied_vol {cold[2]:.2f} s",
    )
    totals = sorted(sum(w) for w in warm)
    med = warm[[sum(w) for w in warm].index(totals[1])]
    bench.record(
        "second process (cache=True)",
        Timing(totals[1], totals[0], totals[-1], 3),
        note=f"import {med[0]:.2f} s, greeks {med[1]:.3f} s, implied_vol {med[2]:.3f} s",
    )
    bench.report()


if __name__ == "__main__":
    main()
