"""Request bodies (validated strictly) and response shapes (for the OpenAPI document only).

Responses are encoded from plain dicts by orjson; these models describe them, they are never
used to validate our own output on the way out.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from ..domain.names import hidden_character
from ..domain.profile import CONTACTS_MAX, NAME_MAX, check_language
from ..domain.rights import PERMISSIONS, check_permission
from ..domain.triggers import TRIGGERS_MAX, TYPES
from ..domain.values import INT32_MAX, INT64_MAX, INT64_MIN

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


def _shown(text: str) -> str:
    found = hidden_character(text)
    if found is not None:
        raise ValueError(f"must not contain {found}")
    return text


# What people read: no control, format (bidi, zero-width) or separator characters
# (domain/names.py).
Name = Annotated[str, AfterValidator(_shown)]
NonEmptyName = Annotated[str, StringConstraints(min_length=1), AfterValidator(_shown)]
# Bounded as the columns they reach (docs/security.md, "Malformed input"): a count, an offset
# or a millisecond timestamp in a BIGINT; a state in an INTEGER.
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Millis = Annotated[int, Field(ge=0, le=INT64_MAX)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
StateId = Annotated[int, Field(ge=1, le=INT32_MAX)]
# Any permission SAYMON defines (domain/rights.py); another name is a 400 naming it and
# listing the known ones.
Permission = Annotated[
    str,
    AfterValidator(check_permission),
    Field(json_schema_extra={"enum": list(PERMISSIONS)}),
]
# What a user's profile holds (domain/profile.py): bounded as the columns that keep it.
ProfileText = Annotated[str, StringConstraints(max_length=NAME_MAX), AfterValidator(_shown)]
DisplayName = Annotated[
    str, StringConstraints(min_length=1, max_length=NAME_MAX), AfterValidator(_shown)
]
Language = Annotated[str, AfterValidator(check_language)]
Contacts = Annotated[list[ProfileText], Field(max_length=CONTACTS_MAX)]
Login = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX), AfterValidator(_shown)]


class Body(BaseModel):
    # Strict: a number sent as a string is a wrong type, not something to guess at. Unknown
    # fields are ignored, as SAYMON clients may send more than we read.
    model_config = ConfigDict(strict=True, extra="ignore")


class ErrorModel(BaseModel):
    code: str
    message: str


class HistoryEntry(BaseModel):
    at: int = Field(description="ms")
    event: Literal["lost", "finished", "stopped", "output purged"]
    by: str = Field(description="the process that recorded it (host/pid), or `retention`")
    detail: str


class Execution(BaseModel):
    status: Literal["queued", "running", "succeeded", "failed", "timeout", "cancelled", "lost"]
    started: int | None
    finished: int | None
    error: str | None
    truncated: bool
    runner: str | None
    history: list[HistoryEntry] | None = Field(
        default=None,
        description="Present only when something happened to the job beyond its status: "
        "it was marked `lost`, then its result arrived after all (see docs/security.md).",
    )


class ResultEntry(BaseModel):
    payload: dict[str, Any]
    by: str
    timestamp: int


class JobModel(BaseModel):
    id: str = Field(examples=["5f1150e0786952333e048898"])
    description: dict[str, Any] = Field(
        description="Script: stdout, exitCode, stderr. MQTT: topic, message. {} until finished."
    )
    operation_id: str | None
    owner_id: str
    owner_type: Literal[1, 2] = Field(description="1 object, 2 link")
    user_id: str | None
    process_meta: dict[str, Any] | None
    timestamp: int
    results: list[ResultEntry]
    execution: Execution


class OperationName(BaseModel):
    name: str | None


class HistoryJobModel(JobModel):
    operation: OperationName


JobStatusName = Literal["queued", "running", "succeeded", "failed", "timeout", "cancelled", "lost"]


class JobsQuery(Body):
    objects: list[NonEmpty] | None = Field(default=None, min_length=1)
    links: list[NonEmpty] | None = Field(default=None, min_length=1)
    from_: Millis | None = Field(default=None, alias="from")
    to: Millis | None = None
    limit: Count | None = None
    skip: Count = 0
    order: Literal["asc", "desc"] = "asc"
    status: JobStatusName | None = None
    operation_id: str | None = None
    user_id: str | None = None


class ObjectPermissions(Body):
    include: list[NonEmpty] = []
    exclude: list[NonEmpty] = []


class UserBody(Body):
    # A user field opsjobs does not keep is a 400 naming it, never silently dropped.
    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="after")
    def _one_group_list(self):
        # SAYMON spells the user's group IDs `group`; opsjobs `groups`. Either is taken.
        group = getattr(self, "group", None)
        if group is not None:
            if (
                self.groups is not None
                and self.groups != group
                and "groups" in self.model_fields_set
            ):
                raise ValueError("group and groups name different groups; send one of them")
            self.groups = group
        return self


class UserCreate(UserBody):
    login: Login
    password: NonEmpty
    displayName: DisplayName | None = None
    name: ProfileText = ""
    email: ProfileText = ""
    status: Literal[1, 3] = 1
    activeTo: Int64 | None = None
    permissions: list[Permission] = []
    objectPermissions: ObjectPermissions = ObjectPermissions()
    groups: list[NonEmpty] = []
    group: list[NonEmpty] | None = Field(default=None, description="SAYMON's name of groups")
    contacts: Contacts = []
    language: Language | None = None


class UserUpdate(UserBody):
    login: Login | None = None
    password: NonEmpty | None = None
    displayName: DisplayName | None = Field(
        default=None, description="null: the display name made from the login again"
    )
    name: ProfileText | None = None
    email: ProfileText | None = None
    status: Literal[1, 3] | None = None
    activeTo: Int64 | None = None
    permissions: list[Permission] | None = None
    objectPermissions: ObjectPermissions | None = None
    groups: list[NonEmpty] | None = None
    group: list[NonEmpty] | None = Field(default=None, description="SAYMON's name of groups")
    contacts: Contacts | None = None
    language: Language | None = Field(default=None, description="null: none")


class UserModel(BaseModel):
    id: str
    login: str
    displayName: str = Field(description="the login half masked with * unless set")
    name: str
    email: str
    status: int
    activeTo: int | None
    authenticationToken: str | None = Field(
        description="the API token; shown to the user itself and to manage-users only"
    )
    permissions: list[str]
    objectPermissions: dict[str, list[str]]
    groups: list[str]
    group: list[str] = Field(description="SAYMON's name of groups: the same IDs")
    contacts: list[str]
    language: str | None
    created: int
    updated: int


class PublicUserModel(BaseModel):
    id: str
    login: str = Field(description="the display name, in place of the login")


class GroupCreate(Body):
    name: NonEmptyName
    permissions: list[Permission] = []
    objectPermissions: ObjectPermissions = ObjectPermissions()


class GroupModel(BaseModel):
    id: str
    name: str
    permissions: list[str]
    objectPermissions: dict[str, list[str]]
    created: int
    updated: int


class Credentials(Body):
    """A log-in: a login and password, or an API token (SAYMON,
    methods/authentication/session-id/create-new-session)."""

    login: NonEmpty | None = None
    password: str | None = None
    auth_token: NonEmpty | None = Field(default=None, alias="auth-token")


# -- objects and links (docs/api.md §11) ----------------------------------------------------


def _lon_lat(value: list[float]) -> list[float]:
    if len(value) not in (0, 2):
        raise ValueError("must be [] or [longitude, latitude]")
    if value and not -90 <= value[1] <= 90:
        raise ValueError("latitude must be from -90 to 90")
    return value


ClassRef = (
    Annotated[int, Field(ge=1, le=INT32_MAX)]
    | Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,24}$")]
)
EntityRef = Annotated[str, StringConstraints(min_length=1, max_length=24)]
DiscoveryId = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_shown)
]
Geoposition = Annotated[list[Annotated[float, Field(ge=-180, le=180)]], AfterValidator(_lon_lat)]
Weight = Annotated[int, Field(ge=-INT32_MAX - 1, le=INT32_MAX)]
Radius = Annotated[int, Field(ge=0, le=INT64_MAX)]
ClientData = str | dict[str, Any] | list[Any]
PropertiesIn = list[Any] | dict[str, Any]


class EntityBody(Body):
    # A field that is not a documented one is refused by name, never dropped silently; a
    # field only the server sets (child_ids, created, …) is refused as read-only
    # (api/errors.py).
    model_config = ConfigDict(strict=True, extra="forbid")


class ObjectSettable(EntityBody):
    """What a client may set on an object besides its name, parents and class."""

    properties: PropertiesIn | None = None
    discovery_id: DiscoveryId | None = None
    owner_id: EntityRef | None = None
    client_data: ClientData | None = None
    background: Annotated[str, StringConstraints(max_length=4096)] | None = None
    geoposition: Geoposition | None = None
    geopositionRadius: Radius | None = None
    manual_state: dict[str, Any] | None = None
    object_groups: list[EntityRef] | None = None
    weight: Weight | None = None
    tags: list[EntityRef] | None = None


class ObjectCreate(ObjectSettable):
    name: NonEmptyName
    parent_id: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1)] | None = None
    class_id: ClassRef | None = None
    state_id: StateId | None = None
    operations: list[OperationCreate] = Field(
        default=[], description="the object's own operations (needs manage-operations too)"
    )


class ObjectUpdate(ObjectSettable):
    name: NonEmptyName | None = None
    parent_id: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1)] | None = None
    class_id: ClassRef | None = None
    state_id: StateId | None = None


class LinkSettable(EntityBody):
    properties: PropertiesIn | None = None
    owner_id: EntityRef | None = None
    client_data: ClientData | None = None
    manual_state: dict[str, Any] | None = None
    weight: Weight | None = None
    tags: list[EntityRef] | None = None


class LinkCreate(LinkSettable):
    source: NonEmpty
    target: NonEmpty
    name: Name = ""
    class_id: ClassRef | None = None
    state_id: StateId | None = None
    operations: list[OperationCreate] = Field(
        default=[], description="the link's own operations (needs manage-operations too)"
    )


class LinkUpdate(LinkSettable):
    name: Name | None = None
    class_id: ClassRef | None = None
    state_id: StateId | None = None


class PropertyModel(BaseModel):
    id: str
    name: str
    value: Any
    type_id: int
    owner_id: str
    owner_type: Literal[1, 2] = Field(description="1 object, 2 link")


PropertyValue = str | int | float | bool | None
TypeId = Annotated[int, Field(ge=1, le=INT32_MAX)]


class PropertyCreate(EntityBody):
    name: NonEmptyName
    value: PropertyValue = ""
    type_id: TypeId = 1


class PropertyUpdate(EntityBody):
    name: NonEmptyName | None = None
    value: PropertyValue = None
    type_id: TypeId | None = None


class TagCreate(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_shown)]


class AlertResultModel(BaseModel):
    """What became of one alert of an Alertmanager payload (docs/api.md, "Alerts that set
    states")."""

    fingerprint: str | None
    entity: str | None
    state: int | None
    outcome: Literal["changed", "unchanged", "unknown-entity", "refused", "malformed"]
    reason: str | None = None


class TagModel(BaseModel):
    id: str
    name: str
    created: int
    updated: int


class OperationModel(BaseModel):
    id: str
    name: str
    type: int
    description: str
    parameters: dict[str, Any]
    popupResult: bool
    runOnReadWritePropertyModification: bool


class OperationSummary(BaseModel):
    """What a caller without manage-operations sees of an operation."""

    id: str
    name: str
    description: str


class ObjectModel(BaseModel):
    # In the order of SAYMON's create answer (docs/api.md §11).
    name: str
    owner_id: str | None
    object_groups: list[str]
    geoposition: list[float]
    child_ref_ids: list[str]
    child_link_ids: list[str]
    child_ids: list[str]
    parent_id: list[str]
    weight: int
    tags: list[str]
    last_state_update: int | None
    updated: int
    created: int
    id: str
    class_id: str | None
    state_id: int
    discovery_id: str | None
    client_data: ClientData | None
    background: str | None
    geopositionRadius: int | None
    manual_state: dict[str, Any] | None
    properties: list[PropertyModel]
    operations: list[OperationModel | OperationSummary]


class LinkModel(BaseModel):
    id: str
    name: str
    source: str
    target: str
    source_name: str | None
    target_name: str | None
    class_id: str | None
    state_id: int
    last_state_update: int | None
    owner_id: str | None
    weight: int
    tags: list[str]
    client_data: ClientData | None
    manual_state: dict[str, Any] | None
    properties: list[PropertyModel]
    operations: list[OperationModel | OperationSummary]
    created: int
    updated: int


# -- states, state history, state triggers (docs/api.md §18) -------------------------------


class StateBody(EntityBody):
    state_id: StateId


class Periodicity(BaseModel):
    value: str = Field(description="a positive whole number, as a string")
    unit: Literal["minutes", "hours", "days"]


class TriggerModel(BaseModel):
    """A state trigger as stored: checked and normalised by domain/triggers.py."""

    type: Literal[TYPES]  # type: ignore[valid-type]
    states: list[int]
    payload: dict[str, Any] = Field(
        description="operation: operation. script: execPath, execArgs. e-mail: to, cc. "
        "sms, voiceCall: phone."
    )
    duration: int | None = Field(default=None, description="ms the state must hold first")
    periodicity: Periodicity | None = None


# Triggers as a client sends them: read as any JSON and checked by domain/triggers.py, so
# that a refusal names the trigger and field at fault (``triggers[0].states[1]: …``).
TriggersIn = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "array",
            "maxItems": TRIGGERS_MAX,
            "items": {"type": "object"},
            "description": "state triggers (docs/api.md §18)",
        }
    ),
]


