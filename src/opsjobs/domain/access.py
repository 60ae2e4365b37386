"""The entity access rule (docs/api.md §4), as pure functions over an entity graph.

Access to an entity E, in this order: E excluded -> denied; E included -> allowed; an object
is allowed when at least one parent is; a link when both its ends are. Cycles in the parent
graph never loop: a parent already on the path contributes nothing.

The object tree hangs from the root. An object whose parents do not lead there (a loop left
by data older than the refusal of cycles, or a parent that no longer exists) counts the root
as one more parent (``with_root_for``): whoever sees the whole tree sees it, and can move it
back, instead of nobody at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .ids import ROOT_OBJECT_ID
from .rights import Rights

ParentsOf = Callable[[str], Iterable[str]]


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


def detached(parents: Mapping[str, Iterable[str]], root: str = ROOT_OBJECT_ID) -> frozenset[str]:
    """The objects of ``parents`` (object -> its parents) that no chain of parents leads from
    to ``root``: one pass down from the root, linear in the graph, indifferent to cycles."""
    children: dict[str, list[str]] = {}
    for child, its_parents in parents.items():
        for parent in its_parents:
            children.setdefault(parent, []).append(child)
    reached = {root}
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in reached:
                reached.add(child)
                frontier.append(child)
    return frozenset(parents.keys() - reached)


def with_root_for(
    cut_off: frozenset[str], parents_of: ParentsOf, root: str = ROOT_OBJECT_ID
) -> ParentsOf:
    """``parents_of`` in which each object of ``cut_off`` (see ``detached``) also has the root
    as a parent."""
    if not cut_off:
        return parents_of

    def effective(object_id: str) -> Iterable[str]:
        found = parents_of(object_id)
        return (*found, root) if object_id in cut_off else found

    return effective
