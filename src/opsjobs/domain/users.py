"""A user as authentication and the access rule see it, and which changes end its sessions."""

from __future__ import annotations

from dataclasses import dataclass

from .rights import Rights, UserStatus


def may_log_in(status: int, active_to: int | None, now_ms: int) -> bool:
    if status == UserStatus.BLOCKED:
        return False
    return active_to is None or now_ms <= active_to


@dataclass(frozen=True, slots=True)
class LoginState:
    """What decides whether a user may log in, before or after a change."""

    password_hash: str
    status: int
    active_to: int | None


def change_ends_sessions(before: LoginState, after: LoginState, now_ms: int) -> bool:
    """A session never outlives the password it was opened with, nor a time when its user
    could not log in: a change of password, a block, or any change made while the user is
    blocked or expired (unblocking, extending) ends every session the user has."""
    return (
        before.password_hash != after.password_hash
        or not may_log_in(before.status, before.active_to, now_ms)
        or not may_log_in(after.status, after.active_to, now_ms)
    )


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    login: str
    password_hash: str
    status: int
    active_to: int | None
    rights: Rights

    def may_log_in(self, now_ms: int) -> bool:
        return may_log_in(self.status, self.active_to, now_ms)
