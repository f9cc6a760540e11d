"""User-defined operators: register an ``@njit`` kernel as a new node of the language.

A user operator is called from strategies as ``{"op": "call", "fn": NAME, "args": [...],
"params": {...}}``. Its kernel has one fixed signature so that the plan evaluator (compiled once,
cached on disk) can call any registered kernel through a first-class function value::

    kernel(inputs: float64[:, :], iparams: int64[:], fparams: float64[:], out: float64[:]) -> None

``inputs[j]`` is the j-th input series over one symbol's bars (oldest first), ``iparams`` and
``fparams`` hold the declared integer and float parameters in declaration order, and ``out`` (same
length) receives the result. The kernel must be causal: ``out[t]`` may depend only on
``inputs[:, :t+1]``. Registration verifies that on random data (prefix invariance) and refuses a
kernel that looks ahead. Example::

    from quant_engine.strategy import register_operator

    @register_operator("hull", inputs=1, int_params={"n": (2, 5000)})
    def hull(inputs, iparams, fparams, out):
        ...

The operator's name is its identity in strategy hashes: give a changed kernel a new name.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np
from numba import types

from quant_engine.errors import InvalidArgumentError
from quant_engine.strategy.nodes import MAX_CALL_OPERANDS, MAX_WINDOW

__all__ = [
    "OPERATOR_SIGNATURE",
    "UserOperator",
    "register_operator",
    "unregister_operator",
    "registered_operators",
    "get_operator",
]

OPERATOR_SIGNATURE = types.void(types.float64[:, :], types.int64[::1], types.float64[::1], types.float64[::1])
"""The Numba signature every user kernel is compiled with."""

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class UserOperator:
    """A registered user operator.

    Attributes:
        name: the ``fn`` name used in strategy documents.
        kernel: the compiled kernel (a Numba dispatcher with :data:`OPERATOR_SIGNATURE`).
        inputs: number of input series.
        int_params: declared integer parameters, name -> (min, max), in kernel order.
        float_params: declared float parameters, name -> (min, max), in kernel order.
        warmup: bars of warm-up needed for given parameter values (for the strategy lookback).
        description: one line shown in the JSON Schema.
    """

    name: str
    kernel: Any
    inputs: int
    int_params: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    float_params: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    warmup: Callable[[Mapping[str, float]], int] | None = None
    description: str = ""

    def warmup_bars(self, params: Mapping[str, float]) -> int:
        """Warm-up bars for these parameter values (default: the largest integer parameter)."""
        if self.warmup is not None:
            return int(self.warmup(params))
        return max((int(params[p]) for p in self.int_params if p in params), default=0)


_lock = threading.Lock()
_registry: dict[str, UserOperator] = {}


def _compile(fn: Any, name: str) -> Any:
    py_func = getattr(fn, "py_func", fn)
    if not callable(py_func):
        raise InvalidArgumentError(f"invalid kernel for operator '{name}': not a function")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return nb.njit(OPERATOR_SIGNATURE, cache=True, nogil=True)(py_func)
        except Exception as exc:
            # cache=True needs a source file; interactively defined kernels compile uncached.
            if "cannot cache" not in str(exc).lower():
                raise InvalidArgumentError(f"operator '{name}': the kernel does not compile: {exc}") from None
            return nb.njit(OPERATOR_SIGNATURE, nogil=True)(py_func)


def _verify_causal(op: UserOperator) -> None:
    """Runs the kernel on random walks and checks prefix invariance at several cut points."""
    rng = np.random.default_rng(20240102)
    n = 400
    inputs = np.ascontiguousarray(100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (max(op.inputs, 1), n)), axis=1)))
    iparams = np.array([min(max(lo, 5), hi) for lo, hi in op.int_params.values()], dtype=np.int64)
    fparams = np.array([min(max(lo, 1.0), hi) for lo, hi in op.float_params.values()], dtype=np.float64)
    full = np.full(n, np.nan)
    op.kernel(inputs, iparams, fparams, full)
    for cut in (1, 2, 7, 50, 123, 250, n - 1):
        part = np.full(cut, np.nan)
        op.kernel(np.ascontiguousarray(inputs[:, :cut]), iparams, fparams, part)
        same = (part == full[:cut]) | (np.isnan(part) & np.isnan(full[:cut]))
        if not same.all():
            t = int(np.argmin(same))
            raise InvalidArgumentError(
                f"operator '{op.name}' is not causal: its value at bar {t} changes when bars after it are added"
            )


def register_operator(
    name: str,
    kernel: Any = None,
    *,
    inputs: int = 1,
    int_params: Mapping[str, tuple[int, int]] | None = None,
    float_params: Mapping[str, tuple[float, float]] | None = None,
    warmup: Callable[[Mapping[str, float]], int] | None = None,
    description: str = "",
    verify: bool = True,
    replace: bool = False,
) -> Any:
    """Registers ``kernel`` as the operator ``name``; usable as a decorator.

    Args:
        name: lowercase identifier (``[a-z][a-z0-9_]*``), the ``fn`` of ``call`` nodes.
        kernel: a Python function or ``@njit`` dispatcher with the signature in the module doc.
        inputs: number of input series (0..8).
        int_params / float_params: parameter names with their allowed (min, max) ranges, in
            the order the kernel reads them from ``iparams`` / ``fparams``.
        warmup: bars of warm-up for given parameter values (default: the largest int param).
        description: shown in the JSON Schema given to LLMs.
        verify: check causality (prefix invariance) on random data before registering.
        replace: allow replacing an operator of the same name.

    Returns:
        The :class:`UserOperator` (or, used as a decorator, a decorator returning it).
    """

    def _register(fn: Any) -> UserOperator:
        if not name or name[0] not in "abcdefghijklmnopqrstuvwxyz" or not set(name) <= _NAME_CHARS or len(name) > 48:
            raise InvalidArgumentError(f"invalid operator name '{name}': use lowercase letters, digits and _")
        ints = dict(int_params or {})
        floats = dict(float_params or {})
        if not 0 <= inputs <= MAX_CALL_OPERANDS or inputs + len(ints) + len(floats) > MAX_CALL_OPERANDS:
            raise InvalidArgumentError(f"operator '{name}': at most {MAX_CALL_OPERANDS} inputs and parameters in total")
        if set(ints) & set(floats):
            raise InvalidArgumentError(f"operator '{name}': a parameter is declared both int and float")
        for pname, (lo, hi) in ints.items():
            if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= MAX_WINDOW):
                raise InvalidArgumentError(
                    f"operator '{name}': int parameter '{pname}' needs 0 <= min <= max <= {MAX_WINDOW}"
                )
        for pname, (flo, fhi) in floats.items():
            if not (np.isfinite(flo) and np.isfinite(fhi) and flo <= fhi):
                raise InvalidArgumentError(f"operator '{name}': float parameter '{pname}' needs finite min <= max")
        op = UserOperator(name, _compile(fn, name), inputs, ints, floats, warmup, description)
        if verify:
            _verify_causal(op)
        with _lock:
            if name in _registry and not replace:
                raise InvalidArgumentError(f"operator '{name}' is already registered (pass replace=True)")
            _registry[name] = op
        return op

    if kernel is not None:
        return _register(kernel)
    return _register


def unregister_operator(name: str) -> None:
    """Removes a registered operator (strategies using it no longer validate)."""
    with _lock:
        _registry.pop(name, None)


def registered_operators() -> dict[str, UserOperator]:
    """A snapshot of the registry, by name."""
    with _lock:
        return dict(_registry)


def get_operator(name: str) -> UserOperator | None:
    """The operator registered as ``name``, or None."""
    with _lock:
        return _registry.get(name)
