"""The directory (who may see what, answered from memory) reads only what access needs from
objects and links: SAYMON's further fields (client_data, tags, properties, …) stay out of
every process's memory and out of every reload (docs/architecture.md, "Properties and the
entity fields")."""

from __future__ import annotations

from opsjobs.store.directory import _QUERIES
from opsjobs.store.schema import links, object_parents, objects


def _columns_read(table) -> set[str]:
    read = set()
    for query in _QUERIES:
        for column in query.selected_columns:
            if getattr(column, "table", None) is table:
                read.add(column.name)
    return read


def test_the_directory_reads_ids_parents_and_link_ends_only():
    assert _columns_read(objects) == {"id"}
    assert _columns_read(links) == {"id", "source", "target"}
    assert _columns_read(object_parents) == {"object_id", "parent_id"}
    # The new columns exist, so the check above is about something.
    assert {"client_data", "tags", "discovery_id"} <= set(objects.c.keys())
