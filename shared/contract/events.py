"""Event contract v1.2 (domain README §3, §4a, §4b) as pydantic v2 models.

v1.1 added ``due_changed`` and ``intake_rejected``. v1.2 adds the dossier events
``transferred`` and ``portal_synced``, the ``due_changed`` reason ``apology_redated`` and a
``supplement_requested`` without ``due_at``, three intake flags on ``received``, petitions
(PAKN, a third entity: ``petition_received``, ``petition_resolved``, ``petition_rated``) and
``procedure_published`` (per procedure and agency). Every v1 and v1.1 event stays valid.

Which topic carries an event is its ``topic_role``: the document topic carries the
document-management system's events (``document_issued``, ``work_file_completed``); the
dossier topic everything about administrative procedures — dossiers, petitions and
procedure publications (no new topic: the topics keep their ``.v1`` names).

Validation context (``model_validate(..., context=...)``) carries what a field rule
needs from outside the event: ``agencies`` and ``now`` (the receiving instant, for the
5-minute future bound). ``agencies`` is the agency catalog (an ``AgencyCatalog`` or a
mapping code → ``Agency``): the agency must exist and be valid on the local date of the
event's ``occurred_at`` (§4a.6: late events of an abolished agency are accepted, events
after its ``valid_to`` are not). A plain collection of codes checks existence only. The
same check applies to ``transferred``'s ``to_agency_code``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from shared.domain.calendar import local_date

CONTRACT_VERSION = "1.2"
EARLIEST = datetime(2015, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(minutes=5)


def _rfc3339_string(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string with an offset")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_string)]
Code = Annotated[str, Field(min_length=1, max_length=128)]


class ServiceLevel(StrEnum):
    full_online = "full_online"
    partial_online = "partial_online"
    in_person_only = "in_person_only"


class Channel(StrEnum):
    online = "online"
    in_person = "in_person"
    postal = "postal"


class SubmittedBy(StrEnum):
    citizen = "citizen"
    assisted = "assisted"


class Outcome(StrEnum):
    approved = "approved"
    rejected = "rejected"


class PaymentMethod(StrEnum):
    online = "online"
    offline = "offline"


class Satisfaction(StrEnum):
    very_satisfied = "very_satisfied"
    satisfied = "satisfied"
    unsatisfied = "unsatisfied"


class DueChangeReason(StrEnum):
    supplement_requested = "supplement_requested"
    extended = "extended"
    suspended = "suspended"
    resumed = "resumed"
    apology_redated = "apology_redated"  # v1.2: phiếu xin lỗi, hẹn lại ngày trả (§4b)


# v1.2: a due_changed of these reasons may come without due_at (the clock stops, §4b)
CLOCK_STOPPING_REASONS = frozenset(
    {DueChangeReason.suspended, DueChangeReason.supplement_requested}
)


class PetitionClassification(StrEnum):
    """What a petition (phản ánh, kiến nghị) is about (§4b, §8)."""

    procedure = "procedure"  # quy định, thủ tục hành chính
    staff = "staff"  # hành vi của cán bộ, công chức
    other = "other"


Family = Literal["dossier", "document", "petition", "procedure"]
TopicRole = Literal["dossier", "document"]


def check_agency(value: str, info: ValidationInfo) -> str:
    """An agency code of an event (``agency_code``, ``to_agency_code``) against the
    catalog of the validation context: it exists and is valid on the local date of the
    event's ``occurred_at`` (§4a.6)."""
    agencies = (info.context or {}).get("agencies")
    if agencies is None:
        return value
    if value not in agencies:
        raise ValueError(f"unknown agency {value!r}: not in the agency catalog")
    # a catalog (or mapping code -> Agency) knows validity; a set of codes does not
    agency = agencies.get(value) if hasattr(agencies, "get") else None
    occurred = info.data.get("occurred_at")  # absent when occurred_at was invalid
    if agency is None or occurred is None:
        return value
    day = local_date(occurred)
    if agency.valid_from is not None and day < agency.valid_from:
        raise PydanticCustomError(
            "agency_not_valid",
            f"agency {value!r} starts on {agency.valid_from}: not valid on {day}, "
            "the local date of occurred_at",
        )
    if agency.valid_to is not None and day > agency.valid_to:
        successor = f" (successor: {agency.successor_code})" if agency.successor_code else ""
        raise PydanticCustomError(
            "agency_not_valid",
            f"agency {value!r} ended on {agency.valid_to}{successor}: not valid on {day}, "
            "the local date of occurred_at",
        )
    return value


