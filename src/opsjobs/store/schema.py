"""The tables. JSON-valued columns hold JSON text, so a row can be sent without re-encoding."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

ID = String(24)
# A job any runner may take: one without a tag. The claims of store/queue_sqlite.py and
# store/queue_pg.py write this same text, so that the database sees that the partial index
# below (ix_jobs_queue_untagged) answers their condition.
UNTAGGED = "(runner_tag IS NULL OR runner_tag = '')"
UNTAGGED_QUEUED = f"status = 'queued' AND {UNTAGGED}"

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("login", String(255), nullable=False, unique=True),
    Column("name", String(255), nullable=False, server_default=""),
    Column("email", String(255), nullable=False, server_default=""),
    Column("password_hash", Text, nullable=False),
    Column("status", Integer, nullable=False, server_default="1"),
    Column("active_to", BigInteger),
    Column("permissions", Text, nullable=False, server_default="[]"),
    Column("include", Text, nullable=False, server_default="[]"),
    Column("exclude", Text, nullable=False, server_default="[]"),
    Column("group_ids", Text, nullable=False, server_default="[]"),
    Column("token_hash", String(64), unique=True),
    # The token itself, as SAYMON clients read it back from ``authenticationToken``
    # (docs/security.md, "API tokens"); NULL for a token issued before it was kept.
    Column("token", String(64)),
    # NULL: the display name made from the login (domain/profile.py).
    Column("display_name", String(255)),
    Column("contacts", Text, nullable=False, server_default="[]"),
    Column("language", String(35)),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("permissions", Text, nullable=False, server_default="[]"),
    Column("include", Text, nullable=False, server_default="[]"),
    Column("exclude", Text, nullable=False, server_default="[]"),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    # The SHA-256 of the session ID: a copy of the table does not log anyone in.
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    # The SHA-256 of the session's CSRF token (cookie ``csrf``); NULL for a session opened
    # before sessions had one, which can then only read (docs/security.md, "CSRF").
    Column("csrf_hash", String(64)),
)

classes = Table(
    "classes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    # The class's state triggers, as JSON text (domain/triggers.py), inherited by its
    # objects and links; NULL for none.
    Column("triggers", Text),
)

objects = Table(
    "objects",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("class_id", ID),
    Column("state_id", Integer, nullable=False, server_default="1"),
    Column("last_state_update", BigInteger),
    # Property records, as JSON text (domain/properties.py): read with the entity, as the
    # execute path does in one indexed read.
    Column("properties", Text, nullable=False, server_default="[]"),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    # SAYMON's further fields (docs/api.md §11); never read into the directory.
    Column("discovery_id", String(255)),
    Column("owner_id", ID),
    Column("client_data", Text),
    Column("background", Text),
    Column("geoposition", Text, nullable=False, server_default="[]"),
    Column("geoposition_radius", BigInteger),
    Column("manual_state", Text),
    Column("object_groups", Text, nullable=False, server_default="[]"),
    Column("weight", Integer, nullable=False, server_default="1"),
    Column("tags", Text, nullable=False, server_default="[]"),
    Index("ux_objects_discovery", "discovery_id", unique=True),
)

object_parents = Table(
    "object_parents",
    metadata,
    Column("object_id", ID, ForeignKey("objects.id", ondelete="CASCADE"), primary_key=True),
    Column("parent_id", ID, primary_key=True),
    Column("position", Integer, nullable=False, server_default="0"),
    Index("ix_object_parents_parent", "parent_id"),
)

links = Table(
    "links",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("source", ID, nullable=False),
    Column("target", ID, nullable=False),
    Column("class_id", ID),
    Column("state_id", Integer, nullable=False, server_default="1"),
    Column("last_state_update", BigInteger),
    Column("properties", Text, nullable=False, server_default="[]"),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("owner_id", ID),
    Column("client_data", Text),
    Column("manual_state", Text),
    Column("weight", Integer, nullable=False, server_default="1"),
    Column("tags", Text, nullable=False, server_default="[]"),
    Index("ix_links_source", "source"),
    Index("ix_links_target", "target"),
)

operations = Table(
    "operations",
    metadata,
    Column("id", ID, primary_key=True),
    # "object", "link" or "class"
    Column("owner_kind", String(8), nullable=False),
    Column("owner_id", ID, nullable=False),
    Column("name", Text, nullable=False),
    Column("type", Integer, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("parameters", Text, nullable=False, server_default="{}"),
    Column("popup_result", Boolean, nullable=False, server_default="0"),
    Column("run_on_rw_modification", Boolean, nullable=False, server_default="0"),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Index("ix_operations_owner", "owner_id"),
)

tags = Table(
    "tags",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)

property_changes = Table(
    "property_changes",
    metadata,
    # One row per change of a ReadWrite property's value (store/properties.py): what the
    # operations with runOnReadWritePropertyModification answer to.
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, nullable=False),
    Column("owner_type", Integer, nullable=False),
    Column("property_id", ID, nullable=False),
    Column("name", Text, nullable=False),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("user_id", ID),
    Column("at", BigInteger, nullable=False),
    Index("ix_property_changes_at", "at"),
)

scripts = Table(
    "scripts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
)

state_triggers = Table(
    "state_triggers",
    metadata,
    Column("owner_id", ID, primary_key=True),
    Column("owner_type", Integer, nullable=False),
    Column("triggers", Text, nullable=False, server_default="[]"),
    Column("updated", BigInteger, nullable=False),
)

state_history = Table(
    "state_history",
    metadata,
    # One row per change of an object's or a link's state_id (store/states.py).
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, nullable=False),
    Column("owner_type", Integer, nullable=False),
    Column("state_id", Integer, nullable=False),
    Column("prev_state_id", Integer),
    Column("timestamp", BigInteger, nullable=False),
    # Who changed it (NULL: no person), and the job whose outcome set it, if one did.
    Column("user_id", ID),
    Column("job_id", ID),
    Index("ix_state_history_time", "timestamp"),
    Index("ix_state_history_owner_time", "owner_id", "timestamp"),
)

trigger_firings = Table(
    "trigger_firings",
    metadata,
    # A firing that is due at due_at: made in the transaction of the state change (or of the
    # ReadWrite property change) that starts it, and consumed in the transaction that acts
    # on it, so that it happens once (service/firing.py). Only the due time is scanned.
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, nullable=False),
    Column("owner_type", Integer, nullable=False),
    # "state" (a state trigger) or "property" (a ReadWrite property's operation).
    Column("cause", String(8), nullable=False),
    # Where the trigger is defined: "object", "link" or "class", and its position there.
    Column("source", String(8), nullable=False),
    Column("source_id", ID, nullable=False),
    Column("trigger_index", Integer, nullable=False),
    # The trigger as it was when the change happened (JSON text): what fires is what was
    # set then, even if the triggers change before it is due.
    Column("trigger", Text, nullable=False),
    Column("change_id", ID),
    Column("state_id", Integer),
    Column("prev_state_id", Integer),
    Column("entered_at", BigInteger, nullable=False),
    Column("due_at", BigInteger, nullable=False),
    Column("period_ms", BigInteger),
    Column("fired", Integer, nullable=False, server_default="0"),
    # What the action needs besides the trigger (JSON text): a property change's values.
    Column("context", Text),
    Index("ix_trigger_firings_due", "due_at"),
    Index("ix_trigger_firings_owner", "owner_id"),
)

trigger_deliveries = Table(
    "trigger_deliveries",
    metadata,
    # One row per time a trigger acted: the job it queued, or the message it sent (or could
    # not send), with the outcome.
    Column("id", ID, primary_key=True),
    Column("firing_id", ID, nullable=False),
    Column("owner_id", ID, nullable=False),
    Column("owner_type", Integer, nullable=False),
    Column("cause", String(8), nullable=False),
    Column("change_id", ID),
    Column("type", String(16), nullable=False),
    Column("recipient", Text),
    # queued (a job), pending, sending, delivered, failed, not-delivered
    Column("status", String(16), nullable=False),
    Column("job_id", ID),
    Column("detail", Text),
    Column("due_at", BigInteger, nullable=False),
    Column("fired_at", BigInteger, nullable=False),
    Column("late", Boolean, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # While "sending": until when the sender holds it; a sender that died lets it go.
    Column("lease_until", BigInteger),
    Column("finished", BigInteger),
    # Every attempt at a message, one JSON object per line: {"attempt", "at", "outcome",
    # "detail"} (store/outbox.py). NULL until the first attempt ends.
    Column("history", Text),
    Index("ix_trigger_deliveries_owner", "owner_id", "fired_at"),
    Index(
        "ix_trigger_deliveries_open",
        "lease_until",
        sqlite_where=text("status IN ('pending', 'sending')"),
        postgresql_where=text("status IN ('pending', 'sending')"),
    ),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("owner_id", ID, nullable=False),
    Column("owner_type", Integer, nullable=False),
    Column("operation_id", ID),
    # The operation's name when the job was made: history outlives renames and deletions.
    Column("operation_name", Text),
    Column("user_id", ID),
    Column("timestamp", BigInteger, nullable=False),
    Column("process_meta", Text),
    Column("description", Text, nullable=False, server_default="{}"),
    Column("results", Text, nullable=False, server_default="[]"),
    Column("status", String(16), nullable=False, server_default="queued"),
    Column("started", BigInteger),
    Column("finished", BigInteger),
    Column("error", Text),
    Column("truncated", Boolean, nullable=False, server_default="0"),
    Column("runner", Text),
    # What the runner needs to run it (rendered command, topic, timeout), as JSON text.
    Column("spec", Text),
    Column("runner_tag", String(255)),
    # When it was claimed: a job whose runner is not registered is judged by this alone.
    Column("heartbeat", BigInteger),
    Column("idempotency_key", String(255)),
    # What happened to it beyond its status, as a JSON list (NULL when nothing did): marked
    # lost, and then finished by its runner after all (see queue.py).
    Column("history", Text),
    # Claim order (docs/decisions.md, "Batches and fairness"): 0 a person's run, taken
    # first; 1 one started by a trigger, a schedule or a batch.
    Column("priority", Integer, nullable=False, server_default="0"),
    # A history list (one entity's, or many's), newest or oldest first, read in index order:
    # no sort, paging (OFFSET) and the status filter without reading the rows skipped. One
    # entity's history by owner; many entities' by time (store/jobs.py, docs/decisions.md
    # "The web console").
    Index("ix_jobs_owner_order", "owner_id", "owner_type", "timestamp", "id", "status"),
    Index("ix_jobs_time", "owner_type", "timestamp", "id", "owner_id", "status"),
    Index(
        "ix_jobs_queue",
        "priority",
        "timestamp",
        sqlite_where=text("status = 'queued'"),
        postgresql_where=text("status = 'queued'"),
    ),
    # The queue a runner without tags claims from, in exact claim order: the claim's own
    # condition, so no statistics can make the database read and sort the whole queue
    # (docs/decisions.md, "The claim's plan"). ix_jobs_queue serves runners with tags.
    Index(
        "ix_jobs_queue_untagged",
        "priority",
        "timestamp",
        "id",
        sqlite_where=text(UNTAGGED_QUEUED),
        postgresql_where=text(UNTAGGED_QUEUED),
    ),
    Index(
        "ix_jobs_running",
        "heartbeat",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
    # One job per user and key. Only keyed jobs have an entry: most jobs have no key, and
    # the lookup (idempotency_key = ?) never asks for NULL.
    Index(
        "ux_jobs_idempotency",
        "user_id",
        "idempotency_key",
        unique=True,
        sqlite_where=text("idempotency_key IS NOT NULL"),
        postgresql_where=text("idempotency_key IS NOT NULL"),
    ),
    # Retention's per-owner minimum: "are there N newer finished jobs of this object and
    # operation?" reads at most N entries of it (store/retention.py).
    Index("ix_jobs_retention", "owner_id", "operation_id", "timestamp"),
)

runners = Table(
    "runners",
    metadata,
    # The name jobs.runner holds (host/pid); one row per live runner, deleted when it stops.
    Column("name", String(255), primary_key=True),
    # Random per start: tells a runner from an earlier one that had the same pid.
    Column("incarnation", String(32), nullable=False),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started", BigInteger, nullable=False),
    # The runner's own liveness: its jobs are lost only once this is older than the limit.
    Column("heartbeat", BigInteger, nullable=False),
)

job_output = Table(
    "job_output",
    metadata,
    Column("job_id", ID, primary_key=True),
    # 1 stdout, 2 stderr
    Column("stream", Integer, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("offset", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    # Append-only (store/audit.py): rows are inserted, read, and deleted only by retention.
    Column("id", ID, primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("kind", String(255), nullable=False),
    # "ok", "refused" (with the answer's status) or "failed"
    Column("outcome", String(16), nullable=False),
    Column("status", Integer),
    # NULL for an unauthenticated caller (a failed login) or the system itself.
    Column("actor_id", ID),
    Column("actor_login", String(255)),
    Column("address", String(255)),
    Column("target_type", String(32)),
    Column("target_id", String(255)),
    # Small JSON text, never a secret (domain/audit.py cleans it).
    Column("detail", Text),
    Column("request_id", String(255)),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_kind_at", "kind", "at"),
    Index("ix_audit_log_actor_at", "actor_id", "at"),
)

purge_marks = Table(
    "purge_marks",
    metadata,
    # How far a purge step that resumes has gone (store/retention.py): the last job ID it
    # looked at. One row per such step; none until it first runs.
    Column("step", String(32), primary_key=True),
    Column("position", ID, nullable=False),
    Column("updated", BigInteger, nullable=False),
)

revisions = Table(
    "revisions",
    metadata,
    # "directory": users, groups, objects, links. Bumped in the same transaction as the change,
    # so every process can tell its in-memory view is stale.
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

schedules = Table(
    "schedules",
    metadata,
    # An operation run at the times of a cron expression or an interval, as its owner
    # (service/schedules.py). Only next_run_at is scanned (NULL while paused).
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("owner_id", ID, nullable=False),
    Column("target_id", ID, nullable=False),
    Column("target_type", Integer, nullable=False),
    Column("operation_id", ID, nullable=False),
    Column("args", Text, nullable=False, server_default="{}"),
    Column("cron", String(120)),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("interval_s", Integer),
    Column("missed", String(16), nullable=False, server_default="skip"),
    Column("paused", Boolean, nullable=False, server_default="0"),
    Column("next_run_at", BigInteger),
    Column("last_run_at", BigInteger),
    Column("last_job_id", ID),
    Column("stopped_reason", Text),
    # Bumped by every change and every run: a dispatcher acts only on a row still as it read
    # it (store/schedules.py).
    Column("revision", Integer, nullable=False, server_default="0"),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Index("ix_schedules_next_run", "next_run_at"),
    Index("ix_schedules_owner", "owner_id"),
)

batches = Table(
    "batches",
    metadata,
    # One operation run over a set of targets, at most ``concurrency`` jobs at a time
    # (service/batches.py). Only running batches are read by the dispatcher.
    Column("id", ID, primary_key=True),
    Column("name", String(255), nullable=False),
    Column("owner_id", ID, nullable=False),
    Column("operation_id", ID, nullable=False),
    # The target as given ({"subtree": ID}, {"class": ID}, ...), JSON text.
    Column("target", Text, nullable=False),
    Column("args", Text, nullable=False, server_default="{}"),
    Column("concurrency", Integer, nullable=False),
    Column("stop_after_failures", Integer),
    # running, finished, stopped, cancelled
    Column("status", String(16), nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("stopped_reason", Text),
    # Bumped by every step the dispatcher takes and by a cancel: a dispatcher acts only on a
    # batch still as it read it (store/batches.py).
    Column("revision", Integer, nullable=False, server_default="0"),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Index("ix_batches_owner", "owner_id", "created"),
    Index(
        "ix_batches_open",
        "created",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
)

batch_targets = Table(
    "batch_targets",
    metadata,
    # One row per target of a batch the caller could see, in the order they are run.
    Column("batch_id", ID, ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("entity_id", ID, nullable=False),
    Column("owner_type", Integer, nullable=False),
    # waiting (no job yet), active (its job queued or running), skipped (with a reason),
    # not-queued (the batch stopped or was cancelled first), or the job's final status.
    Column("status", String(16), nullable=False),
    Column("job_id", ID),
    Column("reason", Text),
    Index("ix_batch_targets_status", "batch_id", "status", "seq"),
)
