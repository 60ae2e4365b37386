"""The suite's own check for secrets (log_secrets.py) searches the audit log too: a secret
planted in a row is found."""

from __future__ import annotations

import asyncio
from pathlib import Path

import log_secrets
from opsjobs.domain.audit import AuditEntry
from opsjobs.store.audit import append
from opsjobs.store.core import Store


def test_a_secret_planted_in_an_audit_row_is_found(database_url) -> None:
    planted = "planted-secret-4a7d9"
    clean = "another-secret-0b1c2"

    async def plant() -> None:
        store = Store(database_url)
        await store.open()
        try:
            # Under a key the row's cleaning does not know as a secret's: only the search
            # of the suite can catch it.
            await append(store, [AuditEntry("user.update", detail={"note": planted})])
        finally:
            await store.close()

    asyncio.run(plant())
    path = Path(database_url.split(":///", 1)[1])
    # Searched with secrets of this test's own, so that the session's search (which reads
    # this database too) does not fail on what was planted on purpose.
    found = log_secrets.audit_findings(path, {planted: "planted password"})
    assert found == [f"{path} audit_log: line 1: planted password"]
    assert log_secrets.audit_findings(path, {clean: "unused password"}) == []
    assert path in log_secrets._databases
