"""Action permissions and a user's effective rights (own plus groups')."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

PERMISSIONS = (
    "manage-objects",
    "create-objects",
    "modify-objects",
    "delete-objects",
    "manage-links",
    "create-links",
    "modify-links",
    "delete-links",
    "manage-operations",
    "execute-operations",
    "manage-classes",
    "manage-scripts",
    "manage-users",
    "manage-properties",
    "manage-service-properties",
)


class UserStatus(IntEnum):
    ACTIVE = 1
    BLOCKED = 3


@dataclass(frozen=True, slots=True)
class Rights:
    """What a caller may do: action permissions plus entity include/exclude lists."""

    permissions: frozenset[str]
    include: frozenset[str]
    exclude: frozenset[str]

    def has_any(self, *permissions: str) -> bool:
        return any(p in self.permissions for p in permissions)

    @classmethod
    def union(cls, parts: list[Rights]) -> Rights:
        return cls(
            permissions=frozenset().union(*(p.permissions for p in parts)),
            include=frozenset().union(*(p.include for p in parts)),
            exclude=frozenset().union(*(p.exclude for p in parts)),
        )


NO_RIGHTS = Rights(frozenset(), frozenset(), frozenset())
