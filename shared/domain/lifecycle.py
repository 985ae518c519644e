"""The lifecycle rules of domain README §4a, applied one event at a time to an entity's
stored state: the one implementation the calculator writes with (through
``shared/store/indicator_store.py``) and the simulator's expected figures use.

An entity's state is the compact binary string Redis holds in the entity's bucket hash
(``shared/store/keys.py`` ``entity``), byte for byte as the apply script of contract v1.1
wrote it (big-endian). A dossier:

- ``H`` flags: 1 withdrawn, 2 intake rejected, 4 received, 8 resolved on time, 16 returned
  electronic, 32 rated satisfied; present: 64 resolved, 128 returned, 256 rated, 512 due in
  force; 1024 due written as a double, 2048 suspended (no due);
- ``H`` its first receipt's local day (days since 1970-01-01 at +07:00), ``H`` intake bits
  (``INTAKE_MARKS`` order, the union over its received events);
- for each present decision (resolved, returned, rated): ``I6`` the epoch ms of the deciding
  (earliest) event; then for the due time in force, ``I6`` the epoch ms of the latest
  received/due_changed, followed by the due (epoch s) as ``I4``, or ``d`` when not a whole
  number of seconds, or nothing when suspended;
- ``H`` n procedures; the text before the dossier id in its tie-breakers (B len, bytes,
  or 250, H len, bytes), fixed with the first tie-breaker written;
- each present decision's and the due's event id (the tie-breaker of equal times), written
  around the dossier id; the n procedures of its receipts, written around the agency code;
- the applied event ids' 4-byte blake2b hashes, concatenated (the idempotency keys).

A string written around X: B v < 128: v bytes; 128 <= v < 250: the v - 128 bytes before X,
B n, the n bytes after it; 250: the dossier's text before X, B n, the n bytes after it; 255:
H len, bytes. A document or work file: B n, n × (a mark: B len, bytes, or 250, H len,
bytes; H the local day of its earliest occurrence), then the applied ids' hashes; its marks
in the order Lua 5.1's ``pairs`` gave them (``_lua_order``), so a state reads the same
whichever implementation wrote it.

The counter changes (:class:`Changes`) are the difference between an entity's
contribution before and after the event (§4a.1–4), so the figures never depend on arrival
order: per local day and mark, per local day and procedure (``proc_online``, a counted set),
the procedures paid online per day, and each dossier's open score (its due time in force,
``inf`` when suspended or none) or ``None`` when it is not open.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.contract.events import (
    DossierReceived,
    PaymentMethod,
    Satisfaction,
)
from shared.contract.fastevents import DECODED_LOCAL_TZ
from shared.domain.calendar import DAY_S, LOCAL_OFFSET_S
from shared.domain.counting import INTAKE_BIT, INTAKE_MARKS, PROCEDURE_ITEM, intake_items, marks_for

if TYPE_CHECKING:
    from shared.contract.fastevents import AnyEvent

INF = float("inf")
LOCAL_OFFSET_MS = LOCAL_OFFSET_S * 1000  # the calendar's fixed +07:00
DAY_MS = DAY_S * 1000

# event kinds (the one-letter codes of the v1.1 script)
RECEIVED, RESOLVED, RETURNED, RATED = "R", "S", "T", "Q"
PAYMENT, DUE_CHANGED, WITHDRAWN, REJECTED, MARKED = "P", "C", "W", "X", "G"
DECISIONS = {RESOLVED: 0, RETURNED: 1, RATED: 2}
DECISION_MARKS = (
    ("resolved", "resolved_on_time"),
    ("returned", "returned_electronic"),
    ("rated", "rated_satisfied"),
)
PAYMENT_MARK, PAYMENT_ONLINE_MARK = "payment", "payment_online"
# v1.2 (§4b): a dossier synchronised to the national portal
SYNCED = "Y"
# v1.2: a procedure's publication (not an entity's lifecycle: the latest in a period counts)
PUBLISHED = "U"
# v1.2: a transfer to another agency (Step.proc: its code; Step.flag: it gives a due time)
TRANSFERRED = "Z"
# a dossier's state with transfer links (flag 8192): see ``Dossier.links``
F_LINKED = 8192
# reasons of a due change the rules tell apart (Step.bits of a due_changed)
APOLOGY, SUPPLEMENT = 1, 2

# Cohort marks: what a dossier contributes at its first receipt's day, by bit. Bits 0-14
# are the intake marks (INTAKE_MARKS, stored in the state's H); 16-18 the v1.2 intake flags
# (stored in its extension); 19-22 derive from the rest of its lifecycle (§8): synced to
# the national portal, returned with an electronic result, overdue for good (resolved
# late, re-dated by an apology, or a second supplement request), and rated unsatisfied or
# overdue for good.
V12_INTAKE_MARKS = ("received_reused_data", "received_digitized_shared", "received_citizen_data")
V12_INTAKE_SHIFT = 16
C_SYNCED, C_RETURNED_E, C_LATE, C_UNSAT_OR_LATE = 1 << 19, 1 << 20, 1 << 21, 1 << 22
DOSSIER_COHORT_MARKS: tuple[str, ...] = (
    *INTAKE_MARKS,
    *[""] * (V12_INTAKE_SHIFT - len(INTAKE_MARKS)),
    *V12_INTAKE_MARKS,
    "c_synced",
    "c_returned_electronic",
    "c_late",
    "c_unsat_or_late",
)
# A petition's: received and its classification (stored), resolved on time (at or before
# its due time) and rated unsatisfied or resolved late (derived).
PK_RECEIVED, PK_PROCEDURE, PK_STAFF, PK_ON_TIME, PK_UNSAT_OR_LATE = 1, 2, 4, 8, 16
PETITION_COHORT_MARKS = (
    "pk_received",
    "pk_class_procedure",
    "pk_class_staff",
    "pk_on_time",
    "pk_unsat_or_late",
)
# Counted sets dated by the cohort: procedure -> dossiers received; -> those returned with
# an electronic result; -> those received online under a full_online service level (the
# per-procedure full-online share, issue 18).
PROC_RECEIVED, PROC_RETURNED_E = "proc_received", "proc_returned_e"
PROC_FULL_ONLINE = "proc_full_online"
# Sets dated by the payment: dossiers with a payment, with an online payment.
DOS_PAID, DOS_PAID_ONLINE = "dos_paid", "dos_paid_online"
# The Decision 766 inputs that only v1.2 counts: the index is monthly, quarterly and
# yearly (§8), so they are kept per month and year, never per day.
MONTHLY = frozenset(
    {
        *V12_INTAKE_MARKS,
        "c_synced",
        "c_returned_electronic",
        "c_late",
        "c_unsat_or_late",
        *PETITION_COHORT_MARKS,
        PROC_RECEIVED,
        PROC_RETURNED_E,
        PROC_FULL_ONLINE,
        DOS_PAID,
        DOS_PAID_ONLINE,
    }
)
# Open entities the 766 index judges at its evaluation instant, per receipt month (§8):
# dossiers open and not overdue for good, those of them rated unsatisfied; petitions open,
# those rated unsatisfied. Scored by the due time in force.
OPEN_DOSSIER, OPEN_DOSSIER_UNSAT, OPEN_PETITION, OPEN_PETITION_UNSAT = "d", "du", "p", "pu"
# the extension word of a dossier's state (flag 4096): bits 0-2 the v1.2 intake flags, then
# (H): E_SYNCED, E_APOLOGY, E_SUPP1/2; E_PROC its procedure follows, E_PROC_FIRST it is the
# first of its procedures with an online dossier (most dossiers: not written twice)
E_SYNCED, E_APOLOGY, E_SUPP1, E_SUPP2, E_PROC, E_PROC_FIRST = 8, 16, 32, 64, 512, 1024


def local_day(ms: int) -> int:
    """The local day number (days since 1970-01-01 at +07:00) of an epoch-ms instant."""
    return (ms + LOCAL_OFFSET_MS) // DAY_MS


def id_hash(event_id: str) -> bytes:
    """4 bytes of the event id: its idempotency key in the entity's state."""
    return hashlib.blake2b(event_id.encode(), digest_size=4).digest()


