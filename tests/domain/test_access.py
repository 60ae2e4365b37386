"""The entity access rule of docs/api.md §4 (opsjobs.domain.access), on its own.

Examples for each clause, then hypothesis: on random small graphs (multi-parent, cycles,
self-loops) the implementation agrees with a brute-force reading of the rule that walks
every simple path, and it asks for each object's parents at most once.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsjobs.domain.access import link_allowed, object_allowed
from opsjobs.domain.rights import NO_RIGHTS, Rights
from opsjobs.domain.users import Principal


def rights(include: Iterable[str] = (), exclude: Iterable[str] = (), permissions=()) -> Rights:
    return Rights(frozenset(permissions), frozenset(include), frozenset(exclude))


def graph(edges: dict[str, list[str]]):
    """parents_of over a dict; unknown objects have no parents (like the root)."""
    return lambda object_id: edges.get(object_id, ())


# A small tree:   1 ── site ── host ── disk
#                   │        └─ hidden ── below
#                   └─ other ── other_host
#                 multi has two parents: other_host and host
TREE = {
    "site": ["1"],
    "host": ["site"],
    "disk": ["host"],
    "hidden": ["site"],
    "below": ["hidden"],
    "other": ["1"],
    "other_host": ["other"],
    "multi": ["other_host", "host"],
}
PARENTS = graph(TREE)


# -- objects --------------------------------------------------------------------------------


def test_nothing_included_denies_everything():
    for node in ["1", *TREE]:
        assert not object_allowed(node, NO_RIGHTS, PARENTS)


def test_included_object_is_allowed():
    assert object_allowed("host", rights(include=["host"]), PARENTS)


def test_access_is_inherited_from_an_included_ancestor():
    allowed = rights(include=["site"])
    assert object_allowed("site", allowed, PARENTS)
    assert object_allowed("host", allowed, PARENTS)
    assert object_allowed("disk", allowed, PARENTS)
    assert object_allowed("below", allowed, PARENTS)


def test_access_does_not_flow_up_or_sideways():
    allowed = rights(include=["host"])
    assert not object_allowed("site", allowed, PARENTS)
    assert not object_allowed("1", allowed, PARENTS)
    assert not object_allowed("hidden", allowed, PARENTS)
    assert not object_allowed("other_host", allowed, PARENTS)


def test_root_included_allows_every_object():
    allowed = rights(include=["1"])
    assert all(object_allowed(node, allowed, PARENTS) for node in ["1", *TREE])


def test_exclude_beats_include_on_the_same_entity():
    assert not object_allowed("host", rights(include=["host"], exclude=["host"]), PARENTS)


def test_excluded_object_below_an_included_ancestor_is_denied_with_its_subtree():
    allowed = rights(include=["site"], exclude=["hidden"])
    assert not object_allowed("hidden", allowed, PARENTS)
    assert not object_allowed("below", allowed, PARENTS)
    assert object_allowed("host", allowed, PARENTS)


def test_include_below_an_excluded_ancestor_is_allowed():
    # Rule order: E excluded? no. E included? yes -> allowed, whatever its ancestors say.
    allowed = rights(include=["below"], exclude=["hidden"])
    assert object_allowed("below", allowed, PARENTS)
    assert not object_allowed("hidden", allowed, PARENTS)


def test_one_allowed_parent_is_enough_for_a_multi_parent_object():
    assert object_allowed("multi", rights(include=["other"]), PARENTS)
    assert object_allowed("multi", rights(include=["site"]), PARENTS)
    # One parent's branch excluded: the other branch still grants access.
    assert object_allowed("multi", rights(include=["1"], exclude=["other"]), PARENTS)
    # Both branches excluded: denied.
    assert not object_allowed("multi", rights(include=["1"], exclude=["other", "host"]), PARENTS)


def test_excluded_multi_parent_object_is_denied_whatever_its_parents():
    assert not object_allowed("multi", rights(include=["1", "site"], exclude=["multi"]), PARENTS)


@pytest.mark.timeout(5)
def test_cycles_terminate():
    cyclic = graph({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d"], "e": ["a", "site"]})
    assert not object_allowed("a", rights(include=["x"]), cyclic)
    assert not object_allowed("d", rights(include=["x"]), cyclic)
    assert object_allowed("a", rights(include=["c"]), cyclic)
    assert object_allowed("e", rights(include=["site"]), cyclic)
    assert not object_allowed("e", rights(include=["c"], exclude=["a"]), cyclic)


# -- links ----------------------------------------------------------------------------------


def test_link_needs_both_ends():
    allowed = rights(include=["site"], exclude=["hidden"])
    assert link_allowed("L", ("host", "disk"), allowed, PARENTS)
    assert not link_allowed("L", ("host", "other_host"), allowed, PARENTS)
    assert not link_allowed("L", ("other_host", "host"), allowed, PARENTS)
    assert not link_allowed("L", ("host", "hidden"), allowed, PARENTS)


def test_included_link_is_allowed_whatever_its_ends():
    assert link_allowed("L", ("other", "hidden"), rights(include=["L"]), PARENTS)


def test_excluded_link_is_denied_even_with_both_ends_allowed():
    assert not link_allowed("L", ("host", "disk"), rights(include=["1"], exclude=["L"]), PARENTS)
    assert not link_allowed("L", ("host", "disk"), rights(include=["L"], exclude=["L"]), PARENTS)


# -- rights and principals ------------------------------------------------------------------


def test_rights_union_is_the_union_of_every_part():
    own = rights(include=["a"], exclude=["x"], permissions=["modify-objects"])
    group = rights(include=["b"], exclude=["y"], permissions=["manage-links"])
    union = Rights.union([own, group])
    assert union.include == {"a", "b"}
    assert union.exclude == {"x", "y"}
    assert union.permissions == {"modify-objects", "manage-links"}
    assert union.has_any("manage-links", "nothing")
    assert not union.has_any("manage-users")


def test_group_exclude_beats_own_include():
    union = Rights.union([rights(include=["host"]), rights(exclude=["host"])])
    assert not object_allowed("host", union, PARENTS)


def test_principal_may_log_in_until_active_to_and_unless_blocked():
    def principal(status: int, active_to: int | None) -> Principal:
        return Principal("u", "u", "hash", status, active_to, NO_RIGHTS)

    assert principal(1, None).may_log_in(10**13)
    assert principal(1, 1000).may_log_in(1000)
    assert not principal(1, 1000).may_log_in(1001)
    assert not principal(3, None).may_log_in(0)


# -- against a brute-force reference --------------------------------------------------------


def reference_object_allowed(
    object_id: str, include: set, exclude: set, edges: dict[str, list[str]], path=frozenset()
) -> bool:
    """The rule read literally, recursing over every simple path (exponential, fine here)."""
    if object_id in exclude:
        return False
    if object_id in include:
        return True
    return any(
        reference_object_allowed(p, include, exclude, edges, path | {object_id})
        for p in edges.get(object_id, ())
        if p not in path and p != object_id
    )


def reference_fixpoint(include: set, exclude: set, edges: dict[str, list[str]], nodes) -> dict:
    """A second reference: the least fixed point of the rule, by iteration to stability."""
    allowed = dict.fromkeys(nodes, False)
    changed = True
    while changed:
        changed = False
        for node in nodes:
            value = node not in exclude and (
                node in include or any(allowed.get(p, False) for p in edges.get(node, ()))
            )
            if value != allowed[node]:
                allowed[node] = value
                changed = True
    return allowed


NODES = ["1", "a", "b", "c", "d", "e", "f"]
LINKS = ["L1", "L2", "L3"]


@st.composite
def worlds(draw):
    nodes = NODES[: draw(st.integers(2, len(NODES)))]
    edges: dict[str, list[str]] = {}
    for node in nodes[1:]:  # the root "1" has no parent
        # Any other node may be a parent, self-loops included: cycles must not matter.
        edges[node] = draw(st.lists(st.sampled_from(nodes), max_size=3, unique=True))
    links = {
        link: (draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes)))
        for link in LINKS[: draw(st.integers(0, len(LINKS)))]
    }
    universe = nodes + list(links)
    include = draw(st.sets(st.sampled_from(universe), max_size=4))
    exclude = draw(st.sets(st.sampled_from(universe), max_size=3))
    return nodes, edges, links, include, exclude


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_objects_agree_with_brute_force(world):
    nodes, edges, _links, include, exclude = world
    granted = rights(include, exclude)
    fixpoint = reference_fixpoint(include, exclude, edges, nodes)
    for node in nodes:
        expected = reference_object_allowed(node, include, exclude, edges)
        assert fixpoint[node] == expected  # the two readings of the rule agree
        assert object_allowed(node, granted, graph(edges)) == expected, (node, world)


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_links_agree_with_brute_force(world):
    nodes, edges, links, include, exclude = world
    granted = rights(include, exclude)
    for link, (source, target) in links.items():
        if link in exclude:
            expected = False
        elif link in include:
            expected = True
        else:
            expected = reference_object_allowed(
                source, include, exclude, edges
            ) and reference_object_allowed(target, include, exclude, edges)
        assert link_allowed(link, (source, target), granted, graph(edges)) == expected


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_each_objects_parents_are_read_at_most_once(world):
    nodes, edges, _links, include, exclude = world
    calls: dict[str, int] = {}

    def counting(object_id: str):
        calls[object_id] = calls.get(object_id, 0) + 1
        return edges.get(object_id, ())

    for node in nodes:
        calls.clear()
        object_allowed(node, rights(include, exclude), counting)
        assert all(count == 1 for count in calls.values()), calls
        assert len(calls) <= len(nodes)


@settings(max_examples=200, deadline=None)
@given(worlds(), st.sampled_from(NODES))
def test_adding_an_include_never_removes_access(world, extra):
    # Monotonicity: more include can only grant; more exclude can only deny.
    nodes, edges, _links, include, exclude = world
    before = {n: object_allowed(n, rights(include, exclude), graph(edges)) for n in nodes}
    more_include = {
        n: object_allowed(n, rights(include | {extra}, exclude), graph(edges)) for n in nodes
    }
    more_exclude = {
        n: object_allowed(n, rights(include, exclude | {extra}), graph(edges)) for n in nodes
    }
    for node in nodes:
        assert before[node] <= more_include[node]
        assert more_exclude[node] <= before[node]
