"""Event contract v1.1 (domain README §3) as pydantic v2 models.

v1.1 adds ``due_changed`` and ``intake_rejected``; every v1 event stays valid.

Validation context (``model_validate(..., context=...)``) carries what a field rule
needs from outside the event: ``agencies`` and ``now`` (the receiving instant, for the
5-minute future bound). ``agencies`` is the agency catalog (an ``AgencyCatalog`` or a
mapping code → ``Agency``): the agency must exist and be valid on the local date of the
event's ``occurred_at`` (§4a.6: late events of an abolished agency are accepted, events
after its ``valid_to`` are not). A plain collection of codes checks existence only.
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

CONTRACT_VERSION = "1.1"
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


class EventBase(BaseModel):
    """Fields every event carries. Unknown fields are dropped, never stored."""

    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=False)

    family: ClassVar[Literal["dossier", "document"]]

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

    @property
    def entity_id(self) -> str:
        """Id of the thing the event is about (dossier, document or work file)."""
        raise NotImplementedError


class DossierEvent(EventBase):
    family: ClassVar[Literal["dossier", "document"]] = "dossier"

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
    """The source system moved the deadline (§4a.3); ``suspended`` stops the clock."""

    event_type: Literal["due_changed"]
    reason: DueChangeReason
    due_at: Timestamp | None = Field(default=None, validate_default=True)

    @field_validator("due_at")
    @classmethod
    def _due_required(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        reason = info.data.get("reason")
        if value is None and reason is not None and reason is not DueChangeReason.suspended:
            raise ValueError(f"is required when reason is {reason.value!r}")
        return value


class DossierIntakeRejected(DossierEvent):
    """Từ chối tiếp nhận: the dossier was never accepted (§4a.4), final for its id."""

    event_type: Literal["intake_rejected"]
    reason: str = Field(max_length=256)


class DocumentIssued(EventBase):
    family: ClassVar[Literal["dossier", "document"]] = "document"
    event_type: Literal["document_issued"]
    document_id: Code
    electronic: bool
    confidential: bool

    @property
    def entity_id(self) -> str:
        return self.document_id


class WorkFileCompleted(EventBase):
    family: ClassVar[Literal["dossier", "document"]] = "document"
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
    | DossierIntakeRejected,
    Field(discriminator="event_type"),
]
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
    "document_issued": DocumentIssued,
    "work_file_completed": WorkFileCompleted,
}