class Step:
    """One event as the rules see it. ``due``: epoch s (received; due_changed: ``None`` when
    suspended); ``bits``: intake bits and ``procs`` the procedures it makes ones with an
    online dossier (received); ``flag``: on time / electronic / satisfied / paid online
    (resolved, returned, rated, payment); ``proc``: the procedure paid; ``marks``: a
    document's or work file's marks."""

    __slots__ = ("bits", "due", "flag", "hid", "kind", "marks", "proc", "procs", "tie", "ts")

    def __init__(
        self,
        kind: str,
        hid: bytes,
        tie: bytes,
        ts: int,
        *,
        due: float | None = None,
        bits: int = 0,
        procs: tuple[bytes, ...] = (),
        flag: bool = False,
        proc: str = "",
        marks: tuple[str, ...] = (),
    ) -> None:
        self.kind, self.hid, self.tie, self.ts = kind, hid, tie, ts
        # the v1.1 state writes a suspension as the due -1: a due of -1 s reads as one
        self.due = None if due == -1 else due
        self.bits, self.procs, self.flag, self.proc, self.marks = bits, procs, flag, proc, marks


@dataclass
class Changes:
    """Counter changes of a set of events: per (local day, mark), per (local day,
    procedure) holders of ``proc_online``, (local day, procedure) paid online, dossier id →
    its open score (``None``: not open) where it changed, and how many events applied."""

    counters: dict[tuple[int, str], int] = field(default_factory=dict)
    holders: dict[tuple[int, str], int] = field(default_factory=dict)
    paid_online: set[tuple[int, str]] = field(default_factory=set)
    open: dict[str, float | None] = field(default_factory=dict)
    applied: int = 0
    # v1.2: (day, counted set, member) -> dossiers; (day, set, member) added; (kind, receipt
    # month YYYYMM, entity) -> its score in that open set, None: leaves it; publications
    # (epoch ms, member)
    counted: dict[tuple[int, str, str], int] = field(default_factory=dict)
    sets: set[tuple[int, str, str]] = field(default_factory=set)
    open766: dict[tuple[str, str, str], float | None] = field(default_factory=dict)
    published: list[tuple[int, str]] = field(default_factory=list)
    # dossiers whose records in other agencies share their facts (§4b transfers); of the
    # others, those with no receipt here (received elsewhere?) and those received here in
    # this batch (continued elsewhere?): where the store looks for the units a
    # reorganisation links (``shared.domain.succession``)
    linked: list[str] = field(default_factory=list)
    unrooted: list[str] = field(default_factory=list)
    rooted: list[str] = field(default_factory=list)

    def bump(self, day: int, mark: str, n: int) -> None:
        key = (day, mark)
        self.counters[key] = self.counters.get(key, 0) + n

    def count(self, day: int, name: str, member: str, n: int) -> None:
        key = (day, name, member)
        self.counted[key] = self.counted.get(key, 0) + n


def _seen(ids: bytes, hid: bytes) -> bool:
    at = ids.find(hid)
    while at != -1:
        if at % 4 == 0:  # a whole hash, not across two
            return True
        at = ids.find(hid, at + 1)
    return False


# -- the codec of strings --------------------------------------------------------------

_H = struct.Struct(">H")
_HHH = struct.Struct(">HHH")
_I4 = struct.Struct(">I")
_D = struct.Struct(">d")


def _enc(s: bytes) -> bytes:
    if len(s) < 250:
        return bytes((len(s),)) + s
    return b"\xfa" + _H.pack(len(s)) + s


def _dec(raw: bytes, p: int) -> tuple[bytes, int]:
    n = raw[p]
    if n < 250:
        return raw[p + 1 : p + 1 + n], p + 1 + n
    n = _H.unpack_from(raw, p + 1)[0]
    return raw[p + 3 : p + 3 + n], p + 3 + n


def _tenc(s: bytes, x: bytes, pre: bytes | None) -> bytes:
    """``s`` written around ``x`` (``pre``: the dossier's text before it, or None)."""
    at = s.find(x)
    if at != -1 and at <= 121:
        after = len(s) - at - len(x)
        if after < 250:
            if pre is not None and at == len(pre) and s[:at] == pre:
                return bytes((250, after)) + s[at + len(x) :]
            return bytes((128 + at,)) + s[:at] + bytes((after,)) + s[at + len(x) :]
    if len(s) < 128:
        return bytes((len(s),)) + s
    return b"\xff" + _H.pack(len(s)) + s


