"""The ``instrument`` and ``risk-check`` subcommands, run as the installed console entry point."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quant_engine.cli import main


def test_instrument_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["instrument", "ESZ24", "O:AAPL230616C00150000", "SPX"]) == 0
    out = capsys.readouterr().out
    assert "ESZ24" in out and "50" in out and "AAPL  230616C00150000" in out and "100" in out
    assert main(["instrument", "XYZQ"]) == 2
    err = capsys.readouterr().err
    assert "UnknownSymbolError" in err and len(err.strip().splitlines()) == 1


def test_risk_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orders = tmp_path / "orders.parquet"
    pq.write_table(
        pa.table(
            {
                "symbol": ["ES", "ES", "AAPL"],
                "side": ["buy", "buy", "sell"],
                "quantity": [2.0, 20.0, 10.0],
                "price": [4500.0, 4500.0, 190.0],
            }
        ),
        orders,
    )
    limits = tmp_path / "risk.toml"
    limits.write_text("[risk.future]\nmax_order_quantity = 5\nmax_position = 10\n", encoding="utf-8")
    out = tmp_path / "decisions.parquet"
    assert main(["risk-check", str(orders), "--limits", str(limits), "--out", str(out)]) == 0
    assert "max_order_quantity 1" in capsys.readouterr().out
    table = pq.read_table(out)
    assert table.column("reason").to_pylist() == ["accepted", "max_order_quantity", "accepted"]
    assert table.column("symbol").to_pylist() == ["ES", "ES", "AAPL"]
    assert main(["risk-check", str(orders), "--limits", str(limits), "--fail-on-reject"]) == 3
    assert main(["risk-check", str(tmp_path / "missing.parquet")]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["risk-check", "--help"])
    assert exc.value.code == 0
    assert "--fail-on-reject" in capsys.readouterr().out
