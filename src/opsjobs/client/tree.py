"""The object tree from the flat list ``GET /objects`` answers (docs/api.md §11).

An object may have several parents, and shows under each one the caller may see; an object
none of whose parents is visible is a root. Built without recursion and with a bound on the
nodes made, so that no answer (a very deep tree, a loop, many shared parents) can exhaust the
stack or memory.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .errors import ProtocolError

MAX_NODES = 1_000_000


def _parents(document: dict[str, Any]) -> list[str]:
    parents = document.get("parent_id")
    if isinstance(parents, str):
        return [parents]
    return [p for p in parents or [] if isinstance(p, str)]


def _by_name(documents: dict[str, dict[str, Any]], ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda i: (str(documents[i].get("name", "")), i))


def build_tree(objects: Any) -> list[dict[str, Any]]:
    """``[{"id", "name", "children": [...]}, ...]``, siblings by name."""
    if not isinstance(objects, list) or not all(
        isinstance(o, dict) and isinstance(o.get("id"), str) for o in objects
    ):
        raise ProtocolError("GET /objects: the answer is not a list of objects")
    documents = {o["id"]: o for o in objects}
    children: dict[str, list[str]] = defaultdict(list)
    roots = []
    for object_id, document in documents.items():
        visible = [p for p in _parents(document) if p in documents and p != object_id]
        for parent in visible:
            children[parent].append(object_id)
        if not visible:
            roots.append(object_id)
    top: list[dict[str, Any]] = []
    # (an object's ID, the list its node goes into, the IDs above it on this path)
    pending = [(i, top, frozenset()) for i in reversed(_by_name(documents, roots))]
    made = 0
    while pending:
        object_id, siblings, above = pending.pop()
        made += 1
        if made > MAX_NODES:
            raise ProtocolError(f"the object tree has more than {MAX_NODES} nodes")
        node = {"id": object_id, "name": documents[object_id].get("name"), "children": []}
        siblings.append(node)
        path = above | {object_id}
        for child in reversed(_by_name(documents, children[object_id])):
            if child not in path:  # a loop the server should never have let in
                pending.append((child, node["children"], path))
    return top
