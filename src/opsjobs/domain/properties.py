"""Properties of objects and links (docs/api.md §11): records with an ID, unique by name
within their entity, kept in the order they were added.

A stored property is ``{"id", "name", "value", "type_id"}``; its owner (``owner_id``,
``owner_type``) is where it is stored, and is added when it is shown. SAYMON sends a
property's value as a string; a number or a boolean is kept as sent (older opsjobs data and
SAYMON exports hold them), anything else is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import BadRequest
from .ids import new_id
from .names import hidden_character
from .values import INT32_MAX

INFO = 1
READ_ONLY = 2
READ_WRITE = 3
SERVICE = 8
MAX_NAME = 255
MAX_VALUE = 65536
# All of one entity's properties together, as stored (JSON): every document that holds the
# entity carries them, and a PATCH of its ``properties`` must be able to send them back.
MAX_TOTAL_BYTES = 1024 * 1024

Record = dict[str, Any]


def check_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where}: must be a non-empty string")
    if len(name) > MAX_NAME:
        raise BadRequest(f"{where}: longer than {MAX_NAME} characters")
    found = hidden_character(name)
    if found is not None:
        raise BadRequest(f"{where}: must not contain {found}")
    return name


def check_value(value: Any, where: str) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if not isinstance(value, str):
        raise BadRequest(f"{where}: must be a string")
    if len(value) > MAX_VALUE:
        raise BadRequest(f"{where}: longer than {MAX_VALUE} characters")
    return value


def check_type(type_id: Any, where: str) -> int:
    if isinstance(type_id, bool) or not isinstance(type_id, int) or not 1 <= type_id <= INT32_MAX:
        raise BadRequest(f"{where}: must be an integer from 1 to {INT32_MAX}")
    return type_id


def _entry(item: Any, where: str) -> Record:
    if not isinstance(item, Mapping):
        raise BadRequest(f"{where}: must be an object with name and value")
    unknown = sorted(set(item) - {"id", "name", "value", "type_id", "owner_id", "owner_type"})
    if unknown:
        raise BadRequest(f"{where}.{unknown[0]}: unknown field")
    return {
        "name": check_name(item.get("name"), f"{where}.name"),
        "value": check_value(item.get("value", ""), f"{where}.value"),
        "type_id": check_type(item.get("type_id", INFO), f"{where}.type_id"),
    }


def from_input(sent: Any, where: str = "properties") -> list[Record]:
    """Properties as a client sends them, checked: SAYMON's array of ``{name, value,
    type_id}``, or an object ``{name: value}`` (each an Info property). Without IDs."""
    if isinstance(sent, Mapping):
        entries = [
            {
                "name": check_name(name, f"{where}.{name[:64]}"),
                "value": check_value(value, f"{where}.{name[:64]}"),
                "type_id": INFO,
            }
            for name, value in sent.items()
        ]
    elif isinstance(sent, list):
        entries = [_entry(item, f"{where}.{i}") for i, item in enumerate(sent)]
    else:
        raise BadRequest(f"{where}: must be an array of properties")
    unique_names(entries, where)
    return entries


def check_total(before_bytes: int, after_bytes: int) -> None:
    """400 when a change would make an entity's properties larger than the bound; one that
    does not make them larger is always allowed (so data stored before can be cut down)."""
    if after_bytes > MAX_TOTAL_BYTES and after_bytes > before_bytes:
        raise BadRequest(
            f"properties: together longer than {MAX_TOTAL_BYTES} bytes; remove some first"
        )


def unique_names(records: Iterable[Record], where: str = "properties") -> None:
    seen: set[str] = set()
    for record in records:
        if record["name"] in seen:
            raise BadRequest(f"{where}: duplicate property name {record['name']!r}")
        seen.add(record["name"])


def with_ids(entries: list[Record], current: list[Record]) -> list[Record]:
    """``entries`` as records: a property that keeps its name keeps its ID."""
    ids = {record["name"]: record["id"] for record in current}
    return [{"id": ids.get(e["name"]) or new_id(), **e} for e in entries]


def stored(value: Any) -> list[Record]:
    """The stored form of whatever an older row holds (see the 0004 migration): records."""
    if isinstance(value, list) and all(
        isinstance(r, Mapping) and {"id", "name", "value", "type_id"} <= set(r) for r in value
    ):
        return list(value)
    records: list[Record] = []
    if isinstance(value, Mapping):
        items = [(name, entry, INFO) for name, entry in value.items()]
    else:
        items = _legacy_items(value)
    for name, entry_value, type_id in items:
        name = str(name)
        if name and all(r["name"] != name for r in records):
            records.append({"id": new_id(), "name": name, "value": entry_value, "type_id": type_id})
    return records


def _legacy_items(value: Any) -> list[tuple[Any, Any, int]]:
    found = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, Mapping) and "name" in item:
            type_id = item.get("type_id", INFO)
            good_type = isinstance(type_id, int) and not isinstance(type_id, bool)
            found.append((item["name"], item.get("value", ""), type_id if good_type else INFO))
    return found


def shown(records: list[Record], owner_id: str, owner_type: int) -> list[Record]:
    return [{**record, "owner_id": owner_id, "owner_type": owner_type} for record in records]


def touches_service(before: list[Record], after: list[Record]) -> bool:
    """Whether going from ``before`` to ``after`` adds, changes or removes a Service
    property (which needs manage-service-properties)."""
    old = {r["id"]: r for r in before}
    new = {r["id"]: r for r in after}
    for record_id in old.keys() | new.keys():
        a, b = old.get(record_id), new.get(record_id)
        types = ((a or {}).get("type_id"), (b or {}).get("type_id"))
        if a != b and SERVICE in types:
            return True
    return False


def read_write_changes(before: list[Record], after: list[Record]) -> list[tuple[Record, Any]]:
    """The ReadWrite properties whose value this change sets to something new, each with its
    value before: the event an operation with ``runOnReadWritePropertyModification`` answers
    to (SAYMON, ``models/property``)."""
    old = {r["id"]: r for r in before}
    changed = []
    for record in after:
        previous = old.get(record["id"])
        if (
            record["type_id"] == READ_WRITE
            and previous is not None
            and previous["value"] != record["value"]
        ):
            changed.append((record, previous["value"]))
    return changed