def _tdec(raw: bytes, p: int, x: bytes, pre: bytes) -> tuple[bytes, int]:
    v = raw[p]
    if v < 128:
        return raw[p + 1 : p + 1 + v], p + 1 + v
    if v == 255:
        n = _H.unpack_from(raw, p + 1)[0]
        return raw[p + 3 : p + 3 + n], p + 3 + n
    if v == 250:
        n = raw[p + 1]
        return pre + x + raw[p + 2 : p + 2 + n], p + 2 + n
    q = p + v - 128
    n = raw[q + 1]
    return raw[p + 1 : q + 1] + x + raw[q + 2 : q + 2 + n], q + 2 + n


# -- dossiers ----------------------------------------------------------------------------


_NOW_MAX = 1 << 62  # later than any event


def holder_of(links: list[tuple[int, bytes, bytes, bytes]], ms: int, own: bytes) -> bytes:
    """Who holds a dossier with these transfers (sorted) at epoch ms ``ms``; ``own`` when
    it never moved. See ``Dossier.holder_at``."""
    if not links:
        return own
    tos = {link[3] for link in links}
    held = next((link[2] for link in links if link[2] not in tos), links[0][2])
    used = [False] * len(links)
    moved = True
    while moved:
        moved = False
        for i, link in enumerate(links):
            if link[0] > ms:
                break
            if not used[i] and link[2] == held:
                held, used[i], moved = link[3], True, True
                break  # again from the earliest: one of the same instant may follow
    return held