class HistoryReason(BaseModel):
    by: str | None = Field(description="the user who set the state, or null")
    job: str | None = Field(description="the job whose outcome set it, or null")


class StateHistoryModel(BaseModel):
    id: str
    entityId: str
    entityType: Literal[1, 2] = Field(description="1 object, 2 link")
    stateId: int
    prevStateId: int | None = Field(description="the state before; null for the first")
    timestamp: int
    reason: HistoryReason


class DeliveryModel(BaseModel):
    id: str
    firingId: str
    cause: str = Field(description="state (a state trigger) or property")
    changeId: str | None
    type: str
    recipient: str | None
    status: str
    jobId: str | None
    detail: str | None
    dueAt: int
    firedAt: int
    late: bool
    attempts: int
    finished: int | None
    history: list[dict[str, Any]] = Field(
        description='each attempt at a message as it ended: {"attempt", "at", "outcome", "detail"}'
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorModel} for status in statuses}


# -- operations, classes, scripts -----------------------------------------------------------

OperationType = Annotated[int, Field(ge=1, le=2, description="1 MQTT, 2 program or script")]


class OperationCreate(Body):
    name: NonEmptyName
    type: OperationType
    description: str | None = ""
    parameters: dict[str, Any] = Field(
        description="type 1: topic, message. type 2: type (fileSystem: path, args; scriptText: "
        "text; scriptReference: ref). ext: timeout (s), runner (tag)."
    )
    popupResult: bool = False
    runOnReadWritePropertyModification: bool = False


