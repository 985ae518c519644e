"""Redis key layout. Every key of an agency carries ``{agency}`` as a hash tag, so a Redis
Cluster keeps one agency's keys (its apply script's, its applied offsets, its data version)
on one slot, and the agencies spread over the primaries. Keys read or written together
across agencies are never in one command: per-key pipelines
(``shared/store/indicator_store.py``). Outside this module, keys written together share one
tag: ``alert:{alerts}:…``/``outbox:{alerts}:…`` (shared/store/alert_commands.py,
services/alerts/outbox.py), ``catalog:{catalog}:…`` (shared/store/catalogs.py),
``lastseen:{lastseen}:…`` (shared/store/last_seen.py). The untagged keys
(``keyspace:current``, ``keyspace:seq``, the central ``applied:offsets``) are single-key
reads and writes.

Derived state (entities, counters, sets, open dossiers, applied offsets) lives in a
*keyspace*: a key prefix (``""`` for the original one, ``ks<N>:`` for each rebuild).
``keyspace:current`` names the one readers use; a rebuild derives into a fresh keyspace and
switches it over in one SET, so readers never see partial figures. Data versions, catalogs
and alerts are outside any keyspace.
"""

from __future__ import annotations

import zlib
from datetime import date

from shared.domain.periods import decompose

KEYSPACE_CURRENT = "keyspace:current"
KEYSPACE_SEQ = "keyspace:seq"
# Held by the one `egov rebuild` running (a token, with a lease it renews): a second one is
# refused instead of deleting the first one's keyspace as abandoned.
REBUILD_LOCK = "rebuild:lock"
# Held by `egov restore` while it replaces the database (a token, with a lease it renews):
# a calculator waits at its start while it is there, and a batch meeting it fails (the
# calculator exits before acking; restarted, it waits), so nothing is applied onto a
# half-restored Redis.
RESTORE_FENCE = "restore:fence"
# Closed years whose closed entity states were moved to a file (`egov years archive`): hash
# YEAR → JSON (file name, sha256 of the file, states moved, when). Outside any keyspace
# (it says what the log's events of that year may no longer change): the calculator
# dead-letters events dated in those years, `egov rebuild` refuses while any is listed
# (shared/store/archived_years.py, services/ops/years.py).
ARCHIVED_YEARS = "years:archived"


def tag(agency: str) -> str:
    return f"{{{agency}}}"


# Entity states live in per-agency bucket hashes (field = entity id), a number of buckets
# per family: each bucket one small listpack (Redis config: REDIS_LISTPACK_CONFIG) instead
# of a key per entity. Dossiers: a year of the largest agency (75,000) makes ~73 a bucket
# (4,096 buckets measured no faster on the whole simulated year, and 0.4 MB per 100,000
# dossiers larger); documents and work files (~1,200 a year each) ~5.
# Petitions (contract v1.2: a few hundred a year in a whole province) and procedures (one
# state per published procedure: ~300 in the largest agency) ~5 at most.
ENTITY_BUCKETS = {"d": 1024, "doc": 256, "wf": 256, "pk": 64, "proc": 64}

# redis-server settings the entity buckets need to stay listpacks (a state is ~100-200
# bytes; a bucket holds up to ~500 states before it turns into a hashtable: still
# correct, only larger). Used by devstack, docker-compose.yml and the test fixtures.
REDIS_LISTPACK_CONFIG = {"hash-max-listpack-entries": "512", "hash-max-listpack-value": "512"}


def entity(agency: str, entity_key: str, ks: str = "") -> str:
    """The bucket hash holding an entity's state (``entity_key``: ``d:<dossier>``,
    ``doc:<id>``, ``wf:<id>``, ``pk:<petition>``, ``proc:<procedure>``) under the field
    ``<id>``: its applied event ids and the lifecycle state of
    ``shared/store/lua/apply_batch.lua`` (a document's: the day of each mark's first
    occurrence). The bucket is the id's CRC-32 modulo the family's
    ``ENTITY_BUCKETS``."""
    family, _, ident = entity_key.partition(":")
    return entity_of(agency, family, ident, ks)


