"""The fields of SAYMON's object and link documents (docs/api.md §11): which ones a list
answers by default, which a client may set, which only the server does, and how a class ID
and a discovery-ID address are read."""

from __future__ import annotations

from .errors import BadRequest

# SAYMON's standard classes (docs.saymon.tech, glossary/classes): their IDs are small
# integers, which clients send as numbers or strings alike.
STANDARD_CLASSES = {1: "Root", 2: "Saymon Agent", 3: "Host", 4: "CPU", 5: "Memory"}

# What GET /objects and GET /links answer without ``fields`` (SAYMON,
# methods/objects/get-all-objects and methods/links/get-all-links).
OBJECT_LIST_DEFAULT = (
    "id",
    "name",
    "parent_id",
    "class_id",
    "state_id",
    "last_state_update",
    "child_ids",
    "child_link_ids",
    "child_ref_ids",
    "geoposition",
)
LINK_LIST_DEFAULT = (
    "id",
    "class_id",
    "source",
    "target",
    "source_name",
    "target_name",
    "state_id",
    "last_state_update",
)

# Fields of the documents that only the server sets: sending one is refused by name, never
# silently dropped.
READ_ONLY = frozenset(
    {
        "id",
        "child_ids",
        "child_link_ids",
        "child_ref_ids",
        "created",
        "updated",
        "last_state_update",
        "source_name",
        "target_name",
        "entityType",
        "_version",
    }
)

# Documented fields that a body of the entity itself does not change, and where they do.
CHANGED_ELSEWHERE = {"operations": "changed through the entity's /operations routes"}

DISCOVERY_PREFIX = "discovery id:"
CLASS_ID_MAX = 24


def class_id(value: int | str | None) -> str | None:
    """A class ID as stored: text. SAYMON clients send the standard classes' IDs as numbers."""
    if value is None:
        return None
    if isinstance(value, int):
        if not 1 <= value < 10**CLASS_ID_MAX:
            raise BadRequest("class_id: must be a positive integer or a class ID")
        return str(value)
    return value


def discovery_ref(object_ref: str) -> str | None:
    """The discovery ID an object address names (``discovery id:<discovery_id>``, SAYMON,
    models/object), or None for a plain object ID."""
    if object_ref.startswith(DISCOVERY_PREFIX):
        return object_ref[len(DISCOVERY_PREFIX) :]
    return None
