"""The CLI package's shared helpers, exercised through the commands: one table reader/writer for
every command (format by suffix, folders created, outputs checked before the work), one-line
errors that name the file or option, and output that never wraps when stdout is not a terminal."""

from __future__ import annotations

import gzip
import importlib
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import quant_engine.cli
from bar_factory import random_bars
from conftest import MINUTE
from quant_engine.cli import GROUPS, build_parser, command_groups, main
from quant_engine.cli.tables import read_table, write_table
from quant_engine.errors import InvalidArgumentError
from quant_engine.feeds import SyntheticMarket

SPEC = {
    "instruments": ["AAPL", "MSFT"],
    "timeframe": "5m",
    "entry_long": {
        "op": "cross_above",
        "left": {"op": "sma", "x": "close", "n": 5},
        "right": {"op": "sma", "x": "close", "n": 20},
    },
    "exit_long": {
        "op": "cross_below",
        "left": {"op": "sma", "x": "close", "n": 5},
        "right": {"op": "sma", "x": "close", "n": 20},
    },
}


@pytest.fixture(scope="module")
def ticks_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ticks") / "ticks.parquet"
    pq.write_table(SyntheticMarket(seed=3, symbols=["A", "B"], ticks_per_day=2_000).ticks(), path)
    return path


@pytest.fixture(scope="module")
def bar_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("bars")
    bars = random_bars(300, symbols=("AAPL", "MSFT"), seed=2, step=5 * MINUTE)
    spec = d / "spec.json"
    spec.write_text(json.dumps(SPEC))
    pq.write_table(bars, d / "bars.parquet")
    pacsv.write_csv(bars, d / "bars.csv")
    return spec, d / "bars.parquet", d / "bars.csv"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_every_group_registers_its_commands() -> None:
    assert command_groups()[: len(GROUPS)] == list(GROUPS)
    for name in GROUPS:
        assert callable(importlib.import_module(f"quant_engine.cli.{name}").register)
    help_text = build_parser().format_help()
    for command in (
        "run",
        "bars",
        "backtest",
        "greeks",
        "regimes",
        "discover",
        "instrument",
        "risk-check",
        "sandbox",
        "ingest",
        "feeds",
    ):
        assert command in help_text


def test_a_new_command_group_is_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hello.py").write_text(
        "def register(subparsers):\n"
        "    p = subparsers.add_parser('hello', help='say hello')\n"
        "    p.add_argument('--name', default='world')\n"
        "    p.set_defaults(func=lambda args: print(f'hello {args.name}') or 0)\n"
    )
    monkeypatch.setattr(quant_engine.cli, "__path__", [*quant_engine.cli.__path__, str(tmp_path)])
    assert command_groups()[-1] == "hello"
    assert main(["hello", "--name", "quant"]) == 0 and capsys.readouterr().out == "hello quant\n"
    monkeypatch.delitem(sys.modules, "quant_engine.cli.hello")


@pytest.mark.parametrize("suffix", [".parquet", ".pq", ".csv", ".csv.gz", ".arrow", ".feather"])
def test_write_and_read_every_format(tmp_path: Path, suffix: str) -> None:
    table = pa.table(
        {
            "symbol": pa.array(["T", "AAPL"]).dictionary_encode(),
            "x": [1.5, 2.5],
            "start": pa.array([0, 60_000_000_000], pa.timestamp("ns", tz="UTC")),
        }
    )
    path = write_table(table, tmp_path / "new" / "dir" / f"t{suffix}")
    back = read_table(path)
    assert back.column("symbol").cast(pa.string()).to_pylist() == ["T", "AAPL"]  # "T" stays text in CSV
    assert back.column("x").to_pylist() == [1.5, 2.5]
    assert back.column("start").cast(pa.int64()).to_pylist() == [0, 60_000_000_000]
    raw = path.read_bytes()
    if suffix == ".csv":
        assert raw.startswith(b'"symbol","x","start"')
    elif suffix == ".csv.gz":
        assert gzip.decompress(raw).startswith(b'"symbol"')
    elif suffix in (".parquet", ".pq"):
        assert raw[:4] == b"PAR1"
    else:
        assert raw[:6] == b"ARROW1" and feather.read_table(path).num_rows == 2