class OperationUpdate(Body):
    name: NonEmptyName | None = None
    type: OperationType | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = Field(
        default=None, description="merged into the current ones; a key sent as null is removed"
    )
    popupResult: bool | None = None
    runOnReadWritePropertyModification: bool | None = None


class ClassCreate(Body):
    id: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z_-]{1,24}$")] | None = None
    name: NonEmptyName
    operations: list[OperationCreate] = []
    triggers: TriggersIn | None = None


class ClassUpdate(Body):
    name: NonEmptyName | None = None
    triggers: TriggersIn | None = Field(
        default=None, description="replaces the class's state triggers; [] removes them"
    )


class ClassModel(BaseModel):
    id: str
    name: str
    operations: list[OperationModel | OperationSummary]
    triggers: list[TriggerModel]
    created: int
    updated: int


class ScriptCreate(Body):
    name: NonEmptyName
    text: NonEmpty


class ScriptUpdate(Body):
    name: NonEmptyName | None = None
    text: NonEmpty | None = None


class ScriptModel(BaseModel):
    id: str
    name: str
    text: str
    created: int
    updated: int


# -- the audit log ----------------------------------------------------------------------------

AUDIT_PAGE_MAX = 1000


class AuditRowModel(BaseModel):
    id: str
    at: int = Field(description="ms")
    kind: str = Field(examples=["auth.login_failed", "job.execute", "user.update"])
    outcome: Literal["ok", "refused", "failed"]
    status: int | None = Field(description="the answer's status when not ok")
    actor_id: str | None = Field(description="null: unauthenticated, or the server itself")
    actor_login: str | None
    address: str | None = Field(description="the client's address as the server saw it")
    target_type: str | None = Field(examples=["user", "job", "object", "login"])
    target_id: str | None
    detail: dict[str, Any] | None = Field(description="small, never a secret")
    request_id: str | None