class Dossier:
    """A dossier's state. ``decided``: per decision (resolved, returned, rated) ``None`` or
    (epoch ms, tie-breaker, flag); ``due_at``: ``None`` or (epoch ms, tie-breaker, due in
    force: epoch s, ``None`` when suspended); ``pre``: the text before the dossier id in its
    tie-breakers, ``None`` until the first one is written."""

    __slots__ = (
        "bits",
        "decided",
        "due_at",
        "ext",
        "flags",
        "ids",
        "links",
        "petition",
        "pre",
        "proc",
        "procs",
        "rday",
        "rday0",
        "supps",
    )

    def __init__(self, petition: bool = False) -> None:
        self.ids = b""
        self.rday: int | None = None
        self.bits = 0  # intake bits (a petition's: received, classification)
        self.procs: list[bytes] = []
        self.decided: list[tuple[int, bytes, bool] | None] = [None, None, None]
        self.due_at: tuple[int, bytes, float | None] | None = None
        self.flags = 0  # 1 withdrawn, 2 intake rejected
        self.pre: bytes | None = None
        # v1.2: E_SYNCED, E_APOLOGY, E_SUPP1/2; the procedure of its receipts (the least
        # code when they differ: order-independent); a petition (§4b) rather than a dossier
        self.ext = 0
        self.proc: bytes | None = None
        self.petition = petition
        # §4b transfers: (epoch ms, tie-breaker, from agency, to agency), sorted, the same
        # in every record of the dossier (each agency it went through keeps one: its
        # figures there); rday0: the earliest receipt day among those records (the receipt
        # month of its 766 open sets where it is held). Empty: the dossier never moved.
        self.links: list[tuple[int, bytes, bytes, bytes]] = []
        self.rday0: int | None = None
        # once linked: the supplement requests known for the dossier, by id hash (a record's
        # own from before it was linked by (agency, n): ``link_supplements``), so two
        # records' requests count as two and one seen twice as one (§8: a second is late)
        self.supps: list[bytes] = []

    # where the dossier is (§4b): its own agency's record unless it moved
    def holder_at(self, ms: int, own: bytes) -> bytes:
        """The agency holding the dossier at epoch ms ``ms`` (``own``: this record's): from
        the unit no transfer leads to, each transfer by then that leaves the holder of the
        moment, earliest first (a transfer and a reorganisation's hop of the same instant
        follow each other in the order the chain needs)."""
        return holder_of(self.links, ms, own)

    def held_by(self, own: bytes) -> bool:
        """Whether this record's agency holds the dossier now."""
        return not self.links or holder_of(self.links, _NOW_MAX, own) == own

    def receipt_day(self) -> int | None:
        """Its receipt day as the holder sees it (the origin's when it moved here)."""
        return self.rday0 if self.links else self.rday

    def counted_decided(self, own: bytes) -> list[tuple[int, bytes, bool] | None]:
        """Its decisions counted in this record's agency: those made while it held it."""
        if not self.links:
            return list(self.decided)
        return [
            d if d is not None and self.holder_at(d[0], own) == own else None for d in self.decided
        ]

    # the contribution's parts (§4a.1–4, §8)
    def cohort_bits(self) -> int:
        """Its cohort marks (``DOSSIER_COHORT_MARKS`` / ``PETITION_COHORT_MARKS`` by bit)."""
        bits = self.bits
        resolved, returned, rated = self.decided
        if self.petition:
            if resolved is not None:
                due = self.due_at[2] if self.due_at is not None else None
                if due is None or resolved[0] <= due * 1000:
                    bits |= PK_ON_TIME
                else:
                    bits |= PK_UNSAT_OR_LATE
            if rated is not None and not rated[2]:
                bits |= PK_UNSAT_OR_LATE
            return bits
        ext = self.ext
        if ext & E_SYNCED:
            bits |= C_SYNCED
        if returned is not None and returned[2]:
            bits |= C_RETURNED_E
        if ext & (E_APOLOGY | E_SUPP2) or (resolved is not None and not resolved[2]):
            bits |= C_LATE | C_UNSAT_OR_LATE
        if rated is not None and not rated[2]:
            bits |= C_UNSAT_OR_LATE
        return bits

    def receipt(self) -> tuple[int, int, int, bytes | None] | None:
        """(day, cohort bits, n procedures, procedure) of its receipt, unless none or
        rejected."""
        if self.rday is not None and not self.flags & 2:
            return self.rday, self.cohort_bits(), len(self.procs), self.proc
        return None

    def open766(self, own: bytes = b"") -> list[tuple[str, float]]:
        """The 766 open sets it is in (kind, score): see ``OPEN_DOSSIER``."""
        if self.receipt_day() is None or self.flags & 3 or not self.held_by(own):
            return []
        rated = self.decided[2]
        unsat = rated is not None and not rated[2]
        if self.petition:
            if self.decided[0] is not None:
                return []
            due = self.due_at[2] if self.due_at is not None else None
            pscore = due if due is not None and due >= 0 else INF
            kinds = (OPEN_PETITION, OPEN_PETITION_UNSAT) if unsat else (OPEN_PETITION,)
            return [(kind, pscore) for kind in kinds]
        if self.ext & (E_APOLOGY | E_SUPP2):
            return []  # overdue for good: counted in c_late
        score = self.open_score(own)
        if score is None:
            return []
        kinds = (OPEN_DOSSIER, OPEN_DOSSIER_UNSAT) if unsat else (OPEN_DOSSIER,)
        return [(kind, score) for kind in kinds]

    def open_score(self, own: bytes = b"") -> float | None:
        """Its score in the open set (due in force, ``inf`` if none), ``None``: not open
        (or, once it moved, not held by ``own``, this record's agency)."""
        if self.petition:
            return None
        if self.links and (self.rday0 is None or not self.held_by(own)):
            return None
        if (self.rday is not None or self.links) and self.decided[0] is None and not self.flags & 3:
            if self.due_at is not None:
                due = self.due_at[2]
                if due is not None and due >= 0:
                    return due
            return INF
        return None

    def _ties(self) -> list[bytes]:
        out = [d[1] for d in self.decided if d is not None]
        if self.due_at is not None:
            out.append(self.due_at[1])
        return out

    def fix_pre(self, ident: bytes) -> None:
        """The first tie-breaker written fixes the dossier's text before its id."""
        if self.pre is None:
            ties = self._ties()
            if ties:
                pre = b""
                for tie in ties:
                    at = tie.find(ident)
                    if at != -1:
                        if at <= 121:
                            pre = tie[:at]
                        break
                self.pre = pre

    @classmethod
    def decode(cls, raw: bytes, ident: bytes, agency: bytes, petition: bool = False) -> Dossier:
        st = cls(petition)
        f, rday, st.bits = _HHH.unpack_from(raw, 0)
        p = 6
        ext = 0
        if f & 4096:  # the v1.2 extension
            ext = _H.unpack_from(raw, 6)[0]
            p = 8
            st.bits |= (ext & 7) << V12_INTAKE_SHIFT
            st.ext = ext & ~(7 | E_PROC | E_PROC_FIRST)
            if ext & E_PROC:
                st.proc, p = _tdec(raw, p, agency, b"")
        if f & F_LINKED:  # §4b: it moved between agencies
            links = st.links
            n, p = _H.unpack_from(raw, p)[0], p + 2
            for _ in range(n):
                ts = int.from_bytes(raw[p : p + 6], "big")
                tie, p = _dec(raw, p + 6)
                frm, p = _dec(raw, p)
                to, p = _dec(raw, p)
                links.append((ts, tie, frm, to))
            day, n = _H.unpack_from(raw, p)[0], _H.unpack_from(raw, p + 2)[0]
            st.rday0 = None if day == 0xFFFF else day
            p += 4
            st.supps = [raw[q : q + 4] for q in range(p, p + 4 * n, 4)]
            p += 4 * n
        st.flags = f & 3
        if f & 4:
            st.rday = rday
        times: list[int | None] = [None, None, None]
        for i in range(3):
            if f & (64 << i):
                times[i] = int.from_bytes(raw[p : p + 6], "big")
                p += 6
        due_ts = None
        due: float | None = None
        if f & 512:
            due_ts = int.from_bytes(raw[p : p + 6], "big")
            p += 6
            if f & 2048:
                due = None
            elif f & 1024:
                due = _D.unpack_from(raw, p)[0]
                p += 8
            else:
                due = _I4.unpack_from(raw, p)[0]
                p += 4
        n = _H.unpack_from(raw, p)[0]
        pre, p = _dec(raw, p + 2)
        ties = False
        for i in range(3):
            t = times[i]
            if t is not None:
                tie, p = _tdec(raw, p, ident, pre)
                st.decided[i] = (t, tie, bool(f & (8 << i)))
                ties = True
        if due_ts is not None:
            tie, p = _tdec(raw, p, ident, pre)
            st.due_at = (due_ts, tie, due)
            ties = True
        if ties:
            st.pre = pre
        procs = st.procs
        for _ in range(n):
            proc, p = _tdec(raw, p, agency, b"")
            procs.append(proc)
        if ext & E_PROC_FIRST:
            st.proc = procs[0]
        st.ids = raw[p:]
        return st

    def encode(self, ident: bytes, agency: bytes) -> bytes:
        f = self.flags
        if self.rday is not None:
            f |= 4
        parts = [b""]
        for i, d in enumerate(self.decided):
            if d is not None:
                f |= 64 << i
                if d[2]:
                    f |= 8 << i
                parts.append(d[0].to_bytes(6, "big"))
        if self.due_at is not None:
            ts, _, due = self.due_at
            if due is None:
                f |= 2560
                parts.append(ts.to_bytes(6, "big"))
            elif 0 <= due < 4294967296 and due == int(due):
                f |= 512
                parts.append(ts.to_bytes(6, "big") + _I4.pack(int(due)))
            else:
                f |= 1536
                parts.append(ts.to_bytes(6, "big") + _D.pack(due))
        pre = self.pre if self.pre is not None else b""
        parts.append(_H.pack(len(self.procs)) + _enc(pre))
        for tie in self._ties():
            parts.append(_tenc(tie, ident, pre))
        for proc in self.procs:
            parts.append(_tenc(proc, agency, None))
        parts.append(self.ids)
        ext = ((self.bits >> V12_INTAKE_SHIFT) & 7) | self.ext
        own: bytes | None = self.proc
        if own is not None:
            if self.procs and self.procs[0] == own:
                ext |= E_PROC_FIRST
                own = None
            else:
                ext |= E_PROC
        head = b""
        if ext:  # v1.2 information: an extension after the head (v1.1 states unchanged)
            f |= 4096
            head = _H.pack(ext)
            if own is not None:
                head += _tenc(own, agency, None)
        if self.links:  # §4b transfers: after the extension (states that never moved unchanged)
            f |= F_LINKED
            out = [_H.pack(len(self.links))]
            for ts, tie, frm, to in self.links:
                out += [ts.to_bytes(6, "big"), _enc(tie), _enc(frm), _enc(to)]
            out.append(_H.pack(0xFFFF if self.rday0 is None else self.rday0))
            out += [_H.pack(len(self.supps)), *self.supps]
            head += b"".join(out)
        rday = self.rday if self.rday is not None else 0
        parts[0] = _HHH.pack(f, rday, self.bits & 0xFFFF) + head
        return b"".join(parts)