def entity_of(agency: str, family: str, ident: str, ks: str = "") -> str:
    """:func:`entity` of the entity ``<family>:<ident>``."""
    bucket = zlib.crc32(ident.encode()) % ENTITY_BUCKETS[family]
    return f"{ks}ent:{{{agency}}}:{family}{bucket}"


def counters_prefix(agency: str, ks: str = "") -> str:
    """Prefix of an agency's counter hashes: ``<prefix>D20240131``, ``M202401``, ``Y2024``."""
    return f"{ks}cnt:{{{agency}}}:"


def set_prefix(agency: str, name: str, ks: str = "") -> str:
    """Per-period distinct sets (``<prefix>D20240131``…), e.g. procedures paid online."""
    return f"{ks}set:{{{agency}}}:{name}:"


# Per-period sets whose members can leave again (a dossier's intake rejected, its cohort
# moved): hashes member → number of dossiers holding it, members at 0 removed.
COUNTED_SETS = frozenset({"proc_online", "proc_received", "proc_returned_e", "proc_full_online"})


def counted_set_prefix(agency: str, name: str, ks: str = "") -> str:
    """Per-period counted sets (``<prefix>D20240131``…): procedures with online dossiers."""
    return f"{ks}pset:{{{agency}}}:{name}:"


def open_dossiers(agency: str, ks: str = "") -> str:
    """Sorted set of the agency's open dossiers, scored by the due time in force (epoch
    seconds; ``+inf`` while suspended)."""
    return f"{ks}open:{{{agency}}}"


def open766(agency: str, kind: str, month: str, ks: str = "") -> str:
    """Sorted set of the entities the Decision 766 index judges at its evaluation instant
    (``shared.domain.lifecycle``: ``d`` dossiers open and not overdue for good, ``du`` those
    rated unsatisfied, ``p`` petitions open, ``pu`` those rated unsatisfied), received in
    ``month`` (YYYYMM), scored by the due time in force (epoch s, ``+inf``: clock stopped)."""
    return f"{ks}o766:{{{agency}}}:{kind}:{month}"


def publications(agency: str, ks: str = "") -> str:
    """Sorted set of the agency's procedure publications (v1.2 ``procedure_published``):
    member ``<procedure>|<event id hash>|<flags>`` (flags: decision on time, publicized,
    publicized on time, content complete, each ``0``/``1``), score its epoch ms."""
    return f"{ks}pub:{{{agency}}}"


DATA_VERSION_PREFIX = "ver:"


def data_version(agency: str) -> str:
    """Version of the agency's figures: raised by every write that changes them, never
    reset (a fresh key starts at the server's clock in microseconds), so a reader can cache
    figures and know exactly when they are stale."""
    return f"{DATA_VERSION_PREFIX}{tag(agency)}"


PERIOD_VERSIONS_PREFIX = "verp:"
# The field of :func:`period_versions` raised with every field at once (a rebuild, a
# restore: every figure may have changed).
EVERY_PERIOD = "all"


def period_versions(agency: str) -> str:
    """Versions of the agency's bucketed figures per period: a hash, field ``YYYYMM`` raised
    by every write to a day or month bucket of that month, ``YYYY`` by every write to that
    year's bucket, each to the agency's new data version (:func:`data_version`), and
    ``all`` by a rebuild or restore. A read of closed months keys its cache on their fields
    (:func:`period_version_fields`), so today's writes do not make it stale; only what
    reads buckets alone may (not the open dossiers, the 766 open sets or publications)."""
    return f"{PERIOD_VERSIONS_PREFIX}{tag(agency)}"


