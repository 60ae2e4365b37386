"""One real server for the remote commands' tests (SQLite; the client's own tests run on
every configured database)."""

from __future__ import annotations

import pytest

from helpers.remote import RemoteServer, remote_server


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> RemoteServer:
    directory = tmp_path_factory.mktemp("remote-cli")
    with remote_server(f"sqlite:///{directory / 'opsjobs.db'}", directory) as running:
        yield running