def _emit_receipt(
    ch: Changes,
    day: int,
    bits: int,
    table: tuple[str, ...],
    procs: list[bytes],
    start: int,
    end: int,
    n: int,
) -> None:
    while bits:
        low = bits & -bits
        ch.bump(day, table[low.bit_length() - 1], n)
        bits ^= low
    holders = ch.holders
    for proc in procs[start:end]:
        key = (day, proc.decode())
        holders[key] = holders.get(key, 0) + n


_FULL_ONLINE_BIT = INTAKE_BIT["received_full_online_online"]


def _counted(rc: tuple[int, int, int, bytes | None] | None) -> list[tuple[int, str, str]]:
    """The counted-set members of a receipt: its procedure's dossiers (and those returned
    with an electronic result, those received full-online)."""
    if rc is None or rc[3] is None:
        return []
    day, bits, proc = rc[0], rc[1], rc[3].decode()
    out = [(day, PROC_RECEIVED, proc)]
    if bits & C_RETURNED_E:
        out.append((day, PROC_RETURNED_E, proc))
    if bits & _FULL_ONLINE_BIT:
        out.append((day, PROC_FULL_ONLINE, proc))
    return out


def _move_receipt(
    ch: Changes, st: Dossier, before: tuple[int, int, int, bytes | None] | None
) -> None:
    after = st.receipt()
    if before == after:
        return
    table = PETITION_COHORT_MARKS if st.petition else DOSSIER_COHORT_MARKS
    if before is not None and after is not None and before[0] == after[0]:
        day, bits0, np0, _ = before
        _, bits1, np1, _ = after
        common = bits0 & bits1
        _emit_receipt(ch, day, bits0 - common, table, st.procs, 0, 0, -1)
        _emit_receipt(ch, day, bits1 - common, table, st.procs, np0, np1, 1)
    else:
        if before is not None:
            _emit_receipt(ch, before[0], before[1], table, st.procs, 0, before[2], -1)
        if after is not None:
            _emit_receipt(ch, after[0], after[1], table, st.procs, 0, after[2], 1)
    old, new = _counted(before), _counted(after)
    if old != new:
        for day, name, member in old:
            ch.count(day, name, member, -1)
        for day, name, member in new:
            ch.count(day, name, member, 1)


def _emit_decided(ch: Changes, i: int, d: tuple[int, bytes, bool] | None, n: int) -> None:
    if d is not None:
        day = local_day(d[0])
        mark, positive = DECISION_MARKS[i]
        ch.bump(day, mark, n)
        if d[2]:
            ch.bump(day, positive, n)


def apply_dossier(st: Dossier, step: Step, ident: bytes, ch: Changes, agency: bytes = b"") -> bool:
    """Apply one event to a dossier's (or petition's) state (in place), adding its counter
    changes to ``ch`` (not its open scores: see :func:`apply_entity`). False: its id was
    applied before. ``agency``: the record's (where a dossier that moved counts what)."""
    if _seen(st.ids, step.hid):
        return False
    st.ids += step.hid
    ch.applied += 1
    kind = step.kind
    if kind == PAYMENT:
        # §4a.5: every payment is a transaction, in its own period
        day = local_day(step.ts)
        ch.bump(day, PAYMENT_MARK, 1)
        member = ident.decode()
        ch.sets.add((day, DOS_PAID, member))
        if step.flag:
            ch.bump(day, PAYMENT_ONLINE_MARK, 1)
            ch.paid_online.add((day, step.proc))
            ch.sets.add((day, DOS_PAID_ONLINE, member))
        return True
    if st.links or kind == TRANSFERRED:
        # it moved (or moves now): what counts here depends on when it was held here
        counted0 = st.counted_decided(agency)
        before = st.receipt()
        if kind == TRANSFERRED:
            if not st.links:
                link_supplements(st, agency)
            add_link(st, (step.ts, step.tie, agency, step.proc.encode()))
        _apply_lifecycle(st, step, kind, False)
        _move_decided(ch, counted0, st.counted_decided(agency))
        if st.rday is not None and (st.rday0 is None or st.rday < st.rday0):
            st.rday0 = st.rday
        _move_receipt(ch, st, before)
        st.fix_pre(ident)
        return True
    before = st.receipt()
    _apply_lifecycle(st, step, kind, not st.petition, ch)
    _move_receipt(ch, st, before)
    st.fix_pre(ident)
    return True


def link_supplements(st: Dossier, agency: bytes) -> None:
    """A record about to be linked: its own supplement requests (known by count only) as
    ids of their own, (agency, n)."""
    n = 2 if st.ext & E_SUPP2 else 1 if st.ext & E_SUPP1 else 0
    for k in range(n):
        hid = _blake2b(agency + b"\x00" + bytes((k,)), digest_size=4).digest()
        if hid not in st.supps:
            st.supps.append(hid)
    st.supps.sort()


def _supplement_bits(st: Dossier) -> None:
    n = len(st.supps)
    st.ext = (st.ext & ~(E_SUPP1 | E_SUPP2)) | (E_SUPP1 if n else 0) | (E_SUPP2 if n > 1 else 0)


def add_link(st: Dossier, link: tuple[int, bytes, bytes, bytes]) -> bool:
    """Record a transfer (kept sorted, each once); False when it was known."""
    links = st.links
    if link in links:
        return False
    links.append(link)
    links.sort()
    return True


def _move_decided(
    ch: Changes,
    old: list[tuple[int, bytes, bool] | None],
    new: list[tuple[int, bytes, bool] | None],
) -> None:
    for i in range(3):
        a, b = old[i], new[i]
        if a != b and (a is None or b is None or a[0] != b[0] or a[2] != b[2]):
            _emit_decided(ch, i, a, -1)
            _emit_decided(ch, i, b, 1)


