"""Entity IDs in MongoDB ObjectId layout: 4 bytes of seconds, 5 random bytes, 3-byte counter."""

from __future__ import annotations

import itertools
import os
import re
import threading
import time

ROOT_OBJECT_ID = "1"

_ID_PATTERN = re.compile(r"[0-9a-f]{24}")
_process_random = os.urandom(5)
_process_pid = os.getpid()
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_lock = threading.Lock()


def _refresh_after_fork() -> None:
    # A forked child must not mint the same IDs as its parent.
    global _process_random, _process_pid
    if os.getpid() != _process_pid:
        _process_random = os.urandom(5)
        _process_pid = os.getpid()


def new_id(at_seconds: float | None = None) -> str:
    """Mint a new ID; its first 8 hex digits encode the creation second."""
    seconds = int(time.time() if at_seconds is None else at_seconds) & 0xFFFFFFFF
    with _lock:
        _refresh_after_fork()
        count = next(_counter) & 0xFFFFFF
        random_part = _process_random
    return (seconds.to_bytes(4, "big") + random_part + count.to_bytes(3, "big")).hex()


def is_object_id(value: object) -> bool:
    return isinstance(value, str) and _ID_PATTERN.fullmatch(value) is not None


def is_entity_id(value: object) -> bool:
    """An object or link ID: an ObjectId, or the root object's ``"1"``."""
    return value == ROOT_OBJECT_ID or is_object_id(value)


def id_seconds(value: str) -> int:
    return int(value[:8], 16)
