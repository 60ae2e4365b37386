"""PostgreSQL's LISTEN/NOTIFY channels, and the one way a change announces itself on them.

A NOTIFY goes inside the changing transaction: PostgreSQL delivers it only if and when that
commits, so a listener (listen.py) never looks before the change is there to see. SQLite
has no such thing: its processes poll, and this process is woken by its own signals.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

# Users, rights or the object graph changed (payload: the revision's name): reload.
DIRECTORY_CHANNEL = "opsjobs_directory"
# A job was queued: runners claim at once rather than at their next poll.
QUEUED_CHANNEL = "opsjobs_queued"
# A running job is to be cancelled (payload: its ID): its runner stops it.
CANCEL_CHANNEL = "opsjobs_cancel"
# A trigger firing, schedule run or batch is due: dispatchers look now, not at their next look.
FIRINGS_CHANNEL = "opsjobs_firings"
# Output was stored (payload: the job's ID): the streams following that job read it.
OUTPUT_CHANNEL = "opsjobs_output"


async def notify(conn: AsyncConnection, channel: str, payload: str = "") -> None:
    """Announce on ``channel`` when ``conn``'s transaction commits; nothing on SQLite."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_notify(channel, payload)))