def _apply_lifecycle(
    st: Dossier, step: Step, kind: str, emit: bool, ch: Changes | None = None
) -> None:
    """The state change of a dossier event (``emit``: count a decision that changes here,
    in ``ch``; else the caller compares what is counted before and after)."""
    if kind in (RECEIVED, DUE_CHANGED) or (kind == TRANSFERRED and step.flag):
        if kind == RECEIVED:
            day = local_day(step.ts)
            if st.rday is None or day < st.rday:
                st.rday = day
            st.bits |= step.bits
            for proc in step.procs:
                if proc not in st.procs:
                    st.procs.append(proc)
            if step.proc:
                code = step.proc.encode()
                if st.proc is None or code < st.proc:
                    st.proc = code
        elif step.bits & APOLOGY:
            st.ext |= E_APOLOGY  # §4b: late already, the new date does not make it on time
        elif step.bits & SUPPLEMENT:
            if st.links:  # the dossier's requests, wherever sent
                if step.hid not in st.supps:
                    st.supps.append(step.hid)
                    st.supps.sort()
                _supplement_bits(st)
            else:
                st.ext |= E_SUPP2 if st.ext & E_SUPP1 else E_SUPP1  # a second one: late (§8)
        # §4a.3: the due time in force is the latest received / due_changed's
        cur = st.due_at
        if cur is None or cur[0] < step.ts or (cur[0] == step.ts and cur[1] < step.tie):
            st.due_at = (step.ts, step.tie, step.due)
    elif kind in DECISIONS:
        # §4a.2: the earliest decides
        i = DECISIONS[kind]
        old = st.decided[i]
        if old is None or step.ts < old[0] or (step.ts == old[0] and step.tie < old[1]):
            new = (step.ts, step.tie, step.flag)
            st.decided[i] = new
            if emit and ch is not None and (old is None or old[0] != new[0] or old[2] != new[2]):
                _emit_decided(ch, i, old, -1)
                _emit_decided(ch, i, new, 1)
    elif kind == WITHDRAWN:
        st.flags |= 1
    elif kind == REJECTED:
        st.flags |= 2
    elif kind == SYNCED:
        st.ext |= E_SYNCED


# -- documents and work files -----------------------------------------------------------


def _lua_hash(s: bytes) -> int:
    """Lua 5.1's string hash (lstring.c), on 32 bits."""
    h = len(s)
    step = (len(s) >> 5) + 1
    n = len(s)
    while n >= step:
        h = (h ^ (((h << 5) & 0xFFFFFFFF) + (h >> 2) + s[n - 1])) & 0xFFFFFFFF
        n -= step
    return h


def _lua_order(keys: list[bytes]) -> list[bytes]:
    """The order Lua 5.1's ``pairs`` visits string keys inserted in this order into an
    empty table (ltable.c: rehash to the next power of two when no node is free, old nodes
    re-inserted last first, colliding keys into the last free node)."""
    size = 0
    nodes: list[bytes | None] = []
    nexts: list[int] = []
    lastfree = 0

    def insert(key: bytes) -> bool:
        nonlocal lastfree
        if size == 0:
            return False
        mp = _lua_hash(key) & (size - 1)
        if nodes[mp] is None:
            nodes[mp] = key
            return True
        free = -1
        while lastfree > 0:
            lastfree -= 1
            if nodes[lastfree] is None:
                free = lastfree
                break
        if free == -1:
            return False
        other = nodes[mp]
        assert other is not None
        othern = _lua_hash(other) & (size - 1)
        if othern != mp:
            while nexts[othern] != mp:
                othern = nexts[othern]
            nexts[othern] = free
            nodes[free], nexts[free] = other, nexts[mp]
            nexts[mp] = -1
            nodes[mp] = key
        else:
            nexts[free] = nexts[mp]
            nexts[mp] = free
            nodes[free] = key
        return True

    count = 0
    for key in keys:
        if not insert(key):
            old = [k for k in nodes if k is not None]
            count = len(old) + 1
            size = 1 << (count - 1).bit_length()
            nodes, nexts, lastfree = [None] * size, [-1] * size, size
            for k in reversed(old):
                insert(k)
            insert(key)
    return [k for k in nodes if k is not None]


class Document:
    """A document's or work file's state: each mark's earliest local day, in the order
    it is written (after an event, Lua's ``pairs`` order: ``apply_document``)."""

    __slots__ = ("ids", "marks")

    def __init__(self) -> None:
        self.ids = b""
        self.marks: dict[bytes, int] = {}

    @classmethod
    def decode(cls, raw: bytes) -> Document:
        st = cls()
        p = 1
        for _ in range(raw[0]):
            mark, p = _dec(raw, p)
            st.marks[mark] = _H.unpack_from(raw, p)[0]
            p += 2
        st.ids = raw[p:]
        return st

    def encode(self) -> bytes:
        marks = self.marks
        out = [bytes((len(marks),))]
        out += [_enc(m) + _H.pack(day) for m, day in marks.items()]
        out.append(self.ids)
        return b"".join(out)


def apply_document(st: Document, step: Step, ch: Changes) -> bool:
    """Each mark at its earliest occurrence (only its day counts)."""
    if _seen(st.ids, step.hid):
        return False
    st.ids += step.hid
    ch.applied += 1
    if step.kind == PUBLISHED:  # v1.2: the publication, its flags in its member
        ch.published.append((step.ts, f"{step.proc}|{step.hid.hex()}|{step.marks[0]}"))
        return True
    day = local_day(step.ts)
    for mark in step.marks:
        key = mark.encode()
        old = st.marks.get(key)
        if old is None or day < old:
            if old is not None:
                ch.bump(old, mark, -1)
            ch.bump(day, mark, 1)
            st.marks[key] = day
    if len(st.marks) > 1:
        # the v1.1 script re-read the state after each event: its marks in Lua's order
        st.marks = {k: st.marks[k] for k in _lua_order(list(st.marks))}
    return True


# -- one entity's events ----------------------------------------------------------------


# local day number -> its month (YYYYMM)
_MONTHS: dict[int, str] = {}


