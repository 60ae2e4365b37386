"""What a JSON value from a client may hold, so that storing, running and sending it back
cannot fail on it: the one reader every request body goes through.

- Depth: at most ``MAX_DEPTH`` nested arrays and objects (nothing we keep needs more, and
  every layer that walks a value recursively stays far from Python's recursion limit).
- Numbers: integers within 64 bits signed (the database's BIGINT, orjson's encoder), floats
  finite. ``NaN``, ``Infinity`` and ``1e400`` are not JSON numbers and are refused by the
  parser; an integer literal wider than 64 bits is refused rather than rounded to a float.
- Strings, keys included: valid Unicode (no lone surrogates) without NUL, which PostgreSQL
  text cannot hold and which would cut a C string (a script argument) short.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from .errors import BadRequest

MAX_DEPTH = 32
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1  # an INTEGER column (state_id) on PostgreSQL
# orjson reads an integer literal beyond 64 bits as a float; only a float this large can be
# such a literal, so only then is the body read again to tell the two apart.
_ROUNDED_INTEGER_FROM = float(2**63)
_WIDEST_INT64_LITERAL = len(str(INT64_MIN))
_KEY_SHOWN = 64  # of a key named in a refusal


class _WideInteger(int):
    """An integer literal too wide for 64 bits, as the second reading marks it."""


def _literal_int(text: str) -> int:
    # Checked by length first: int() of a long digit string is slow, and refused past 4300.
    if len(text) > _WIDEST_INT64_LITERAL:
        return _WideInteger(0)
    number = int(text)
    return number if INT64_MIN <= number <= INT64_MAX else _WideInteger(0)


def parse_json(body: bytes | str, name: str | None = None) -> Any:
    """The document in ``body``, checked (see the module). Invalid JSON raises
    ``json.JSONDecodeError`` (orjson's is one) with its position, or ``UnicodeDecodeError``
    for bytes that are not UTF-8; a value past the limits
    raises ``BadRequest`` naming where it is, as ``a.0.b`` (after ``name``, the body's own
    name, if given; ``body`` for the whole)."""
    value = _read(body)
    if check_value(value, name):
        check_value(json.loads(body, parse_int=_literal_int), name)
    return value


def _read(body: bytes | str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as refused:
        # A syntax error is told as the standard library (and so FastAPI) tells it, with its
        # position; what only orjson refuses (NaN, 1e400, a lone surrogate, depth) in its words.
        try:
            json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise
        except RecursionError:  # past Python's limit, below orjson's
            pass
        raise refused from None


def check_value(value: Any, name: str | None = None) -> bool:
    """Refuse a value past the limits. True when a float in it might be a wide integer
    literal that orjson rounded (see parse_json). A value that did not come from JSON text
    is checked the same way: a Python int of any width, a float ``nan``."""
    try:
        return _check(value, 0)
    except _Refusal as refusal:
        path = [name] if name else []
        where = ".".join(path + refusal.path[::-1]) or "body"
        raise BadRequest(f"{where}: {refusal.reason}") from None


class _Refusal(Exception):
    # Where the value is gets known on the way out: nothing is spent on it while all is well.
    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.path: list[str] = []


_SCALARS = (str, bool, int, float, type(None))


def _check(value: Any, depth: int) -> bool:
    if isinstance(value, _SCALARS):
        return _check_scalar(value)
    if depth >= MAX_DEPTH:
        raise _Refusal(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        raise _Refusal(f"not a JSON value ({type(value).__name__})")
    recheck = False
    for key, item in items:
        if isinstance(key, str) and "\0" in key:
            raise _Refusal("a key must not contain NUL characters")
        try:
            recheck = _check(item, depth + 1) or recheck
        except _Refusal as refusal:
            refusal.path.append(str(key)[:_KEY_SHOWN])
            raise
    return recheck


def _check_scalar(value: str | bool | int | float | None) -> bool:
    if isinstance(value, str):
        if "\0" in value:
            raise _Refusal("must not contain NUL characters")
        return False
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        if isinstance(value, _WideInteger) or not INT64_MIN <= value <= INT64_MAX:
            raise _Refusal(f"integer out of range ({INT64_MIN} to {INT64_MAX})")
        return False
    if not math.isfinite(value):
        raise _Refusal("must be a finite number")
    return abs(value) >= _ROUNDED_INTEGER_FROM and value.is_integer()
