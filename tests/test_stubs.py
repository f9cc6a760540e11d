"""``_core.pyi`` mirrors the Rust module: checked by mypy's stubtest against the installed build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = str(Path(__file__).resolve().parents[1] / "pyproject.toml")


def test_core_stub_matches_extension_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "quant_engine._core", "--mypy-config-file", CONFIG],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_package_type_checks() -> None:
    """The package's own annotations are consistent (mypy --strict over the package sources)."""
    pkg_dir = str(Path(__file__).resolve().parents[1] / "python" / "quant_engine")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", CONFIG, "--no-error-summary", pkg_dir],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
