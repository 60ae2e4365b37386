"""The documents of an object and of a link, as the API answers them, from what was read:
the entity's row, its operations, and (for an object) what lies below it. Shared by the
SQLAlchemy reads (entities.py) and SQLite's immediate path (entities_sqlite.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ..domain.kinds import EntityKind
from ..domain.properties import shown as shown_properties


@dataclass
class Tree:
    """What lies directly below some objects: child objects, and child links (the links
    between two children of the object, as SAYMON's children/links has them)."""

    children: dict[str, list[str]] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def object_document_of(row: Any, parent_ids: list[str], ops: list[dict], tree: Tree) -> dict:
    # The key order of SAYMON's documented create answer (methods/objects/create-new-object),
    # then the rest: some clients read answers with text patterns.
    return {
        "name": row.name,
        "owner_id": row.owner_id,
        "object_groups": orjson.loads(row.object_groups),
        "geoposition": orjson.loads(row.geoposition),
        "child_ref_ids": [],
        "child_link_ids": tree.links.get(row.id, []),
        "child_ids": tree.children.get(row.id, []),
        "parent_id": parent_ids,
        "weight": row.weight,
        "tags": orjson.loads(row.tags),
        "last_state_update": row.last_state_update,
        "updated": row.updated,
        "created": row.created,
        "id": row.id,
        "class_id": row.class_id,
        "state_id": row.state_id,
        "discovery_id": row.discovery_id,
        "client_data": _json(row.client_data),
        "background": row.background,
        "geopositionRadius": row.geoposition_radius,
        "manual_state": _json(row.manual_state),
        "properties": shown_properties(
            orjson.loads(row.properties), row.id, EntityKind.OBJECT.value
        ),
        "operations": ops,
    }


def link_document_of(row: Any, ops: list[dict], names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "source": row.source,
        "target": row.target,
        "source_name": names.get(row.source),
        "target_name": names.get(row.target),
        "class_id": row.class_id,
        "state_id": row.state_id,
        "last_state_update": row.last_state_update,
        "owner_id": row.owner_id,
        "weight": row.weight,
        "tags": orjson.loads(row.tags),
        "client_data": _json(row.client_data),
        "manual_state": _json(row.manual_state),
        "properties": shown_properties(orjson.loads(row.properties), row.id, EntityKind.LINK.value),
        "operations": ops,
        "created": row.created,
        "updated": row.updated,
    }