def local_month(day: int) -> str:
    """The month (YYYYMM) of a local day number."""
    hit = _MONTHS.get(day)
    if hit is None:
        t = time.gmtime(day * DAY_S)
        hit = _MONTHS[day] = f"{t.tm_year:04d}{t.tm_mon:02d}"
    return hit


def _members766(st: Dossier, own: bytes = b"") -> dict[tuple[str, str], float]:
    day = st.receipt_day()
    if day is None:
        return {}
    month = local_month(day)
    return {(kind, month): score for kind, score in st.open766(own)}


def apply_entity(
    raw: bytes | None,
    steps: Iterable[Step],
    ident: str,
    agency: str,
    ch: Changes,
    *,
    document: bool = False,
    petition: bool = False,
) -> tuple[bytes | None, list[bool]]:
    """Apply events in order to one entity's stored state (``None``: none yet): its new
    state (``None`` when no event applied) and, per event, whether it applied (False: its
    id was applied before). The counter changes and, for a dossier or petition, its open
    scores where they changed, are added to ``ch``. ``document``: a document, work file or
    procedure (marks, not a lifecycle); ``petition``: a petition (§4b)."""
    flags: list[bool] = []
    if document:
        doc = Document.decode(raw) if raw is not None else Document()
        for step in steps:
            flags.append(apply_document(doc, step, ch))
        return (doc.encode() if any(flags) else None), flags
    ib, ab = ident.encode(), agency.encode()
    st = Dossier.decode(raw, ib, ab, petition) if raw is not None else Dossier(petition)
    open0 = st.open_score(ab)
    in0 = _members766(st, ab)
    received = False
    for step in steps:
        flags.append(apply_dossier(st, step, ib, ch, ab))
        received = received or step.kind == RECEIVED
    # (even after a redelivered event: a crash may have come before what follows)
    if st.links:  # its other records share what happened
        ch.linked.append(ident)
    if not petition:  # (open or not, linked or not: whichever comes first, they get linked)
        if st.rday is None:
            ch.unrooted.append(ident)
        elif received:
            ch.rooted.append(ident)
    if not any(flags):
        return None, flags
    _move_open(ch, ident, open0, in0, st, ab)
    return st.encode(ib, ab), flags


def _move_open(
    ch: Changes,
    ident: str,
    open0: float | None,
    in0: dict[tuple[str, str], float],
    st: Dossier,
    own: bytes,
) -> None:
    open1 = st.open_score(own)
    if open1 != open0:
        ch.open[ident] = open1
    in1 = _members766(st, own)
    if in1 != in0:
        for kind, month in in0:
            if (kind, month) not in in1:
                ch.open766[(kind, month, ident)] = None
        for key, score in in1.items():
            if in0.get(key) != score:
                ch.open766[(key[0], key[1], ident)] = score


def merge_dossier(dst: Dossier, src: Dossier, own: bytes) -> bool:
    """Join into ``dst`` the facts of another record of the same dossier (§4b: a dossier's
    identity spans the agencies it went through): the earliest decisions, the due time in
    force, withdrawn / rejected, the shared extension bits, the transfers and the earliest
    receipt day. A join — order-independent, idempotent — so records merged in any order
    converge. Not shared: the receipt's own marks and the applied ids. ``own``: ``dst``'s
    agency. True: it changed."""
    changed = False
    for i in range(3):
        s = src.decided[i]
        if s is not None:
            d = dst.decided[i]
            if d is None or (s[0], s[1]) < (d[0], d[1]):
                dst.decided[i] = s
                changed = True
    s_due = src.due_at
    if s_due is not None:
        d_due = dst.due_at
        if d_due is None or (d_due[0], d_due[1]) < (s_due[0], s_due[1]):
            dst.due_at = s_due
            changed = True
    if src.flags & 3 & ~dst.flags:
        dst.flags |= src.flags & 3
        changed = True
    shared = src.ext & (E_SYNCED | E_APOLOGY)
    if shared & ~dst.ext:
        dst.ext |= shared
        changed = True
    if src.links and not dst.links:
        link_supplements(dst, own)  # it joins the linked records now
    for link in src.links:
        changed = add_link(dst, link) or changed
    if dst.links or src.supps:
        added = [hid for hid in src.supps if hid not in dst.supps]
        if added:
            dst.supps = sorted(dst.supps + added)
        before = dst.ext
        _supplement_bits(dst)
        changed = changed or bool(added) or dst.ext != before
    for day in (src.rday0, src.rday, dst.rday):
        if day is not None and (dst.rday0 is None or day < dst.rday0):
            dst.rday0 = day
            changed = True
    return changed


def merge_entity(
    raw: bytes | None, src: Dossier, ident: str, agency: str, ch: Changes
) -> bytes | None:
    """Merge another record's facts into this agency's record of the dossier (``None``:
    none yet), its counter changes and open scores in ``ch``: its new state, or ``None``
    when nothing changed. No event applies (``ch.applied`` stays)."""
    ib, ab = ident.encode(), agency.encode()
    st = Dossier.decode(raw, ib, ab) if raw is not None else Dossier()
    open0, in0 = st.open_score(ab), _members766(st, ab)
    counted0, receipt0 = st.counted_decided(ab), st.receipt()
    if not merge_dossier(st, src, ab):
        return None
    _move_decided(ch, counted0, st.counted_decided(ab))
    _move_receipt(ch, st, receipt0)
    st.fix_pre(ib)
    _move_open(ch, ident, open0, in0, st, ab)
    return st.encode(ib, ab)


def linked_agencies(raw: bytes, ident: str, agency: str) -> set[str]:
    """The agencies a dossier's record names in its transfers (its other records)."""
    st = Dossier.decode(raw, ident.encode(), agency.encode())
    return {code.decode() for link in st.links for code in link[2:]}


