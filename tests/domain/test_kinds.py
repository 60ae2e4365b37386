"""The entity kind's three spellings, and row_from_document's check of owner_type."""

from __future__ import annotations

import pytest

from opsjobs.domain.errors import NotFound
from opsjobs.domain.ids import new_id
from opsjobs.domain.jobs import row_from_document
from opsjobs.domain.kinds import EntityKind


def test_each_kind_in_each_spelling():
    assert [(k.value, k.word, k.label) for k in EntityKind] == [
        (1, "object", "Object"),
        (2, "link", "Link"),
    ]
    assert EntityKind.of_word("object") is EntityKind.OBJECT
    assert EntityKind.of_word("link") is EntityKind.LINK
    assert EntityKind(2) is EntityKind.LINK


@pytest.mark.parametrize("word", ["class", "Object", "", "objects", "1"])
def test_no_other_word_is_a_kind(word):
    with pytest.raises(KeyError):
        EntityKind.of_word(word)


def test_the_not_found_message_keeps_its_spelling():
    assert str(NotFound.entity(EntityKind.LINK.label, "x")) == "Entity not found: Link(x)"


def _document(**changes) -> dict:
    return {"id": new_id(), "owner_id": new_id(), "timestamp": 1, **changes}


def test_owner_type_is_an_object_by_default_and_stays_a_plain_int():
    assert row_from_document(_document())["owner_type"] == 1
    row = row_from_document(_document(owner_type=2))
    assert row["owner_type"] == 2 and type(row["owner_type"]) is int


@pytest.mark.parametrize("owner_type", [0, 3, "1", 1.0, True, None])
def test_any_other_owner_type_is_refused(owner_type):
    with pytest.raises(ValueError, match="owner_type: must be 1 or 2"):
        row_from_document(_document(owner_type=owner_type))
