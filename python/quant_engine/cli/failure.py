"""The one error handler of the command line: any exception becomes one line on stderr and an
exit status (2 for bad input, 1 for anything else, 130 when interrupted), never a traceback."""

from __future__ import annotations

import json
import re
import sys

__all__ = ["exit_status", "is_bad_input", "one_line"]

#: The core's unknown-symbol message quotes the symbol together with the explanation
#: (``unknown symbol 'XYZQ: not a registered ...'``); printed as ``unknown symbol 'XYZQ': not a ...``.
_UNKNOWN_SYMBOL = re.compile(r"^unknown symbol '(\S+?): (.*)'$", re.S)

#: Longest message printed; a longer one (a huge vendor body, a whole CSV row) is cut with an ellipsis.
MAX_MESSAGE = 600


def is_bad_input(exc: BaseException) -> bool:
    """True if ``exc`` means the user's input was wrong (exit status 2), False for a failure of ours."""
    from quant_engine.errors import InternalError, QuantEngineError

    if isinstance(exc, InternalError):
        return False
    return isinstance(exc, (QuantEngineError, ValueError, OSError))


def one_line(exc: BaseException) -> str:
    """``Name: message`` on a single line, without internals such as a JSON parser's character offset."""
    if isinstance(exc, json.JSONDecodeError):  # a caller that knows the file wraps it; say what is wrong
        message = f"not valid JSON: {exc.msg} on line {exc.lineno}"
    else:
        message = str(exc) or repr(exc)
    message = _UNKNOWN_SYMBOL.sub(r"unknown symbol '\1': \2", message)
    message = re.sub(r"\s*[\r\n]+\s*", " ", message).strip()  # one line; spaces inside a line are kept (OCC symbols)
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return f"{type(exc).__name__}: {message}"


def exit_status(exc: BaseException, command: str) -> int:
    """Prints ``exc`` as one line on stderr (prefixed with the command) and returns the exit status."""
    if isinstance(exc, KeyboardInterrupt):
        print("quant-engine: interrupted", file=sys.stderr)
        return 130
    print(f"quant-engine {command}: error: {one_line(exc)}", file=sys.stderr)
    return 2 if is_bad_input(exc) else 1
