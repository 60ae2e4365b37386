"""Action permissions and a user's effective rights (own plus groups')."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

# Every action permission SAYMON defines, spelled as its documentation spells them (the
# "Record in the server configuration file" column of its permissions page; docs/api.md §4).
# opsjobs decides on the ones its routes need and keeps the others as given, so a user or
# group carried over from SAYMON keeps all of its rights.
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
    "manage-documents",
    "create-documents",
    "modify-documents",
    "delete-documents",
    "manage-flows",
    "create-flows",
    "modify-flows",
    "delete-flows",
    "manage-monitoring",
    "manage-configuration",
    "update-agents",
    "run-bulks",
)
_KNOWN = frozenset(PERMISSIONS)


def check_permission(name: str) -> str:
    """``name`` when it is a permission SAYMON defines; ValueError naming it and the known
    ones otherwise (the API answers it as a 400)."""
    if name not in _KNOWN:
        raise ValueError(f"unknown permission {name!r}; known: {', '.join(PERMISSIONS)}")
    return name


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