def test_unknown_suffix_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"unsupported file type '\.xlsx' \(use one of \.parquet"):
        write_table(pa.table({"x": [1]}), tmp_path / "t.xlsx")
    assert not (tmp_path / "t.xlsx").exists()


def test_bars_out_csv_writes_csv(ticks_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    assert main(["bars", str(ticks_file), "--interval", "5m", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b'"symbol","start","open"')
    assert main(["bars", str(ticks_file), "--interval", "5m", "--out", str(tmp_path / "x.parquet")]) == 0
    assert read_table(out).to_pylist() == pq.read_table(tmp_path / "x.parquet").to_pylist()  # values round-trip exactly


def test_bars_out_with_an_unknown_suffix_fails_before_reading(
    ticks_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bars", str(ticks_file), "--out", str(tmp_path / "bars.xls")]) == 2
    line = one_error_line(capsys)
    assert "unsupported file type '.xls'" in line and "bars.xls" in line


def test_backtest_out_creates_folders_and_reads_csv_bars(bar_files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    spec, parquet, csv = bar_files
    out = tmp_path / "newdir" / "sub" / "t.parquet"
    assert main(["backtest", str(spec), "--data", str(csv), "--out", str(out)]) == 0
    from_csv = pq.read_table(out)
    out2 = tmp_path / "t2.csv"
    assert main(["backtest", str(spec), "--data", str(parquet), "--out", str(out2)]) == 0
    from_parquet = read_table(out2)
    assert from_csv.num_rows == from_parquet.num_rows > 0  # the same bars, read from CSV and from Parquet


def test_backtest_checks_the_output_before_the_run(
    bar_files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, parquet, _ = bar_files
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["backtest", str(spec), "--data", str(parquet), "--out", str(blocker / "t.parquet")]) == 2
    captured = capsys.readouterr()
    assert "backtest of" not in captured.out  # failed before running
    assert "a file has that name" in captured.err and len(captured.err.strip().splitlines()) == 1
    assert (
        main(["backtest", str(spec), "--data", str(parquet), "--grid", "n=1,2", "--out", str(tmp_path / "g.txt")]) == 2
    )
    assert "unsupported file type '.txt'" in one_error_line(capsys)


def test_json_errors_name_the_file_without_parser_internals(
    bar_files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, parquet, _ = bar_files
    execution = tmp_path / "exec.json"
    execution.write_text('{"slippage": {"fixed_bps": }}')
    assert main(["backtest", str(spec), "--data", str(parquet), "--execution", str(execution)]) == 2
    line = one_error_line(capsys)
    assert f"--execution {execution}: not valid JSON" in line and "on line 1" in line
    assert "column" not in line and "char" not in line
    broken = tmp_path / "broken.json"
    broken.write_text('{"instruments": ["AAA"],}')
    assert main(["backtest", str(broken), "--data", str(parquet)]) == 2
    assert f"{broken}: malformed JSON" in one_error_line(capsys)


@pytest.mark.parametrize("command", [["run"], ["backtest", "s.json"], ["ingest", "--synthetic"]])
def test_bad_dates_name_the_option(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*command, "--start", "2024-13-02"])
    assert exc.value.code == 2
    line = one_error_line(capsys)
    assert "argument --start: '2024-13-02' is not a date YYYY-MM-DD (month must be in 1..12)" in line


def test_output_does_not_wrap_off_a_terminal(
    ticks_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / ("a-rather-long-folder-name-" * 4) / "bars.parquet"
    assert main(["bars", str(ticks_file), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("rejected: none") and str(out) in lines[0]


def test_unknown_symbol_message_quotes_the_symbol_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["instrument", "XYZQ"]) == 2
    line = one_error_line(capsys)
    assert "unknown symbol 'XYZQ': not a registered instrument" in line
    assert "OCC 'AAPL  240119C00190000'" in line  # spaces inside the message are kept


def test_one_line_and_exit_status() -> None:
    from quant_engine.cli.failure import exit_status, one_line
    from quant_engine.errors import InternalError

    assert one_line(ValueError("first\n  second\r\nthird")) == "ValueError: first second third"
    assert (
        one_line(json.JSONDecodeError("Expecting value", '{"a": }', 6))
        == "JSONDecodeError: not valid JSON: Expecting value on line 1"
    )
    assert len(one_line(ValueError("x" * 5000))) < 700
    assert exit_status(InternalError("bug"), "run") == 1
    assert exit_status(RuntimeError("boom"), "run") == 1
    assert exit_status(FileNotFoundError("f: no such file"), "run") == 2
    assert exit_status(KeyboardInterrupt(), "run") == 130


def test_greeks_fail_when_no_contract_can_be_priced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = tmp_path / "chain.csv"
    chain.write_text(
        "symbol,expiration,strike,right,bid,ask,underlying_price\n"
        "AAPL,2026-01-16,275.000,CALL,1.47,1.50,225.74\nAAPL,2026-01-16,200.000,PUT,3.10,3.20,225.74\n"
    )
    out = tmp_path / "g.csv"
    base = ["greeks", str(chain), "--valuation", "2025-08-20T15:59:59-04:00", "--out", str(out)]
    assert main([*base, "--vol", "-0.2"]) == 2
    assert "vol = -0.2 is invalid for every contract" in one_error_line(capsys)  # the library's typed error
    assert not out.exists()
    assert main(base) == 0 and read_table(out).num_rows == 2


def test_option_files_and_values_are_named_in_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("symbol,side,quantity,price\nAAPL,buy,1,100\n")
    bad = tmp_path / "limits.toml"
    bad.write_text("max_order_quantity = \n")
    assert main(["risk-check", str(orders), "--limits", str(bad)]) == 2
    assert f"--limits {bad}: not valid TOML" in one_error_line(capsys)
    assert main(["risk-check", str(orders), "--limits", str(tmp_path / "none.toml")]) == 2
    assert "--limits" in one_error_line(capsys)
    assert main(["sandbox", "theta", "--port", "0", "--ws-port", "0", "--faults", '{"x": }']) == 2
    assert "--faults: not valid JSON: Expecting value on line 1" in one_error_line(capsys)


@pytest.mark.parametrize(
    "command",
    [
        ["bars", "{missing}"],
        ["regimes", "{missing}"],
        ["risk-check", "{missing}"],
        ["backtest", "{spec}", "--data", "{missing}"],
    ],
)
def test_a_missing_input_fails_before_any_output_folder_is_made(
    command: list[str], bar_files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "o.parquet"
    args = [a.format(missing=tmp_path / "missing.csv", spec=bar_files[0]) for a in command]
    assert main([*args, "--out", str(out)]) == 2
    assert "missing.csv: no such file" in one_error_line(capsys)
    assert not out.parent.exists()


def test_report_and_sandbox_options_fail_before_work(
    bar_files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, parquet, _ = bar_files
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["backtest", str(spec), "--data", str(parquet), "--report", str(blocker / "r.html")]) == 2
    captured = capsys.readouterr()
    assert "backtest of" not in captured.out and "a file has that name" in captured.err
    assert main(["sandbox", "theta", "--port", "0", "--ws-port", "0", "--start", "2024-13-02"]) == 2
    assert "--start: '2024-13-02' is not a date YYYY-MM-DD" in one_error_line(capsys)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".arrow"])
def test_bars_reads_every_format_alike(ticks_file: Path, tmp_path: Path, suffix: str) -> None:
    ticks = pq.read_table(ticks_file)
    src = write_table(ticks, tmp_path / f"ticks{suffix}")
    assert main(["bars", str(ticks_file), "--interval", "5m", "--out", str(tmp_path / "want.parquet")]) == 0
    assert (
        main(["bars", str(src), "--interval", "5m", "--batch-size", "1000", "--out", str(tmp_path / "got.parquet")])
        == 0
    )
    assert pq.read_table(tmp_path / "got.parquet").to_pylist() == pq.read_table(tmp_path / "want.parquet").to_pylist()
