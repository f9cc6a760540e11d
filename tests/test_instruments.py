"""Instrument registry: golden specs, vendor symbol forms, overrides files, unknown symbols."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import InvalidArgumentError, UnknownSymbolError
from quant_engine.instruments import Instrument, InstrumentRegistry, parse_option_symbol, resolve


@pytest.fixture
def reg() -> InstrumentRegistry:
    return InstrumentRegistry(reference_year=2024)


@pytest.mark.parametrize(
    ("symbol", "kind", "multiplier", "tick"),
    [
        ("AAPL", "equity", 1, 0.01),
        ("SPY", "equity", 1, 0.01),
        ("ES", "future", 50, 0.25),
        ("MES", "future", 5, 0.25),
        ("NQ", "future", 20, 0.25),
        ("MNQ", "future", 2, 0.25),
        ("RTY", "future", 50, 0.1),
        ("YM", "future", 5, 1.0),
        ("CL", "future", 1000, 0.01),
        ("GC", "future", 100, 0.1),
        ("ZN", "future", 1000, 1 / 64),
        ("ZB", "future", 1000, 1 / 32),
        ("VX", "future", 1000, 0.05),
        ("SPX", "index", 1, 0.01),
        ("AAPL  240119C00190000", "option", 100, 0.01),
        ("O:SPXW240315C04800000", "option", 100, 0.05),
    ],
)
def test_golden_specs(reg: InstrumentRegistry, symbol: str, kind: str, multiplier: float, tick: float) -> None:
    inst = reg.resolve(symbol)
    assert (inst.kind, inst.multiplier, inst.tick_size) == (kind, multiplier, tick)


def test_option_symbol_forms_agree(reg: InstrumentRegistry) -> None:
    occ = reg.resolve("AAPL  240119C00190000")
    assert occ == reg.resolve("AAPL240119C00190000") == reg.resolve("O:AAPL240119C00190000")
    assert occ == reg.thetadata_option("AAPL", 20240119, 190_000, "C")
    assert (occ.underlying, occ.expiry, occ.strike, occ.right) == ("AAPL", 20240119, 190.0, "C")
    spxw = reg.thetadata_option("SPXW", 20240315, 4_800_000, "call")
    assert (spxw.underlying, spxw.root, spxw.strike, spxw.multiplier) == ("SPX", "SPXW", 4800.0, 100)
    parsed = parse_option_symbol("O:AAPL230616C00150000")
    assert parsed["occ"] == "AAPL  230616C00150000"
    assert parsed["strike"] == 150.0 and parsed["expiry"] == 20230616 and parsed["right"] == "C"


def test_futures_codes_resolve_to_the_root(reg: InstrumentRegistry) -> None:
    a, b = reg.resolve("ESZ4"), reg.resolve("ESZ24")
    assert a == b and a.symbol == "ESZ24" and a.multiplier == 50
    assert a.root == "ES" and a.contract_month == 202412
    assert reg.resolve("/MNQH25").multiplier == 2


@pytest.mark.parametrize("symbol", ["XYZQ", "", "ESQ", "I:NOPE", "AAPL1 240119C00190000", "AAPL  241319C00190000"])
def test_unknown_symbols_raise(reg: InstrumentRegistry, symbol: str) -> None:
    # Unknown: UnknownSymbolError (a KeyError); malformed option symbol: InvalidArgumentError.
    with pytest.raises((UnknownSymbolError, InvalidArgumentError)):
        reg.resolve(symbol)


def test_unknown_error_is_clear(reg: InstrumentRegistry) -> None:
    with pytest.raises(UnknownSymbolError, match="rather than assume x1"):
        reg.resolve("XYZQ")
    assert resolve("ES").multiplier == 50
    assert InstrumentRegistry(allow_unlisted_equities=True).resolve("XYZQ").multiplier == 1


def test_overrides_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "instruments.toml"
    toml.write_text(
        """
equities = ["XYZQ"]

[[instrument]]
symbol = "BRK.A"
kind = "equity"
multiplier = 1
tick_size = 0.01

[[future_root]]
root = "ES"
multiplier = 50
tick_size = 0.25
initial_margin = 15000

[[option_root]]
root = "AAPL1"
underlying = "AAPL"
multiplier = 150
""",
        encoding="utf-8",
    )
    reg = InstrumentRegistry.from_file(toml)
    assert reg.resolve("XYZQ").kind == "equity"
    assert reg.resolve("BRK.A").multiplier == 1
    assert reg.resolve("ESZ4").initial_margin == 15000
    assert reg.resolve("AAPL1 240119C00190000").multiplier == 150
    js = tmp_path / "instruments.json"
    js.write_text(json.dumps({"future_root": [{"root": "XX", "multiplier": 7, "tick_size": 0.5}]}), encoding="utf-8")
    reg.load(js)
    assert reg.resolve("XXM25").multiplier == 7
    bad = tmp_path / "bad.toml"
    bad.write_text('[[future_root]]\nroot = "ZZ"\nmultiplier = 0\ntick_size = 1\n', encoding="utf-8")
    with pytest.raises(InvalidArgumentError):
        InstrumentRegistry.from_file(bad)
    bad.write_text('[[future_root]]\nroot = "ZZ"\nmultiplier = 1\ntick = 1\n', encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="unknown keys"):
        InstrumentRegistry.from_file(bad)


def test_instrument_validation() -> None:
    with pytest.raises(InvalidArgumentError):
        Instrument("X", "future", 0.0)
    with pytest.raises(InvalidArgumentError):
        Instrument("X", "option", 100.0)  # an option needs its terms
    i = Instrument("X", "option", 100.0, underlying="X", expiry=20250117, strike=10.0, right="P")
    assert i.to_dict()["right"] == "P"


@settings(max_examples=200, deadline=None)
@given(
    root=st.from_regex(r"[A-Z]{1,5}", fullmatch=True),
    date=st.dates(
        min_value=__import__("datetime").date(2020, 1, 1), max_value=__import__("datetime").date(2039, 12, 31)
    ),
    right=st.sampled_from("CP"),
    strike=st.integers(1, 99_999_999),
)
def test_occ_round_trip_is_x100(root: str, date: object, right: str, strike: int) -> None:
    sym = f"{root:<6}{date:%y%m%d}{right}{strike:08d}"  # type: ignore[str-format]
    reg = InstrumentRegistry()
    inst = reg.resolve(sym)
    assert inst.multiplier == 100 and inst.kind == "option"
    assert parse_option_symbol(sym)["occ"] == sym
    assert reg.resolve(parse_option_symbol(sym)["massive"]) == inst


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:/^$ ", max_size=12))
def test_multiplier_never_silently_one(symbol: str) -> None:
    reg = InstrumentRegistry()
    try:
        inst = reg.resolve(symbol)
    except (UnknownSymbolError, InvalidArgumentError):
        return
    expected = {"option": 100.0, "equity": 1.0, "index": 1.0}
    if inst.kind == "future":
        assert inst.root is not None
        assert inst.multiplier == reg.resolve(inst.root).multiplier
    else:
        assert inst.multiplier == expected[inst.kind]
