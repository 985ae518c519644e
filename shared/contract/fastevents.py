"""The fast path of event validation: msgspec decodes a record straight into typed structs
(one pass, no intermediate dict), the cross-field and catalog rules of ``shared.contract.events``
are checked in plain Python, and the pydantic event is built without re-validating.

It only ever *accepts*: a record it cannot accept (any error, or anything it is unsure of)
is handed to the pydantic path (``shared.contract.validation.validate_event``), which produces the
event or the rejections naming the field, exactly as before. So the reasons never change,
and a record is accepted here only when pydantic accepts it too
(``tests/unit/test_fast_decoding.py`` compares both on every event type and on invalid
records).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timezone
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import Meta, Struct

from shared.contract.events import (
    CLOCK_STOPPING_REASONS,
    EARLIEST,
    MAX_FUTURE,
    Channel,
    DocumentIssued,
    DossierDueChanged,
    DossierIntakeRejected,
    DossierPayment,
    DossierPortalSynced,
    DossierRated,
    DossierReceived,
    DossierResolved,
    DossierReturned,
    DossierTransferred,
    DossierWithdrawn,
    DueChangeReason,
    Event,
    EventBase,
    Family,
    Outcome,
    PaymentMethod,
    PetitionClassification,
    PetitionRated,
    PetitionReceived,
    PetitionResolved,
    ProcedurePublished,
    Satisfaction,
    ServiceLevel,
    SubmittedBy,
    TopicRole,
    WorkFileCompleted,
)
from shared.contract.validation import Agencies
from shared.domain.calendar import LOCAL_OFFSET
from shared.domain.catalog import Agency

Code = Annotated[str, Meta(min_length=1, max_length=128)]
# RFC 3339 with an offset (msgspec rejects naive timestamps and non-strings here)
Stamp = Annotated[datetime, Meta(tz=True)]


class _Base(Struct, frozen=True, kw_only=True, tag_field="event_type"):
    """An event as decoded. Like its contract model it has ``event_type``, ``family``,
    ``topic_role`` (set from the model below) and ``entity_id``: the counting rules read
    either (shared/domain/counting.py, lifecycle.py), so the calculator never builds the
    pydantic event of a record the fast path accepts."""

    event_type: ClassVar[str]
    family: ClassVar[Family]
    topic_role: ClassVar[TopicRole]

    event_id: Code
    occurred_at: Stamp
    agency_code: Code
    source: Code | None = None

    @property
    def entity_id(self) -> str:
        raise NotImplementedError


class _Dossier(_Base, frozen=True, kw_only=True):
    dossier_id: Code
    procedure_code: Code

    @property
    def entity_id(self) -> str:
        return self.dossier_id


class _Received(_Dossier, frozen=True, kw_only=True, tag="received"):
    service_level: ServiceLevel
    channel: Channel
    submitted_by: SubmittedBy | None = None
    due_at: Stamp
    via_one_stop: bool = True
    digitized: bool = False
    reused_digitized_data: bool = False
    digitized_shared: bool = False
    citizen_data_used: bool = False


class _Resolved(_Dossier, frozen=True, kw_only=True, tag="resolved"):
    due_at: Stamp
    outcome: Outcome


class _Returned(_Dossier, frozen=True, kw_only=True, tag="returned"):
    result_electronic: bool


class _Payment(_Dossier, frozen=True, kw_only=True, tag="payment"):
    method: PaymentMethod
    amount_vnd: Annotated[int, Meta(ge=0)]


class _Rated(_Dossier, frozen=True, kw_only=True, tag="rated"):
    satisfaction: Satisfaction


class _Withdrawn(_Dossier, frozen=True, kw_only=True, tag="withdrawn"):
    pass


class _DueChanged(_Dossier, frozen=True, kw_only=True, tag="due_changed"):
    reason: DueChangeReason
    due_at: Stamp | None = None


class _IntakeRejected(_Dossier, frozen=True, kw_only=True, tag="intake_rejected"):
    reason: Annotated[str, Meta(max_length=256)]


class _Transferred(_Dossier, frozen=True, kw_only=True, tag="transferred"):
    to_agency_code: Code
    due_at: Stamp | None = None


class _PortalSynced(_Dossier, frozen=True, kw_only=True, tag="portal_synced"):
    pass


class _Petition(_Base, frozen=True, kw_only=True):
    petition_id: Code

    @property
    def entity_id(self) -> str:
        return self.petition_id


class _PetitionReceived(_Petition, frozen=True, kw_only=True, tag="petition_received"):
    classification: PetitionClassification
    due_at: Stamp


class _PetitionResolved(_Petition, frozen=True, kw_only=True, tag="petition_resolved"):
    pass


class _PetitionRated(_Petition, frozen=True, kw_only=True, tag="petition_rated"):
    satisfaction: Satisfaction


class _Published(_Base, frozen=True, kw_only=True, tag="procedure_published"):
    procedure_code: Code
    decision_on_time: bool
    publicized: bool
    publicized_on_time: bool
    content_complete: bool

    @property
    def entity_id(self) -> str:
        return self.procedure_code


class _Document(_Base, frozen=True, kw_only=True, tag="document_issued"):
    document_id: Code
    electronic: bool
    confidential: bool

    @property
    def entity_id(self) -> str:
        return self.document_id


class _WorkFile(_Base, frozen=True, kw_only=True, tag="work_file_completed"):
    work_file_id: Code
    processed_online: bool
    confidential: bool

    @property
    def entity_id(self) -> str:
        return self.work_file_id


_Any = (
    _Received
    | _Resolved
    | _Returned
    | _Payment
    | _Rated
    | _Withdrawn
    | _DueChanged
    | _IntakeRejected
    | _Transferred
    | _PortalSynced
    | _PetitionReceived
    | _PetitionResolved
    | _PetitionRated
    | _Published
    | _Document
    | _WorkFile
)
_MODELS: dict[type[_Base], type[EventBase]] = {
    _Received: DossierReceived,
    _Resolved: DossierResolved,
    _Returned: DossierReturned,
    _Payment: DossierPayment,
    _Rated: DossierRated,
    _Withdrawn: DossierWithdrawn,
    _DueChanged: DossierDueChanged,
    _IntakeRejected: DossierIntakeRejected,
    _Transferred: DossierTransferred,
    _PortalSynced: DossierPortalSynced,
    _PetitionReceived: PetitionReceived,
    _PetitionResolved: PetitionResolved,
    _PetitionRated: PetitionRated,
    _Published: ProcedurePublished,
    _Document: DocumentIssued,
    _WorkFile: WorkFileCompleted,
}


def _dict_builder(struct: type[Struct], names: tuple[str, ...]) -> Callable[[Any], dict[str, Any]]:
    """A function returning the struct's values as the model's ``__dict__`` (its fields in
    the model's order, ``event_type`` included): one dict literal, generated from the
    field names (2× faster than zipping the struct's tuple)."""
    tag = str(struct.__struct_config__.tag)
    items = ", ".join(
        f"{name!r}: {tag!r}" if name == "event_type" else f"{name!r}: s.{name}" for name in names
    )
    scope: dict[str, Any] = {}
    exec(f"def values(s):\n    return {{{items}}}", scope)  # names: the model's fields
    return scope["values"]  # type: ignore[no-any-return]


# per struct: the pydantic model, the builder of its __dict__, and its field names
_PLAN: dict[type[_Base], tuple[type[EventBase], Callable[[Any], dict[str, Any]], frozenset[str]]]
_PLAN = {}
for _struct, _model in _MODELS.items():
    # the struct declares the model's fields in the model's order (event_type is the tag)
    _names = tuple(_model.model_fields)
    assert _names == (_struct.__struct_fields__[0], "event_type", *_struct.__struct_fields__[1:])
    _PLAN[_struct] = (_model, _dict_builder(_struct, _names), frozenset(_names))
    _struct.event_type = str(_struct.__struct_config__.tag)
    _struct.family = _model.family
    _struct.topic_role = _model.topic_role
_one = msgspec.json.Decoder(_Any)
_many = msgspec.json.Decoder(list[_Any])

_LOCAL_OFFSET = LOCAL_OFFSET  # the calendar's fixed +07:00 (shared/domain/calendar.py)
# msgspec's tzinfo for +07:00 (it decodes every stamp of one offset with one object; not
# the calendar's LOCAL_TZ zone): aware datetimes of the same tzinfo object compare
# without converting to UTC, 20× faster
_SAMPLE = datetime(2000, 1, 1, tzinfo=timezone(LOCAL_OFFSET)).isoformat()
DECODED_LOCAL_TZ = msgspec.json.decode(f'"{_SAMPLE}"'.encode(), type=datetime).tzinfo
_ONLINE = Channel.online
_IN_PERSON_ONLY = ServiceLevel.in_person_only
_CLOCK_STOPPING: frozenset[DueChangeReason] = CLOCK_STOPPING_REASONS


# an event as msgspec decoded it (any of the structs above): what ingest's fast path
# checks and writes to Kafka without building the pydantic event
FastEvent = _Base
# an event as the counting rules read it: its contract model or its decoded struct
AnyEvent = Event | FastEvent
_encode = msgspec.json.Encoder().encode


def build(struct: FastEvent) -> Event:
    """The pydantic event of an accepted struct, without a second validation: the same
    ``__dict__`` pydantic would build (``model_construct`` does this, 5× slower)."""
    model, values, fields = _PLAN[type(struct)]
    return _construct(model, values(struct), set(fields))


def encode(struct: FastEvent, source: str | None = None) -> bytes:
    """The JSON of an accepted struct, with ``source`` where it names none (ingest: the
    token's default source): the event ``build(struct).model_dump_json()`` gives, its
    ``event_type`` first — 4× cheaper than building the model and dumping it."""
    if struct.source is None and source is not None:
        struct = msgspec.structs.replace(struct, source=source)
    return _encode(struct)


def _construct(model: type[EventBase], values: dict[str, Any], fields_set: set[str]) -> Event:
    """A pydantic event of already-valid ``values``, as pydantic itself lays one out."""
    obj = object.__new__(model)
    setattr_ = object.__setattr__
    setattr_(obj, "__dict__", values)
    setattr_(obj, "__pydantic_fields_set__", fields_set)
    setattr_(obj, "__pydantic_extra__", None)
    setattr_(obj, "__pydantic_private__", None)
    return obj  # type: ignore[return-value]


def with_source(event: Event, source: str) -> Event:
    """``event`` with its ``source`` set (ingest: the token's default source), built like
    :func:`build` — ``model_copy(update=...)`` costs more than validating the event."""
    return _construct(
        type(event), {**event.__dict__, "source": source}, event.model_fields_set | {"source"}
    )


class FastValidator:
    """Checks decoded structs against the rules msgspec's types do not express: the
    timestamp range, the agency catalog on the event's local date (§4a.6) — for
    ``transferred`` also its ``to_agency_code`` — and the cross-field rules of ``received``,
    ``due_changed``, ``petition_received`` and ``procedure_published``."""

    def __init__(self, agencies: Agencies, now: datetime | None) -> None:
        self._agencies = agencies
        get = getattr(agencies, "get", None)
        self._get: Callable[[str], Agency | None] | None = get if callable(get) else None
        # the bounds in msgspec's +07:00: an event stamped in local time compares fast
        self._earliest = EARLIEST.astimezone(DECODED_LOCAL_TZ)
        self._latest = ((now or datetime.now(UTC)) + MAX_FUTURE).astimezone(DECODED_LOCAL_TZ)
        self._valid: dict[tuple[str, date], bool] = {}

    def _agency_ok(self, code: str, occurred: datetime) -> bool:
        if self._get is None:
            return code in self._agencies
        if occurred.utcoffset() == _LOCAL_OFFSET:  # stamped in local time: its own date
            day = occurred.date()
        else:
            day = (occurred.astimezone(UTC) + _LOCAL_OFFSET).date()
        key = (code, day)
        ok = self._valid.get(key)
        if ok is None:
            agency = self._get(code) if code in self._agencies else None
            if code not in self._agencies:
                ok = False
            elif not isinstance(agency, Agency):
                ok = True  # a mapping to something else: existence only, like pydantic
            else:
                ok = agency.valid_on(day)
            self._valid[key] = ok
        return ok

    def accept(self, struct: Struct) -> Event | None:
        """The event, or None when a rule fails (the pydantic path then says why)."""
        return build(struct) if self.ok(struct) else None  # type: ignore[arg-type]

    def ok(self, struct: Struct) -> bool:
        """Whether the struct passes the rules its types do not express (False: the
        pydantic path decides, and names the field)."""
        occurred: datetime = struct.occurred_at  # type: ignore[attr-defined]
        if occurred < self._earliest or occurred > self._latest:
            return False
        if not self._agency_ok(struct.agency_code, occurred):  # type: ignore[attr-defined]
            return False
        kind = type(struct)
        if kind is _Received:
            assert isinstance(struct, _Received)
            if struct.channel is _ONLINE and (
                struct.service_level is _IN_PERSON_ONLY or struct.submitted_by is None
            ):
                return False
            if struct.due_at <= occurred:
                return False
        elif kind is _DueChanged:
            assert isinstance(struct, _DueChanged)
            if struct.due_at is None and struct.reason not in _CLOCK_STOPPING:
                return False
        elif kind is _Transferred:
            assert isinstance(struct, _Transferred)
            target = struct.to_agency_code
            if target == struct.agency_code or not self._agency_ok(target, occurred):
                return False
        elif kind is _PetitionReceived:
            assert isinstance(struct, _PetitionReceived)
            if struct.due_at <= occurred:
                return False
        elif kind is _Published:
            assert isinstance(struct, _Published)
            if struct.publicized_on_time and not struct.publicized:
                return False
        return True

    def decode(self, value: bytes) -> Event | None:
        """One JSON record; None when the fast path cannot accept it."""
        struct = decode_one(value)
        return None if struct is None else self.accept(struct)

    def decode_struct(self, value: bytes) -> FastEvent | None:
        """One JSON record as its struct, which the rules read like the model (no
        pydantic event built); None when the fast path cannot accept it."""
        struct = decode_one(value)
        return struct if struct is not None and self.ok(struct) else None


def decode_one(value: bytes) -> FastEvent | None:
    """One JSON event as its struct (None: msgspec refuses it; pydantic then says why)."""
    try:
        return _one.decode(value)  # type: ignore[no-any-return]
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def decode_array(body: bytes) -> list[Any] | None:
    """A JSON array of events as structs in one pass (None: any element fails; the caller
    then validates element by element with pydantic to name the fields)."""
    try:
        return _many.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
