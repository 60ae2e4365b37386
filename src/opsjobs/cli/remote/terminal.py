"""Text from a server, made harmless for the operator's terminal.

A job's output is written by whatever ran, and names and messages come from the server: to a
terminal, an escape sequence in them could move the cursor, rewrite what was printed, set the
window title, or on some terminals answer back as if typed. So before anything from the
server reaches a terminal, every control character (C0 but newline and tab, DEL, C1, and the
Unicode marks that reorder text on screen) is shown as a visible escape, ``\\x1b``,
``\\u202e``, instead of being sent. A lone carriage return is escaped too (it would let a line
hide what was printed before it); CR LF is a line end. Output going to a pipe or a file is
passed unchanged: a program reading it wants the bytes the job wrote (``docs/cli.md``).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, TextIO

from rich.text import Text

_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_IN_OUTPUT = re.compile(f"[{_CONTROLS}]")
_IN_NAME = re.compile(f"[\t\n{_CONTROLS}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_output(text: str) -> str:
    """Job output for a terminal: lines kept, every other control character shown."""
    return _IN_OUTPUT.sub(_visible, text.replace("\r\n", "\n"))


def safe_name(value: object) -> str:
    """A name, ID or message on one line of a terminal."""
    return _IN_NAME.sub(_visible, "" if value is None else str(value))


def cell(value: object, style: str | None = None) -> Text:
    """A table cell: made safe, and a ``Text`` so that ``[...]`` is never read as markup."""
    return Text(safe_name(value), style=style or "")


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def write_output(data: str, stream: str) -> None:
    """Job output, as it comes, to our stdout or stderr as the job wrote it."""
    target = sys.stderr if stream == "stderr" else sys.stdout
    target.write(safe_output(data) if is_terminal(target) else data)
    target.flush()


def print_json(value: Any) -> None:
    """One JSON document on a line of stdout. JSON escapes C0 controls itself; on a terminal
    everything past ASCII is escaped too (C1 controls and bidi marks stay text)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=is_terminal(sys.stdout)) + "\n")
    sys.stdout.flush()
