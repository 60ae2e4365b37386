"""A user's profile (domain/profile.py) and the permission names SAYMON defines."""

from __future__ import annotations

import pytest

from opsjobs.domain.errors import BadRequest
from opsjobs.domain.profile import (
    check_display_name,
    check_language,
    default_display_name,
    shown_display_name,
)
from opsjobs.domain.rights import PERMISSIONS, check_permission

# The names SAYMON's permissions page gives beside the ones opsjobs decides on.
SAYMON_NAMES = (
    "manage-configuration",
    "manage-flows",
    "manage-documents",
    "manage-properties",
    "manage-service-properties",
    "run-bulks",
    "update-agents",
    "manage-monitoring",
)


@pytest.mark.parametrize(
    ("login", "shown"),
    [("example.user", "exampl******"), ("sam", "sa*"), ("ab", "a*"), ("a", "a"), ("", "")],
)
def test_the_default_display_name_masks_the_latter_half_of_the_login(login, shown):
    assert default_display_name(login) == shown
    assert shown_display_name(login, None) == shown
    assert shown_display_name(login, "Set by hand") == "Set by hand"


def test_a_display_name_is_refused_when_it_would_show_the_login_or_hide_text():
    assert check_display_name("Ada L.", "ada") == "Ada L."
    for bad, why in [
        ("ada", "must differ from the login"),
        # What reads as the login shows it all the same: case, look-alikes, width.
        ("ADA", "must differ from the login"),
        ("Ada", "must differ from the login"),
        ("\u0430da", "must differ from the login"),  # Cyrillic a
        ("\uff41\uff44\uff41", "must differ from the login"),  # fullwidth
        ("", "must not be empty"),
        ("Ada\u202e", r"U\+202E"),
        ("Ada\nL", r"U\+000A"),
    ]:
        with pytest.raises(BadRequest, match=why):
            check_display_name(bad, "ada")


@pytest.mark.parametrize("tag", ["en", "ru-RU", "zh-Hant-TW", "de-CH-1901"])
def test_language_tags_are_accepted(tag):
    assert check_language(tag) == tag


@pytest.mark.parametrize(
    "tag", ["", "en_US", "en-", "-en", "e n", "en\n", "toolonglanguage", "en-" + "a" * 40]
)
def test_malformed_language_tags_are_refused(tag):
    with pytest.raises(ValueError, match="language tag"):
        check_language(tag)


def test_every_permission_saymon_defines_is_known():
    for name in SAYMON_NAMES:
        assert name in PERMISSIONS
        assert check_permission(name) == name
    assert len(set(PERMISSIONS)) == len(PERMISSIONS)


def test_an_unknown_permission_is_named_with_the_known_ones():
    with pytest.raises(ValueError) as refused:
        check_permission("manage-everything")
    message = str(refused.value)
    assert "'manage-everything'" in message
    assert all(name in message for name in PERMISSIONS)
