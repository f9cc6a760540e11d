"""The compiler: strategy rules lowered to a template plan of primitive instructions.

Lowering turns each node into a few primitive instructions (``macd`` into three EMAs and two
subtractions, ``bollinger`` into SMA, standard deviation and arithmetic, ``atr`` into true range
and Wilder smoothing ...). Identical instructions are emitted once (common sub-expression
elimination), so ``macd`` line and signal, or the ATR of a rule and of a stop, share their work.
Parameters stay symbolic: the same template serves a single backtest (parameters bound to their
defaults) and a sweep over a grid (:mod:`quant_engine.strategy.plan`).

Nothing here generates or executes code: the result is arrays of opcodes and operands run by the
cached Numba evaluator in :mod:`quant_engine.kernels.plan_eval`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quant_engine.kernels import plan_ops as P
from quant_engine.strategy import nodes as N
from quant_engine.strategy.operators import UserOperator, get_operator
from quant_engine.strategy.spec import RULES, AtrStop, Strategy

__all__ = ["Operand", "TemplateInstr", "Template", "lower_strategy"]

Operand = tuple[str, int | float | str]
"""``("field", row)``, ``("instr", id)``, ``("const", value)`` or ``("param", name)``."""

_COMMUTATIVE = frozenset({P.ADD, P.MUL, P.MIN, P.MAX, P.AND, P.OR})


@dataclass(frozen=True)
class TemplateInstr:
    """One primitive instruction of a template: opcode, operands, user-kernel index."""

    op: int
    operands: tuple[Operand, ...]
    fn: int = 0
    n_in: int = 0
    n_int: int = 0


@dataclass
class Template:
    """A lowered strategy: instructions in dependency order and the six roots.

    Attributes:
        instrs: the instructions (``("instr", i)`` operands refer to earlier ones).
        roots: entry_long, exit_long, entry_short, exit_short, stop-loss distance series,
            take-profit distance series (None where absent).
        params: parameter names in column order.
        defaults: default value of each parameter.
        functions: the user operators called, in ``fn`` index order.
        fields: the input fields the plan reads.
    """

    instrs: list[TemplateInstr] = field(default_factory=list)
    roots: list[Operand | None] = field(default_factory=lambda: [None] * P.N_ROOTS)
    params: list[str] = field(default_factory=list)
    defaults: list[float] = field(default_factory=list)
    functions: list[UserOperator] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)
    _index: dict[Any, int] = field(default_factory=dict, repr=False)

    def emit(self, op: int, *operands: Operand, fn: int = 0, n_in: int = 0, n_int: int = 0) -> Operand:
        """Adds an instruction unless an identical one exists; returns its operand."""
        ops = tuple(operands)
        if op in _COMMUTATIVE:
            ops = tuple(sorted(ops, key=repr))
        key = (op, ops, fn, n_in, n_int)
        found = self._index.get(key)
        if found is None:
            found = len(self.instrs)
            self.instrs.append(TemplateInstr(op, ops, fn, n_in, n_int))
            self._index[key] = found
        return ("instr", found)

    def param_index(self, name: str) -> int:
        """Column of parameter ``name``."""
        return self.params.index(name)


class _Lowerer:
    def __init__(self, template: Template) -> None:
        self.t = template

    # operands ---------------------------------------------------------------
    def scalar(self, v: Any) -> Operand:
        if isinstance(v, N.Param):
            return ("param", v.name)
        return ("const", float(v))

    def field(self, name: str) -> Operand:
        self.t.fields.add(name)
        return ("field", P.FIELD_ROWS[name])

    def series(self, node: Any) -> Operand:
        """A numeric operand that must be a series (constants are filled)."""
        op = self.num(node)
        if op[0] in ("const", "param"):
            return self.t.emit(P.FILL, op)
        return op

    # numeric nodes ------------------------------------------------------------
    def num(self, node: Any) -> Operand:  # noqa: C901 - one dispatch over the node types
        t = self.t
        if isinstance(node, (float, int)) and not isinstance(node, bool):
            return ("const", float(node))
        if isinstance(node, str):
            return self.field(node)
        if isinstance(node, N.Param):
            return ("param", node.name)
        if isinstance(node, N.Sma):
            return t.emit(P.SMA, self.series(node.x), self.scalar(node.n))
        if isinstance(node, N.Ema):
            return t.emit(P.EMA, self.series(node.x), self.scalar(node.n))
        if isinstance(node, N.Wma):
            return t.emit(P.WMA, self.series(node.x), self.scalar(node.n))
        if isinstance(node, N.Rsi):
            return t.emit(P.RSI, self.series(node.x), self.scalar(node.n))
        if isinstance(node, N.Macd):
            x = self.series(node.x)
            line = t.emit(P.SUB, t.emit(P.EMA, x, self.scalar(node.fast)), t.emit(P.EMA, x, self.scalar(node.slow)))
            if node.output == "macd":
                return line
            signal = t.emit(P.EMA, line, self.scalar(node.signal))
            return signal if node.output == "signal" else t.emit(P.SUB, line, signal)
        if isinstance(node, N.Atr):
            return self.atr(node.n)
        if isinstance(node, N.Bollinger):
            x = self.series(node.x)
            mid = t.emit(P.SMA, x, self.scalar(node.n))
            if node.band == "middle":
                return mid
            dev = t.emit(P.MUL, t.emit(P.STD, x, self.scalar(node.n), ("const", 0.0)), self.scalar(node.k))
            upper = t.emit(P.ADD, mid, dev)
            lower = t.emit(P.SUB, mid, dev)
            if node.band == "upper":
                return upper
            if node.band == "lower":
                return lower
            spread = t.emit(P.SUB, upper, lower)
            if node.band == "percent_b":
                return t.emit(P.DIV, t.emit(P.SUB, x, lower), spread)
            return t.emit(P.DIV, spread, mid)
        if isinstance(node, N.ZScore):
            x = self.series(node.x)
            mean = t.emit(P.SMA, x, self.scalar(node.n))
            std = t.emit(P.STD, x, self.scalar(node.n), ("const", 0.0))
            return t.emit(P.DIV, t.emit(P.SUB, x, mean), std)
        if isinstance(node, N.RollingMin):
            return t.emit(P.RMIN, self.series(node.x), self.scalar(node.n))
        if isinstance(node, N.RollingMax):
            return t.emit(P.RMAX, self.series(node.x), self.scalar(node.n))
        if isinstance(node, N.Returns):
            x = self.series(node.x)
            ratio = t.emit(P.DIV, x, t.emit(P.LAG, x, self.scalar(node.n)))
            return t.emit(P.LOG, ratio) if node.log else t.emit(P.SUB, ratio, ("const", 1.0))
        if isinstance(node, N.RealizedVol):
            x = self.series(node.x)
            r = t.emit(P.LOG, t.emit(P.DIV, x, t.emit(P.LAG, x, ("const", 1.0))))
            return t.emit(P.STD, r, self.scalar(node.n), ("const", 1.0))
        if isinstance(node, N.VwapDistance):
            pv = t.emit(P.MUL, self.field("vwap"), self.field("volume"))
            vol = self.field("volume")
            if isinstance(node.n, int) and node.n == 0:
                flag = self.field("session_start")
                num, den = t.emit(P.SESSION_SUM, pv, flag), t.emit(P.SESSION_SUM, vol, flag)
            else:
                n = self.scalar(node.n)
                num, den = t.emit(P.RSUM, pv, n), t.emit(P.RSUM, vol, n)
            avg = t.emit(P.DIV, num, den)
            return t.emit(P.SUB, t.emit(P.DIV, self.field("close"), avg), ("const", 1.0))
        if isinstance(node, N.VolumeRatio):
            vol = self.field("volume")
            prior = t.emit(P.LAG, t.emit(P.SMA, vol, self.scalar(node.n)), ("const", 1.0))
            return t.emit(P.DIV, vol, prior)
        if isinstance(node, N.BarRange):
            return t.emit(P.SUB, self.field("high"), self.field("low"))
        if isinstance(node, N.TimeOfDay):
            return self.field("time_of_day")
        if isinstance(node, N.Lag):
            return t.emit(P.LAG, self.series(node.x), self.scalar(node.n))
        if isinstance(node, (N.Add, N.Mul, N.Min, N.Max)):
            op = {N.Add: P.ADD, N.Mul: P.MUL, N.Min: P.MIN, N.Max: P.MAX}[type(node)]
            return self.chain(op, [self.num(a) for a in node.args])
        if isinstance(node, N.Sub):
            return t.emit(P.SUB, self.num(node.left), self.num(node.right))
        if isinstance(node, N.Div):
            return t.emit(P.DIV, self.num(node.left), self.num(node.right))
        if isinstance(node, N.Neg):
            return t.emit(P.NEG, self.num(node.x))
        if isinstance(node, N.Abs):
            return t.emit(P.ABS, self.num(node.x))
        if isinstance(node, N.Log):
            return t.emit(P.LOG, self.num(node.x))
        if isinstance(node, N.Call):
            return self.call(node)
        raise TypeError(f"not a numeric node: {type(node).__name__}")

    def atr(self, n: Any) -> Operand:
        tr = self.t.emit(P.TRUE_RANGE, self.field("high"), self.field("low"), self.field("close"))
        return self.t.emit(P.WILDER, tr, self.scalar(n))

    def chain(self, op: int, operands: list[Operand]) -> Operand:
        acc = operands[0]
        for nxt in operands[1:]:
            acc = self.t.emit(op, acc, nxt)
        return acc

    def call(self, node: N.Call) -> Operand:
        op = get_operator(node.fn)
        if op is None:  # validated earlier; kept for direct API use
            raise KeyError(node.fn)
        if op not in self.t.functions:
            self.t.functions.append(op)
        fn = self.t.functions.index(op)
        operands = [self.series(a) for a in node.args]
        operands += [self.scalar(node.params[k]) for k in op.int_params]
        operands += [self.scalar(node.params[k]) for k in op.float_params]
        return self.t.emit(P.CALL, *operands, fn=fn, n_in=op.inputs, n_int=len(op.int_params))

    # conditions -------------------------------------------------------------
    def cond(self, node: Any) -> Operand:
        t = self.t
        if isinstance(node, bool):
            return ("const", 1.0 if node else 0.0)
        if isinstance(node, N.Gt):
            return t.emit(P.GT, self.num(node.left), self.num(node.right))
        if isinstance(node, N.Ge):
            return t.emit(P.GE, self.num(node.left), self.num(node.right))
        if isinstance(node, N.Lt):
            return t.emit(P.GT, self.num(node.right), self.num(node.left))
        if isinstance(node, N.Le):
            return t.emit(P.GE, self.num(node.right), self.num(node.left))
        if isinstance(node, N.CrossAbove):
            return t.emit(P.CROSS, self.num(node.left), self.num(node.right))
        if isinstance(node, N.CrossBelow):
            return t.emit(P.CROSS, self.num(node.right), self.num(node.left))
        if isinstance(node, N.And):
            return self.chain(P.AND, [self.cond(a) for a in node.args])
        if isinstance(node, N.Or):
            return self.chain(P.OR, [self.cond(a) for a in node.args])
        if isinstance(node, N.Not):
            return t.emit(P.NOT, self.cond(node.x))
        raise TypeError(f"not a condition node: {type(node).__name__}")


def lower_strategy(strategy: Strategy) -> Template:
    """Lowers a validated strategy (template parameters kept symbolic) to a :class:`Template`."""
    t = Template(params=sorted(strategy.params), defaults=[strategy.params[k] for k in sorted(strategy.params)])
    lw = _Lowerer(t)
    for r, rule in enumerate(RULES):
        root = getattr(strategy, rule)
        if root is not None:
            t.roots[r] = lw.cond(root)
    for r, stop in ((4, strategy.stop_loss), (5, strategy.take_profit)):
        if isinstance(stop, AtrStop):
            t.roots[r] = t.emit(P.MUL, lw.atr(stop.n), lw.scalar(stop.mult))
    return t
