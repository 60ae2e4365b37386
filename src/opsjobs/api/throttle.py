"""The login throttle: every password check is counted before it runs, and few run at once.

Argon2 is slow by design, so a check that is counted only once it has failed lets a burst of
guesses through whole: they are all under way before the first one fails. Here an attempt
takes its place in three counters before its hash is computed, and gives it back only when
the password turns out right:

- per login from one client address (``auth_failure_limit``): the guesser at one address;
- per client address, whatever the login (``auth_address_failure_limit``): one address trying
  many logins;
- per login, whatever the address (``auth_login_failure_limit``): guessing spread over many
  addresses. It is far above the first, so that failures from some addresses do not keep the
  user out from another; only guessing at that scale does, which is what it is for.

Each counter allows its limit at once and then one more every window/limit seconds (a
generic cell rate: one number per counter, the time at which it is back to zero). IPv6
clients are counted by /64, the block one host usually holds.

Separately, at most ``password_checks_at_once`` checks run in the process, and at most
``password_checks_per_client`` for one address or one login; an attempt beyond either is
answered 429 at once, without being counted, and costs nothing.

Memory is bounded: a counter that is back to zero is dropped, and beyond ``max_counters``
the counters touched longest ago are forgotten first. Only an attempt that is let through to
a check makes counters, and the check bound limits how fast that happens (at the default
Argon2 cost, far fewer than ``max_counters`` in one window).

The counters are per process: several server processes each count on their own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from ..config import Settings
from ..domain.errors import TooManyRequests
from ..domain.names import lookup_form

MAX_COUNTERS = 100_000
_SLACK = 1e-6  # float rounding when a counter is exactly full


def _counter_key(kind: bytes, *parts: str) -> bytes:
    # A digest, not the text: a login may be as long as a request body.
    digest = hashlib.blake2b(kind, digest_size=16)
    for part in parts:
        digest.update(b"\0" + part.encode("utf-8", "surrogatepass"))
    return digest.digest()


def address_group(address: str) -> str:
    """The address an IPv4 client is counted by, or the /64 of an IPv6 one."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class Attempt:
    """One counted attempt; a context that holds a check's place while the check runs."""

    __slots__ = ("_throttle", "_counted", "_busy")

    def __init__(self, throttle: LoginThrottle, counted: list, busy: tuple[bytes, bytes]):
        self._throttle = throttle
        self._counted = counted
        self._busy: tuple[bytes, bytes] | None = busy

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, *_exc) -> None:
        if self._busy is not None:
            self._throttle._release(self._busy)
            self._busy = None

    def forgive(self) -> None:
        """The password was right: this attempt is not a failure, and the failures of this
        login from this address are forgotten."""
        self._throttle._forgive(self._counted)


class LoginThrottle:
    def __init__(
        self,
        *,
        pair_limit: int,
        address_limit: int,
        login_limit: int,
        window_seconds: float,
        checks_at_once: int,
        checks_per_client: int,
        max_counters: int = MAX_COUNTERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = float(window_seconds)
        self._intervals = {
            b"p": self.window / max(1, pair_limit),
            b"a": self.window / max(1, address_limit),
            b"l": self.window / max(1, login_limit),
        }
        self.checks_at_once = checks_at_once
        self.checks_per_client = checks_per_client
        self.max_counters = max_counters
        self._clock = clock
        # Counter key -> the time it is back to zero; oldest touched first.
        self._free_at: OrderedDict[bytes, float] = OrderedDict()
        # Checks under way: per address or login key, and in all.
        self._busy: dict[bytes, int] = {}
        self._busy_total = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        return cls(
            pair_limit=settings.auth_failure_limit,
            address_limit=settings.auth_address_failure_limit,
            login_limit=settings.auth_login_failure_limit,
            window_seconds=settings.auth_failure_window_seconds,
            checks_at_once=settings.password_checks_at_once,
            checks_per_client=settings.password_checks_per_client,
        )

    def __len__(self) -> int:
        """Counters held (for tests of the memory bound)."""
        return len(self._free_at) + len(self._busy)

    def attempt(self, login: str, address: str) -> Attempt:
        """Count an attempt and take a check's place, or raise TooManyRequests."""
        login = lookup_form(login)
        group = address_group(address)
        address_key = _counter_key(b"a", group)
        login_key = _counter_key(b"l", login)
        if (
            self._busy_total >= self.checks_at_once
            or self._busy.get(address_key, 0) >= self.checks_per_client
            or self._busy.get(login_key, 0) >= self.checks_per_client
        ):
            raise TooManyRequests(1, "password checks under way")
        now = self._clock()
        counted = [
            (_counter_key(b"p", login, group), self._intervals[b"p"]),
            (address_key, self._intervals[b"a"]),
            (login_key, self._intervals[b"l"]),
        ]
        after = [max(self._free_at.get(key, now), now) + interval for key, interval in counted]
        excess = max(at - now - self.window for at in after)
        if excess > _SLACK:
            raise TooManyRequests(max(1, math.ceil(excess)))
        for (key, _), at in zip(counted, after, strict=True):
            self._put(key, at, now)
        for key in (address_key, login_key):
            self._busy[key] = self._busy.get(key, 0) + 1
        self._busy_total += 1
        return Attempt(self, counted, (address_key, login_key))

    def _put(self, key: bytes, free_at: float, now: float) -> None:
        self._free_at.pop(key, None)
        while self._free_at:
            oldest_key, oldest_free_at = next(iter(self._free_at.items()))
            if oldest_free_at > now and len(self._free_at) < self.max_counters:
                break
            del self._free_at[oldest_key]
        self._free_at[key] = free_at

    def _release(self, busy: tuple[bytes, bytes]) -> None:
        self._busy_total -= 1
        for key in busy:
            left = self._busy[key] - 1
            if left:
                self._busy[key] = left
            else:
                del self._busy[key]

    def _forgive(self, counted: list) -> None:
        now = self._clock()
        pair_key = counted[0][0]
        self._free_at.pop(pair_key, None)
        for key, interval in counted[1:]:
            free_at = self._free_at.get(key)
            if free_at is None:
                continue
            if free_at - interval <= now:
                del self._free_at[key]
            else:
                self._free_at[key] = free_at - interval