def bucket_version_field(bucket: str) -> str | None:
    """The :func:`period_versions` field a bucket key's write raises (``…:D20261203`` →
    ``202612``, ``…:M202612`` → ``202612``, ``…:Y2026`` → ``2026``); None for a key that
    is not a bucket."""
    suffix = bucket.rpartition(":")[2]
    kind, digits = suffix[:1], suffix[1:]
    if not digits.isdigit():
        return None
    if (kind, len(digits)) in (("D", 8), ("M", 6)):
        return digits[:6]
    if (kind, len(digits)) == ("Y", 4):
        return digits
    return None


def period_version_fields(start: date, end: date) -> list[str]:
    """The :func:`period_versions` fields of every bucket a read of [start, end] sums
    (``shared.domain.periods.decompose``), led by ``all``."""
    buckets = decompose(start, end)
    fields = [EVERY_PERIOD, *(f"{y:04d}" for y in buckets.years)]
    fields += [f"{y:04d}{m:02d}" for y, m in buckets.months]
    fields += [f"{d.year:04d}{d.month:02d}" for d in buckets.days]
    return list(dict.fromkeys(fields))


def stats(agency: str, ks: str = "") -> str:
    """Hash of the agency's bookkeeping: ``events`` = distinct event ids applied."""
    return f"{ks}stat:{{{agency}}}"


def applied_agency(agency: str, ks: str = "") -> str:
    """Hash ``<topic>:<partition>`` → offset of the last record of a batch whose events of
    this agency are all in the keyspace: raised by the apply script in the same atomic
    call as the agency's figures, on the agency's slot (so a primary that lost writes in a
    failover also lost the offsets that claimed them)."""
    return f"{ks}applied:{{{agency}}}"


def applied_offsets(ks: str = "") -> str:
    """The central hash (one slot), raised once every agency call of a batch succeeded:
    ``<topic>:<partition>`` → the batch's last offset, and ``<topic>:<partition>|<agency>``
    → the offset that agency's own hash (:func:`applied_agency`) must have reached. An
    agency below it, or the central offset below what the calculator processed, is a gap
    to re-apply from the event log (``IndicatorStore.gaps``)."""
    return f"{ks}applied:offsets"


# The layout of the derived state this code writes and reads, recorded in each keyspace as
# the field ``layout`` of its central applied offsets (:func:`applied_offsets`): raised with
# every batch's offsets (so a rebuild's, a restore's tail's and a Redis refilled from the
# log carry it), and set by the calculator's first start on an empty keyspace (or on one
# this layout wrote before the marker: recognised and marked). A calculator finding
# another layout — or none over figures of an earlier one (per-entity keys) — refuses to
# start (exit 78, naming ``egov rebuild``: shared/store/layout.py), and ``egov restore``
# refuses such a snapshot: applying the log onto state it cannot read back counts every
# event again.
# Bump it with any change that makes the state written before unreadable or miscounted by
# the new code: key names or hash tags, the entity-state encoding or its buckets, counter
# or set fields, the apply script's bookkeeping (seen ids, applied offsets). The upgrade is
# then `egov rebuild` (a fresh keyspace derived from offset 0).
# 3: bucketed MessagePack entity state, per-agency applied offsets (issue 12) — the first
# layout recorded; the earlier ones (per-entity keys) carry no version.
# 4: contract v1.2 and the Decision 766 inputs — cohort marks (c_*, pk_*, the v1.2 intake
# flags), counted sets proc_received / proc_returned_e, sets dos_paid(_online), the 766
# open sets (o766:) and publications (pub:); a dossier's state gains its procedure. The
# state of layout 3 still reads, but the figures it implies were never written for the
# events already applied: `egov rebuild`.
# 5: the counted set proc_full_online (per procedure, dossiers received full-online: the
# per-procedure view, issue 18). Nothing of layout 4 changes, but a keyspace of layout 4
# holds no such set for the events already applied, so every procedure would read 0
# full-online dossiers: `egov rebuild`.
LAYOUT_VERSION = 5
LAYOUT_FIELD = "layout"

# Patterns of every derived key of a keyspace (what a rebuild replaces).
DERIVED_KINDS = ("ent:", "cnt:", "set:", "pset:", "open:", "o766:", "pub:", "stat:", "applied:")
