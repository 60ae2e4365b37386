"""One real server per test module, on each configured database."""

from __future__ import annotations

import asyncio

import pytest

from conftest import _reset_pg
from helpers.remote import RemoteServer, remote_server


@pytest.fixture(scope="module")
def server(backend, request, tmp_path_factory) -> RemoteServer:
    directory = tmp_path_factory.mktemp("remote")
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'opsjobs.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        asyncio.run(_reset_pg(url))
    with remote_server(url, directory) as running:
        yield running
