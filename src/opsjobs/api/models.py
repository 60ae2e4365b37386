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
    model_validator,
)

from ..domain.names import hidden_character
from ..domain.profile import CONTACTS_MAX, NAME_MAX, check_language
from ..domain.rights import PERMISSIONS, check_permission
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
    event: Literal["lost", "finished", "stopped"]
    by: str = Field(description="the process that recorded it (host/pid)")
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
    login: NonEmpty
    password: str


class ObjectCreate(Body):
    name: NonEmptyName
    parent_id: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1)] | None = None
    class_id: str | None = None
    properties: list[Any] | dict[str, Any] | None = None
    operations: list[OperationCreate] = Field(
        default=[], description="the object's own operations (needs manage-operations too)"
    )


class ObjectUpdate(Body):
    name: NonEmptyName | None = None
    parent_id: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1)] | None = None
    class_id: str | None = None
    properties: list[Any] | dict[str, Any] | None = None
    state_id: StateId | None = None


class LinkCreate(Body):
    source: NonEmpty
    target: NonEmpty
    name: Name = ""
    class_id: str | None = None
    properties: list[Any] | dict[str, Any] | None = None
    operations: list[OperationCreate] = Field(
        default=[], description="the link's own operations (needs manage-operations too)"
    )


class LinkUpdate(Body):
    name: Name | None = None
    class_id: str | None = None
    properties: list[Any] | dict[str, Any] | None = None
    state_id: StateId | None = None


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
    id: str
    name: str
    parent_id: list[str]
    class_id: str | None
    state_id: int
    last_state_update: int | None
    properties: list[Any] | dict[str, Any]
    operations: list[OperationModel | OperationSummary]
    created: int
    updated: int


class LinkModel(BaseModel):
    id: str
    name: str
    source: str
    target: str
    class_id: str | None
    state_id: int
    last_state_update: int | None
    properties: list[Any] | dict[str, Any]
    operations: list[OperationModel | OperationSummary]
    created: int
    updated: int


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


class ClassUpdate(Body):
    name: NonEmptyName


class ClassModel(BaseModel):
    id: str
    name: str
    operations: list[OperationModel | OperationSummary]
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
