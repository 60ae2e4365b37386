"""A user's PATCH body as the columns it changes (the password aside: it is hashed first)."""

from __future__ import annotations

from typing import Any

# Body field -> column, for fields that are stored as given and may not be set to null.
_NOT_NULL = {
    "login": "login",
    "name": "name",
    "email": "email",
    "status": "status",
    "permissions": "permissions",
    "groups": "group_ids",
    "group": "group_ids",  # SAYMON's name; the body model made both agree
    "contacts": "contacts",
}
# Fields whose null means something: no expiry, the display name made from the login, no
# language.
_NULLABLE = {"activeTo": "active_to", "displayName": "display_name", "language": "language"}


def column_changes(given: dict[str, Any]) -> dict[str, Any]:
    """``given``: the body as sent (``model_dump(exclude_unset=True)``)."""
    changes = {
        column: given[field] for field, column in _NOT_NULL.items() if given.get(field) is not None
    }
    changes |= {column: given[field] for field, column in _NULLABLE.items() if field in given}
    access = given.get("objectPermissions")
    if access is not None:
        changes["include"] = access.get("include", [])
        changes["exclude"] = access.get("exclude", [])
    return changes
