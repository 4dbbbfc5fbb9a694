"""What ``mlwb`` prints reaches a terminal: user text never carries control characters there.

A file name, a comment or a project name can hold an escape sequence (which would recolour or
rewrite the user's terminal), a carriage return (which would overwrite what was printed) or a
newline (which would break a one-line-per-record listing). The streams of a verb are wrapped so
control characters other than newline and tab print as ``\\xNN``; a field that must stay on its
line goes through ``one_line`` as well.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_LINE_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: object) -> str:
    """``text`` with every control character, newline and tab included, shown as an escape."""
    return _CONTROL_OR_LINE_BREAK.sub(_escape, str(text))


class SafeStream:
    """A text stream that escapes control characters (not newline or tab) on their way out."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(_CONTROL.sub(_escape, text))
        return len(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def protect_terminal() -> None:
    """Wrap stdout and stderr for the rest of this process (a verb; never the TUI)."""
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)  # type: ignore[assignment]