class ScheduleModel(BaseModel):
    """A schedule as the API shows it (docs/api.md §20)."""

    id: str
    name: str
    operation: str
    target: dict[str, str] = Field(description='{"object": ID} or {"link": ID}')
    args: dict[str, Any]
    cron: str | None
    timezone: str | None
    interval: int | None
    missed: Literal["skip", "run-once"]
    paused: bool
    owner: str
    nextRunAt: int | None
    lastRunAt: int | None
    lastJobId: str | None
    stoppedReason: str | None
    created: int
    updated: int


class BatchJobModel(BaseModel):
    id: str
    entity: dict[str, str] = Field(description='{"object": ID} or {"link": ID}')
    status: str = Field(description="the job's status (docs/api.md §5)")


class BatchSkippedModel(BaseModel):
    entity: dict[str, str] = Field(description='{"object": ID} or {"link": ID}')
    reason: str


class BatchModel(BaseModel):
    """A batch as the API shows it (docs/api.md §21). A list shows each without ``jobs``
    and ``skipped``."""

    id: str
    name: str
    operation: str
    target: dict[str, Any] = Field(
        description='{"subtree": ID}, {"class": ID}, {"tag": NAME}, {"objects": [IDs]} or '
        '{"links": [IDs]}'
    )
    args: dict[str, Any]
    concurrency: int
    stopAfterFailures: int | None
    owner: str
    status: Literal["running", "finished", "stopped", "cancelled"]
    stoppedReason: str | None
    counts: dict[str, int] = Field(
        description="targets by their job's status, and waiting, skipped, notQueued"
    )
    created: int
    updated: int
    finishedAt: int | None
    jobs: list[BatchJobModel] | None = Field(None, description="a page of its jobs, in order")
    skipped: list[BatchSkippedModel] | None = Field(
        None, description="the first 100 skipped targets and why"
    )