def share_records(
    records: dict[str, bytes | None],
    ident: str,
    links: Iterable[tuple[int, bytes, bytes, bytes]] = (),
) -> dict[str, tuple[bytes, Changes]]:
    """Every record of a moved dossier (agency → state, ``None``: none yet) brought to the
    join of all (:func:`merge_dossier`) and of ``links`` (transfers a reorganisation
    implies: ``shared.domain.succession``): per record that changed, its new state and
    counter changes."""
    ib = ident.encode()
    joined = Dossier()
    for link in links:
        add_link(joined, link)
    for code, raw in records.items():
        if raw is not None:
            ab = code.encode()
            st = Dossier.decode(raw, ib, ab)
            if not st.links:
                link_supplements(st, ab)
            merge_dossier(joined, st, b"")
    out: dict[str, tuple[bytes, Changes]] = {}
    for code, raw in records.items():
        ch = Changes()
        new = merge_entity(raw, joined, ident, code, ch)
        if new is not None:
            out[code] = (new, ch)
    return out


# -- events of the contract -------------------------------------------------------------

# the epoch in the tzinfo msgspec decodes +07:00 stamps with: subtracting two datetimes of
# one tzinfo object skips their conversion to UTC (same result, 2.5× faster)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC).astimezone(DECODED_LOCAL_TZ)
_MS = timedelta(milliseconds=1)
# (service level, channel, submitted by, via one-stop, digitized) → (intake bits, whether
# the receipt makes its procedure one with an online dossier)
_INTAKE: dict[tuple[Any, ...], tuple[int, bool]] = {}


def intake_bits(event: DossierReceived) -> tuple[int, bool]:
    """A receipt's intake bits and whether it makes its procedure one with an online dossier
    (what ``intake_items`` says, computed once per combination)."""
    key = (
        event.service_level,
        event.channel,
        event.submitted_by,
        event.via_one_stop,
        event.digitized,
    )
    hit = _INTAKE.get(key)
    if hit is None:
        bits = 0
        online = False
        for item in intake_items(event):
            if item.startswith(PROCEDURE_ITEM):
                online = True
            else:
                bits |= INTAKE_BIT[item]
        hit = _INTAKE[key] = (bits, online)
    return hit


def _received_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    bits, online = intake_bits(event)
    # v1.2 intake flags (§4b): absent from a v1.1 event's model, false
    if getattr(event, "reused_digitized_data", False):
        bits |= 1 << V12_INTAKE_SHIFT
    if getattr(event, "digitized_shared", False):
        bits |= 2 << V12_INTAKE_SHIFT
    if getattr(event, "citizen_data_used", False):
        bits |= 4 << V12_INTAKE_SHIFT
    procs = (event.procedure_code.encode(),) if online else ()
    due = event.due_at.timestamp()
    return Step(RECEIVED, hid, tie, ts, due=due, bits=bits, procs=procs, proc=event.procedure_code)


def _resolved_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    return Step(RESOLVED, hid, tie, ts, flag=event.occurred_at <= event.due_at)


def _returned_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    return Step(RETURNED, hid, tie, ts, flag=event.result_electronic)


def _rated_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    return Step(RATED, hid, tie, ts, flag=event.satisfaction != Satisfaction.unsatisfied)


def _payment_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    online = event.method is PaymentMethod.online
    return Step(PAYMENT, hid, tie, ts, flag=online, proc=event.procedure_code)


def _due_changed_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    due = event.due_at.timestamp() if event.due_at is not None else None
    reason = event.reason
    bits = APOLOGY if reason == "apology_redated" else 0
    if reason == "supplement_requested":
        bits = SUPPLEMENT
    return Step(DUE_CHANGED, hid, tie, ts, due=due, bits=bits)


def _withdrawn_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    return Step(WITHDRAWN, hid, tie, ts)


def _rejected_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    return Step(REJECTED, hid, tie, ts)


def _synced_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    return Step(SYNCED, hid, tie, ts)


def _transferred_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    due = event.due_at
    if due is None:
        return Step(TRANSFERRED, hid, tie, ts, proc=event.to_agency_code)
    # a new due time: in force like a due_changed's (§4a.3)
    to = event.to_agency_code
    return Step(TRANSFERRED, hid, tie, ts, due=due.timestamp(), flag=True, proc=to)


def _petition_received_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    bits = PK_RECEIVED
    if event.classification == "procedure":
        bits |= PK_PROCEDURE
    elif event.classification == "staff":
        bits |= PK_STAFF
    return Step(RECEIVED, hid, tie, ts, due=event.due_at.timestamp(), bits=bits)


def _petition_resolved_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    return Step(RESOLVED, hid, tie, ts)  # on time or not: against its due (cohort_bits)


def _published_step(event: Any, hid: bytes, tie: bytes, ts: int) -> Step:
    flags = "".join(
        "1" if getattr(event, name) else "0"
        for name in ("decision_on_time", "publicized", "publicized_on_time", "content_complete")
    )
    return Step(PUBLISHED, hid, tie, ts, proc=event.procedure_code, marks=(flags,))


# event type -> its step (the other events mark documents and work files)
_STEPS: dict[str, Callable[[Any, bytes, bytes, int], Step]] = {
    "received": _received_step,
    "resolved": _resolved_step,
    "returned": _returned_step,
    "rated": _rated_step,
    "payment": _payment_step,
    "due_changed": _due_changed_step,
    "withdrawn": _withdrawn_step,
    "intake_rejected": _rejected_step,
    "portal_synced": _synced_step,
    "transferred": _transferred_step,
    "petition_received": _petition_received_step,
    "petition_resolved": _petition_resolved_step,
    "petition_rated": _rated_step,
    "procedure_published": _published_step,
}
_blake2b = hashlib.blake2b


def step_of(event: AnyEvent) -> Step:
    """The rules' view of a contract event."""
    tie = event.event_id.encode()
    hid = _blake2b(tie, digest_size=4).digest()
    ts = (event.occurred_at - _EPOCH) // _MS
    build = _STEPS.get(event.event_type)
    if build is not None:
        return build(event, hid, tie, ts)
    return Step(MARKED, hid, tie, ts, marks=tuple(marks_for(event)))


# -- the compiled copy ------------------------------------------------------------------
# Everything above is also compiled to C with mypyc (``scripts/compile_rules.py``, run by
# the bootstrap and the images): the calculator applies every event through it, and
# compiled it costs about a third. The compiled copy replaces it only when it was built
# from this very source (``shared.platform.compiled``), so an edited rule is never shadowed by a
# stale build.
from shared.platform.compiled import use_compiled  # noqa: E402

COMPILED = use_compiled(globals(), __file__, "shared.domain._lifecycle_compiled")
