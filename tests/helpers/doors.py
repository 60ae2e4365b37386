"""Both doors: a module that imports ``door`` from here runs each of its tests that uses the
``api`` fixture twice, through the front door (api/front_door.py) and through the whole app,
so that an answer differing by the door it came through fails a test."""

import pytest


@pytest.fixture(params=["front", "full"])
def door(request) -> str:
    return request.param
