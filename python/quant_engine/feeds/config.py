"""Market-data settings from ``QE_*`` environment variables (secrets come only from the
environment and are held in :class:`Secret`, whose ``repr``/``str`` never show the value).

================================  ==========================================================
variable                          meaning (default)
================================  ==========================================================
``QE_THETA_BASE_URL``             Theta Terminal v3 REST base (``http://127.0.0.1:25503``)
``QE_THETA_WS_URL``               Theta Terminal stream (``ws://127.0.0.1:25520/v1/events``)
``QE_THETA_ENABLED``              ``1`` to use ThetaData with the default URLs; setting either
                                  URL enables it too (unset: ThetaData is not configured)
``QE_THETA_TERMINAL_CMD``         command line that launches the terminal (for the supervisor)
``QE_THETA_USERNAME``             terminal login, passed to the terminal's environment (secret)
``QE_THETA_PASSWORD``             terminal password (secret)
``QE_MASSIVE_API_KEY``            Massive API key (secret); Massive is configured when set
``QE_MASSIVE_BASE_URL``           Massive REST base (``https://api.massive.com``)
``QE_MASSIVE_WS_URL``             Massive stream base (``wss://socket.massive.com``)
``QE_CATALOG_DIR``                the Parquet catalog (``~/.local/share/quant-engine/catalog``)
``QE_HTTP_TIMEOUT``               seconds per HTTP request (``30``)
``QE_HTTP_RETRIES``               retries of retryable HTTP failures (``5``)
``QE_BACKFILL_MAX_HOLD``          seconds a stream may hold live trades while a gap's backfill
                                  keeps failing, before giving the gap up (``30``)
================================  ==========================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Secret", "FeedSettings", "settings"]


class Secret:
    """A credential: compares and hashes like its value, but never prints it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value (only for the one place that sends it)."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type, tuple[str]]:  # pragma: no cover - pickling is explicit
        raise TypeError("a Secret cannot be pickled")


def _default_catalog() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "quant-engine" / "catalog"


@dataclass(frozen=True)
class FeedSettings:
    """The market-data configuration (see the module docstring for the variables)."""

    theta_base_url: str = "http://127.0.0.1:25503"
    theta_ws_url: str = "ws://127.0.0.1:25520/v1/events"
    theta_enabled: bool = False
    theta_terminal_cmd: str = ""
    theta_username: Secret = field(default_factory=lambda: Secret(""))
    theta_password: Secret = field(default_factory=lambda: Secret(""))
    massive_api_key: Secret = field(default_factory=lambda: Secret(""))
    massive_base_url: str = "https://api.massive.com"
    massive_ws_url: str = "wss://socket.massive.com"
    catalog_dir: Path = field(default_factory=_default_catalog)
    http_timeout: float = 30.0
    http_retries: int = 5
    backfill_max_hold: float = 30.0

    @property
    def massive_enabled(self) -> bool:
        """Whether a Massive API key is configured."""
        return bool(self.massive_api_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FeedSettings:
        """Reads the ``QE_*`` variables (``os.environ`` by default)."""
        e = os.environ if env is None else env
        d = cls()
        theta_url = e.get("QE_THETA_BASE_URL", "")
        theta_ws = e.get("QE_THETA_WS_URL", "")
        enabled = e.get("QE_THETA_ENABLED", "").strip().lower() in ("1", "true", "yes", "on")
        return cls(
            theta_base_url=(theta_url or d.theta_base_url).rstrip("/"),
            theta_ws_url=theta_ws or d.theta_ws_url,
            theta_enabled=enabled or bool(theta_url or theta_ws),
            theta_terminal_cmd=e.get("QE_THETA_TERMINAL_CMD", ""),
            theta_username=Secret(e.get("QE_THETA_USERNAME", "")),
            theta_password=Secret(e.get("QE_THETA_PASSWORD", "")),
            massive_api_key=Secret(e.get("QE_MASSIVE_API_KEY", "")),
            massive_base_url=(e.get("QE_MASSIVE_BASE_URL") or d.massive_base_url).rstrip("/"),
            massive_ws_url=(e.get("QE_MASSIVE_WS_URL") or d.massive_ws_url).rstrip("/"),
            catalog_dir=Path(e["QE_CATALOG_DIR"]).expanduser() if e.get("QE_CATALOG_DIR") else d.catalog_dir,
            http_timeout=float(e.get("QE_HTTP_TIMEOUT", d.http_timeout)),
            http_retries=int(e.get("QE_HTTP_RETRIES", d.http_retries)),
            backfill_max_hold=float(e.get("QE_BACKFILL_MAX_HOLD", d.backfill_max_hold)),
        )


def settings() -> FeedSettings:
    """The current ``QE_*`` settings: the one source every client and stream constructor falls
    back to for an argument it was not given (URLs, key, timeout, retries)."""
    return FeedSettings.from_env()
