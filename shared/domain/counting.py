"""Counting rules (domain README §4, §4a) as pure functions: what each event contributes.

Every event yields *marks*: named counter fields. How a dossier's marks are dated is the
lifecycle of §4a, applied by the Redis script (``shared/store/lua/apply_batch.lua``):

- intake marks (``received``, each category, online, remote, one-stop, digitized, and the
  procedure's "has an online dossier" member ``P:<procedure>``) are the union over the
  dossier's ``received`` events, all dated at its *first* receipt, and withdrawn from every
  period when the dossier's intake was rejected;
- the earliest ``resolved`` / ``returned`` / ``rated`` event alone decides its marks;
- every ``payment`` event is a transaction and counts on its own;
- documents and work files keep the earliest occurrence of each mark.

The events contract v1.2 added (``transferred``, ``portal_synced``, petitions,
``procedure_published``) and the new ``received`` flags carry no mark yet: they are
accepted and recorded (their ids), and counted once their rules are written (§4b, §8).

A dossier's ``received`` mark gives the distinct total (HSTN); its category marks
(service level × channel) may add up to more than that total, as in the appendix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from shared.contract.events import (
    Channel,
    DocumentIssued,
    DossierPayment,
    DossierRated,
    DossierReceived,
    DossierResolved,
    DossierReturned,
    Event,
    PaymentMethod,
    Satisfaction,
    SubmittedBy,
    WorkFileCompleted,
)

if TYPE_CHECKING:
    from shared.contract.fastevents import FastEvent

# The entity of an event, within its agency: by family (dossiers, petitions, procedures),
# documents and work files by event type. Also the Kafka key's entity part
# (``shared.contract.partitioning``) and the family of its Redis bucket (``keys.entity``).
ENTITY_PREFIX = {
    "dossier": "d",
    "petition": "pk",
    "procedure": "proc",
    "document_issued": "doc",
    "work_file_completed": "wf",
}


def category_mark(service_level: str, channel: str) -> str:
    return f"cat_{service_level}_{channel}"


def marks_for(event: Event | FastEvent) -> list[str]:
    """The marks an event carries; empty for events no ratio counts (e.g. withdrawn).
    Chosen by ``event_type``, not by class: the calculator passes the decoded struct of a
    record (shared/contract/fastevents.py) with the same fields as its model."""
    kind = event.event_type
    if kind == "received":
        received = cast(DossierReceived, event)
        marks = ["received", category_mark(received.service_level, received.channel)]
        if received.service_level == "full_online" and received.channel is Channel.online:
            marks.append("received_full_online_online")
        if received.channel is Channel.online:
            marks.append("received_online")
            if received.submitted_by is SubmittedBy.citizen:
                marks.append("received_remote")
        if received.via_one_stop:
            marks.append("received_one_stop")
        if received.digitized:
            marks.append("received_digitized")
        return marks
    if kind == "resolved":
        resolved = cast(DossierResolved, event)
        return (
            ["resolved", "resolved_on_time"]
            if resolved.occurred_at <= resolved.due_at
            else ["resolved"]
        )
    if kind == "returned":
        if cast(DossierReturned, event).result_electronic:
            return ["returned", "returned_electronic"]
        return ["returned"]
    if kind == "payment":
        if cast(DossierPayment, event).method is PaymentMethod.online:
            return ["payment", "payment_online"]
        return ["payment"]
    if kind == "rated":
        satisfaction = cast(DossierRated, event).satisfaction
        if satisfaction in (Satisfaction.very_satisfied, Satisfaction.satisfied):
            return ["rated", "rated_satisfied"]
        return ["rated"]
    if kind == "document_issued":
        document = cast(DocumentIssued, event)
        if document.confidential:
            return []
        if document.electronic:
            return ["document_issued", "document_electronic"]
        return ["document_issued"]
    if kind == "work_file_completed":
        work_file = cast(WorkFileCompleted, event)
        if work_file.confidential:
            return []
        if work_file.processed_online:
            return ["work_file_completed", "work_file_online"]
        return ["work_file_completed"]
    return []


PROCEDURE_ITEM = "P:"

# The intake marks in the order of their bits in a dossier's compact state (the Lua
# script's INTAKE table is the same list; a unit test keeps them equal).
INTAKE_MARKS: tuple[str, ...] = (
    "received",
    "received_full_online_online",
    "received_online",
    "received_remote",
    "received_one_stop",
    "received_digitized",
    *(
        category_mark(level, channel)
        for level in ("full_online", "partial_online", "in_person_only")
        for channel in ("online", "in_person", "postal")
    ),
)
INTAKE_BIT = {mark: 1 << i for i, mark in enumerate(INTAKE_MARKS)}


def intake_items(event: DossierReceived) -> list[str]:
    """A receipt's intake marks plus ``P:<procedure>`` when it makes the procedure one with
    an online dossier (``proc_online``); all dated at the dossier's first receipt."""
    items = marks_for(event)
    if event.channel is Channel.online and event.service_level != "in_person_only":
        items.append(PROCEDURE_ITEM + event.procedure_code)
    return items


def set_members(event: Event | FastEvent) -> list[tuple[str, str]]:
    """Per-period distinct sets the event adds to: (set name, member).

    ``proc_paid_online``: procedures with at least one online payment. (``proc_online``,
    dated by the intake cohort, is an intake item: see ``intake_items``.)
    """
    if event.event_type == "payment":
        payment = cast(DossierPayment, event)
        if payment.method is PaymentMethod.online:
            return [("proc_paid_online", payment.procedure_code)]
    return []


def entity_key(event: Event | FastEvent) -> str:
    """Entity the marks belong to, unique within the agency: ``d:<dossier_id>``,
    ``pk:<petition_id>``, ``proc:<procedure_code>``, ``doc:<document_id>``,
    ``wf:<work_file_id>``."""
    family = event.family
    prefix = ENTITY_PREFIX[event.event_type if family == "document" else family]
    return f"{prefix}:{event.entity_id}"


@dataclass(frozen=True)
class Occurrence:
    """Where an event falls: epoch milliseconds and its local day, month and year buckets."""

    ts: int  # epoch milliseconds
    day: str  # YYYYMMDD
    month: str  # YYYYMM
    year: str  # YYYY