class EventBase(BaseModel):
    """Fields every event carries. Unknown fields are dropped, never stored."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=False)

    family: ClassVar[Family]
    # the topic that carries it: ``Topics.dossier`` or ``Topics.document``
    topic_role: ClassVar[TopicRole]

    event_id: Code
    event_type: str
    occurred_at: Timestamp
    agency_code: Code
    source: Code | None = None

    @field_validator("occurred_at")
    @classmethod
    def _occurred_in_range(cls, value: datetime, info: ValidationInfo) -> datetime:
        ctx = info.context or {}
        now: datetime = ctx.get("now") or datetime.now(UTC)
        if value < EARLIEST:
            raise ValueError("is before 2015-01-01")
        if value > now + MAX_FUTURE:
            raise ValueError("is more than 5 minutes in the future")
        return value

    @field_validator("agency_code")
    @classmethod
    def _known_agency(cls, value: str, info: ValidationInfo) -> str:
        return check_agency(value, info)

    @property
    def entity_id(self) -> str:
        """Id of the thing the event is about (dossier, document or work file)."""
        raise NotImplementedError


class DossierEvent(EventBase):
    family: ClassVar[Family] = "dossier"
    topic_role: ClassVar[TopicRole] = "dossier"

    dossier_id: Code
    procedure_code: Code

    @property
    def entity_id(self) -> str:
        return self.dossier_id


def _due_after_occurred(value: datetime, info: ValidationInfo) -> datetime:
    occurred = info.data.get("occurred_at")
    if occurred is not None and value <= occurred:
        raise ValueError("must be after occurred_at")
    return value


class DossierReceived(DossierEvent):
    event_type: Literal["received"]
    service_level: ServiceLevel
    channel: Channel
    submitted_by: SubmittedBy | None = Field(default=None, validate_default=True)
    due_at: Timestamp
    via_one_stop: bool = True
    digitized: bool = False
    # v1.2 (§4b): intake flags, a union over the dossier's receipts like every intake mark
    reused_digitized_data: bool = False  # khai thác, sử dụng lại dữ liệu số hóa
    digitized_shared: bool = False  # số hóa có kết nối, chia sẻ vào kho dữ liệu công dân
    citizen_data_used: bool = False  # sử dụng dữ liệu dân cư

    @field_validator("channel")
    @classmethod
    def _channel_allowed(cls, channel: Channel, info: ValidationInfo) -> Channel:
        if (
            channel is Channel.online
            and info.data.get("service_level") is ServiceLevel.in_person_only
        ):
            raise ValueError("'online' is not allowed for service_level 'in_person_only'")
        return channel

    @field_validator("submitted_by")
    @classmethod
    def _submitted_by_required(
        cls, value: SubmittedBy | None, info: ValidationInfo
    ) -> SubmittedBy | None:
        if value is None and info.data.get("channel") is Channel.online:
            raise ValueError("is required when channel is 'online'")
        return value

    _due = field_validator("due_at")(_due_after_occurred)


class DossierResolved(DossierEvent):
    event_type: Literal["resolved"]
    due_at: Timestamp
    outcome: Outcome


class DossierReturned(DossierEvent):
    event_type: Literal["returned"]
    result_electronic: bool


class DossierPayment(DossierEvent):
    event_type: Literal["payment"]
    method: PaymentMethod
    amount_vnd: int = Field(ge=0)


class DossierRated(DossierEvent):
    event_type: Literal["rated"]
    satisfaction: Satisfaction


class DossierWithdrawn(DossierEvent):
    event_type: Literal["withdrawn"]


class DossierDueChanged(DossierEvent):
    """The source system moved the deadline (§4a.3): ``suspended`` — and, v1.2, a
    ``supplement_requested`` without ``due_at`` — stops the clock until a later change;
    ``apology_redated`` (v1.2) re-dates a dossier that is already late (§4b)."""

    event_type: Literal["due_changed"]
    reason: DueChangeReason
    due_at: Timestamp | None = Field(default=None, validate_default=True)

    @field_validator("due_at")
    @classmethod
    def _due_required(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        reason = info.data.get("reason")
        if value is None and reason is not None and reason not in CLOCK_STOPPING_REASONS:
            raise ValueError(f"is required when reason is {reason.value!r}")
        return value


class DossierIntakeRejected(DossierEvent):
    """Từ chối tiếp nhận: the dossier was never accepted (§4a.4), final for its id."""

    event_type: Literal["intake_rejected"]
    reason: str = Field(max_length=256)


class DossierTransferred(DossierEvent):
    """v1.2 (§4b): the open dossier moves to ``to_agency_code`` (valid at ``occurred_at``),
    optionally with a new due time; its intake marks stay where it was received."""

    event_type: Literal["transferred"]
    to_agency_code: Code
    due_at: Timestamp | None = None

    @field_validator("to_agency_code")
    @classmethod
    def _known_target(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("agency_code"):
            raise ValueError("must differ from agency_code (a transfer moves the dossier)")
        return check_agency(value, info)


class DossierPortalSynced(DossierEvent):
    """v1.2 (§4b): the dossier was synchronised to the national portal (Cổng DVCQG)."""

    event_type: Literal["portal_synced"]


class PetitionEvent(EventBase):
    """v1.2 (§4b): a petition (phản ánh, kiến nghị — PAKN), the third entity."""

    family: ClassVar[Family] = "petition"
    topic_role: ClassVar[TopicRole] = "dossier"

    petition_id: Code

    @property
    def entity_id(self) -> str:
        return self.petition_id


class PetitionReceived(PetitionEvent):
    event_type: Literal["petition_received"]
    classification: PetitionClassification
    due_at: Timestamp

    _due = field_validator("due_at")(_due_after_occurred)


class PetitionResolved(PetitionEvent):
    event_type: Literal["petition_resolved"]


class PetitionRated(PetitionEvent):
    event_type: Literal["petition_rated"]
    satisfaction: Satisfaction


class ProcedurePublished(EventBase):
    """v1.2 (§4b): a procedure's publication (công bố, công khai) by an agency, dated by
    ``occurred_at`` = the publication decision; the flags are the publishing system's
    judgement. The latest event of a procedure in a period counts."""

    family: ClassVar[Family] = "procedure"
    topic_role: ClassVar[TopicRole] = "dossier"

    event_type: Literal["procedure_published"]
    procedure_code: Code
    decision_on_time: bool  # issued ≥ 5 working days before the legal text takes effect
    publicized: bool  # công khai trên CSDL quốc gia về TTHC
    publicized_on_time: bool
    content_complete: bool

    @field_validator("publicized_on_time")
    @classmethod
    def _publicized_first(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("publicized") is False:
            raise ValueError("cannot be true when publicized is false")
        return value

    @property
    def entity_id(self) -> str:
        return self.procedure_code


class DocumentIssued(EventBase):
    family: ClassVar[Family] = "document"
    topic_role: ClassVar[TopicRole] = "document"
    event_type: Literal["document_issued"]
    document_id: Code
    electronic: bool
    confidential: bool

    @property
    def entity_id(self) -> str:
        return self.document_id


class WorkFileCompleted(EventBase):
    family: ClassVar[Family] = "document"
    topic_role: ClassVar[TopicRole] = "document"
    event_type: Literal["work_file_completed"]
    work_file_id: Code
    processed_online: bool
    confidential: bool

    @property
    def entity_id(self) -> str:
        return self.work_file_id


DossierEventV1 = Annotated[
    DossierReceived
    | DossierResolved
    | DossierReturned
    | DossierPayment
    | DossierRated
    | DossierWithdrawn
    | DossierDueChanged
    | DossierIntakeRejected
    | DossierTransferred
    | DossierPortalSynced,
    Field(discriminator="event_type"),
]
PetitionEventV1 = Annotated[
    PetitionReceived | PetitionResolved | PetitionRated, Field(discriminator="event_type")
]
ProcedureEventV1 = ProcedurePublished
DocumentEventV1 = Annotated[DocumentIssued | WorkFileCompleted, Field(discriminator="event_type")]

Event = (
    DossierReceived
    | DossierResolved
    | DossierReturned
    | DossierPayment
    | DossierRated
    | DossierWithdrawn
    | DossierDueChanged
    | DossierIntakeRejected
    | DossierTransferred
    | DossierPortalSynced
    | PetitionReceived
    | PetitionResolved
    | PetitionRated
    | ProcedurePublished
    | DocumentIssued
    | WorkFileCompleted
)

EVENT_MODELS: dict[str, type[EventBase]] = {
    "received": DossierReceived,
    "resolved": DossierResolved,
    "returned": DossierReturned,
    "payment": DossierPayment,
    "rated": DossierRated,
    "withdrawn": DossierWithdrawn,
    "due_changed": DossierDueChanged,
    "intake_rejected": DossierIntakeRejected,
    "transferred": DossierTransferred,
    "portal_synced": DossierPortalSynced,
    "petition_received": PetitionReceived,
    "petition_resolved": PetitionResolved,
    "petition_rated": PetitionRated,
    "procedure_published": ProcedurePublished,
    "document_issued": DocumentIssued,
    "work_file_completed": WorkFileCompleted,
}
