"""A user's profile as SAYMON keeps it: display name, contacts, language; and its bounds.

SAYMON shows other users a user's ``displayName`` instead of its login. When none is given it
is made from the login: the first half kept, the rest masked with ``*`` ("example.user" is
"exampl******"); a display name that reads as the login (equal, or equal but for case or
look-alike characters) would defeat that, so it is refused.
"""

from __future__ import annotations

import re

from .errors import BadRequest
from .names import check_name, look_alike

# Bounds (docs/security.md, "Malformed input"): each fits the column it is stored in.
NAME_MAX = 255
CONTACTS_MAX = 100
# RFC 5646 asks implementations to support language tags of at least 35 characters.
LANGUAGE_MAX = 35
_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")


def default_display_name(login: str) -> str:
    kept = len(login) - len(login) // 2
    return login[:kept] + "*" * (len(login) - kept)


def shown_display_name(login: str, stored: str | None) -> str:
    """The display name a user document shows: the one set, else the one made from the login."""
    return stored if stored is not None else default_display_name(login)


def check_display_name(name: str, login: str) -> str:
    check_name(name, "displayName")
    if not name:
        raise BadRequest("displayName must not be empty")
    # Shown to every user in place of the login: one that reads as the login (its case
    # changed, a look-alike letter) would show it all the same.
    if name == login or look_alike(name, [login]) is not None:
        raise BadRequest("displayName must differ from the login, also in case and look-alikes")
    return name


def check_language(tag: str) -> str:
    """A BCP 47 language tag in its plain form (``en``, ``ru-RU``, ``zh-Hant-TW``)."""
    if len(tag) > LANGUAGE_MAX or _LANGUAGE.fullmatch(tag) is None:
        raise ValueError("must be a language tag such as 'en' or 'ru-RU'")
    return tag
