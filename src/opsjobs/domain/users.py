"""A user as authentication and the access rule see it."""

from __future__ import annotations

from dataclasses import dataclass

from .rights import Rights, UserStatus


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    login: str
    password_hash: str
    status: int
    active_to: int | None
    rights: Rights

    def may_log_in(self, now_ms: int) -> bool:
        if self.status == UserStatus.BLOCKED:
            return False
        return self.active_to is None or now_ms <= self.active_to
