"""The entity access rule (API.md §3), as pure functions over an entity graph.

Access to an entity E, in this order: E excluded -> denied; E included -> allowed; an object
is allowed when at least one parent is; a link when both its ends are. Cycles in the parent
graph never loop: a parent already on the path contributes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .rights import Rights

ParentsOf = Callable[[str], Iterable[str]]
LinkEnds = Callable[[str], "tuple[str, str] | None"]


def object_allowed(object_id: str, rights: Rights, parents_of: ParentsOf) -> bool:
    # Allowed exactly when some chain object -> parent -> ... reaches an included entity
    # without passing an excluded one: a reachability search, linear in the graph and
    # indifferent to cycles.
    include, exclude = rights.include, rights.exclude
    if not include:
        return False
    seen = {object_id}
    frontier = [object_id]
    while frontier:
        node = frontier.pop()
        if node in exclude:
            continue
        if node in include:
            return True
        for parent in parents_of(node):
            if parent not in seen:
                seen.add(parent)
                frontier.append(parent)
    return False


def link_allowed(
    link_id: str, ends: tuple[str, str], rights: Rights, parents_of: ParentsOf
) -> bool:
    if link_id in rights.exclude:
        return False
    if link_id in rights.include:
        return True
    source, target = ends
    return object_allowed(source, rights, parents_of) and object_allowed(target, rights, parents_of)
