"""The kind of an entity (what a job, or an operation run on it, belongs to), spelled once.

A job document carries it as SAYMON's ``owner_type`` number (1 or 2); URLs and the
store's arguments spell it as a word ("object", "link"); error messages name it
capitalised ("Object(…)"). Every conversion between them goes through ``EntityKind``.
"""

from __future__ import annotations

from enum import IntEnum


class EntityKind(IntEnum):
    OBJECT = 1
    LINK = 2

    @property
    def word(self) -> str:
        """As URLs spell it: "object", "link"."""
        return self.name.lower()

    @property
    def label(self) -> str:
        """As error messages name it: "Object", "Link"."""
        return self.name.capitalize()

    @classmethod
    def of_word(cls, word: str) -> EntityKind:
        """The kind that ``word`` ("object" or "link") spells; KeyError for any other."""
        return _BY_WORD[word]


_BY_WORD = {kind.word: kind for kind in EntityKind}
