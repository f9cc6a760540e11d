"""Table files for every command: one reader, one writer, the format chosen by the file's suffix.

=====================  =========================================
suffix                 format
=====================  =========================================
``.parquet``, ``.pq``  Parquet
``.csv``               CSV (header row; ISO timestamps)
``.csv.gz``            gzip-compressed CSV
``.arrow``, ``.feather`` Arrow IPC file (Feather v2)
=====================  =========================================

Any other suffix is an :class:`~quant_engine.errors.InvalidArgumentError` naming the ones
accepted. Outputs are checked with :func:`prepare_output` before a command does any work (format
known, parent folders created, folder writable), so a long run never fails at the end.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "FORMATS",
    "table_format",
    "read_table",
    "iter_batches",
    "prepare_output",
    "prepare_file",
    "write_table",
    "require_file",
    "check_input",
]

#: Suffix -> format name, for reading and writing alike.
FORMATS: dict[str, str] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".csv.gz": "csv.gz",
    ".arrow": "arrow",
    ".feather": "arrow",
}

#: CSV columns always read as text (a symbol such as ``T`` or an expiration such as ``20240119``
#: would otherwise be inferred as a boolean or a number).
_TEXT_COLUMNS = ("symbol", "expiration", "right", "root", "underlying")

#: CSV cells read as null. Unlike pyarrow's default, ``NaN``/``nan``/``-nan`` stay numbers (NaN), so
#: a price written as NaN is rejected as a non-finite price rather than as a missing field.
_NULL_VALUES = ["", "#N/A", "#N/A N/A", "#NA", "N/A", "NA", "NULL", "n/a", "null"]


def table_format(path: str | Path) -> str:
    """The format of ``path`` by its suffix: ``parquet``, ``csv``, ``csv.gz`` or ``arrow``."""
    from quant_engine.errors import InvalidArgumentError

    name = Path(path).name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    accepted = ", ".join(FORMATS)
    raise InvalidArgumentError(f"{path}: unsupported file type '{Path(path).suffix}' (use one of {accepted})")


def require_file(path: str | Path) -> Path:
    """``path`` as a Path if it is an existing file, else ``FileNotFoundError`` ("no such file")."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file" if not p.exists() else f"{p}: not a file")
    return p


def check_input(path: str | Path) -> Path:
    """``path`` as a Path if it is an existing file of a known table format (checked before outputs)."""
    table_format(path)
    return require_file(path)


def _csv_convert() -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return pacsv.ConvertOptions(column_types={name: pa.string() for name in _TEXT_COLUMNS}, null_values=_NULL_VALUES)


def read_table(path: str | Path) -> Any:
    """The whole table file at ``path`` as a ``pyarrow.Table``."""
    import pyarrow.csv as pacsv
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    fmt = table_format(path)
    p = require_file(path)
    with _naming(p):
        if fmt == "parquet":
            return pq.read_table(p)
        if fmt == "arrow":
            return feather.read_table(p)
        return pacsv.read_csv(p, convert_options=_csv_convert())


def iter_batches(path: str | Path, batch_size: int) -> tuple[Iterator[Any], int | None]:
    """Streams the table file at ``path`` as record batches: (batches, total rows or None if unknown)."""
    import pyarrow.csv as pacsv
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    fmt = table_format(path)
    p = require_file(path)
    with _naming(p):
        if fmt == "parquet":
            pf = pq.ParquetFile(p)
            return _named_batches(pf.iter_batches(batch_size=batch_size), p), pf.metadata.num_rows
        if fmt == "arrow":
            table = feather.read_table(p, memory_map=True)
            return iter(table.to_batches(max_chunksize=batch_size)), table.num_rows
        reader = pacsv.open_csv(p, convert_options=_csv_convert(), read_options=pacsv.ReadOptions(block_size=1 << 22))
        return _named_batches(reader, p), None


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Re-raises pyarrow's file errors (a CSV parse error, a file that is not Parquet) naming ``path``."""
    import pyarrow as pa

    try:
        yield
    except pa.ArrowInvalid as exc:
        if str(path) in str(exc):
            raise
        raise pa.ArrowInvalid(f"{path}: {exc}") from None


def _named_batches(batches: Iterable[Any], path: Path) -> Iterator[Any]:
    """``batches``, with errors raised while reading them naming ``path``."""
    it = iter(batches)
    while True:
        with _naming(path):
            batch = next(it, None)
        if batch is None:
            return
        yield batch


def prepare_output(path: str | Path) -> Path:
    """Checks an output table path before any work: known format, parent folders created, writable."""
    table_format(path)
    return prepare_file(path)


def prepare_file(path: str | Path) -> Path:
    """Checks any output file path (a table, a report) before any work: parent folders created, writable."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{p}: is a folder; give a file name such as {p / 'out.parquet'}")
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"{p}: cannot create the folder {parent}: a file has that name") from None
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise PermissionError(f"{p}: not writable")
    return p


def _decode_dictionaries(table: Any) -> Any:
    """``table`` with dictionary columns decoded (CSV has no dictionary type)."""
    import pyarrow as pa

    columns = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def write_table(table: Any, path: str | Path) -> Path:
    """Writes the Arrow ``table`` to ``path`` in the format of its suffix; returns the path."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    p = prepare_output(path)
    fmt = table_format(p)
    if fmt == "parquet":
        pq.write_table(table, p)
    elif fmt == "arrow":
        feather.write_feather(table, p)
    elif fmt == "csv":
        pacsv.write_csv(_decode_dictionaries(table), p)
    else:
        with pa.CompressedOutputStream(str(p), "gzip") as stream:
            pacsv.write_csv(_decode_dictionaries(table), stream)
    return p
