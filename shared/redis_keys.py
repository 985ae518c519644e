"""Redis key layout. Every key of an agency carries ``{agency}`` as a hash tag, so a Redis
Cluster keeps one agency's keys (and its apply script) on one slot.

Derived state (entities, counters, sets, open dossiers, applied offsets) lives in a
*keyspace*: a key prefix (``""`` for the original one, ``ks<N>:`` for each rebuild).
``keyspace:current`` names the one readers use; a rebuild derives into a fresh keyspace and
switches it over in one SET, so readers never see partial figures. Data versions, catalogs
and alerts are outside any keyspace.
"""

from __future__ import annotations

KEYSPACE_CURRENT = "keyspace:current"
KEYSPACE_SEQ = "keyspace:seq"


def tag(agency: str) -> str:
    return f"{{{agency}}}"


def entity(agency: str, entity_key: str, ks: str = "") -> str:
    """Per-entity state: seen event ids (``e:<id>``) and the lifecycle fields of
    ``shared/lua/apply_batch.lua`` (a document's: first occurrence of each mark)."""
    return f"{ks}ent:{{{agency}}}:{entity_key}"


def counters_prefix(agency: str, ks: str = "") -> str:
    """Prefix of an agency's counter hashes: ``<prefix>D20240131``, ``M202401``, ``Y2024``."""
    return f"{ks}cnt:{{{agency}}}:"


def set_prefix(agency: str, name: str, ks: str = "") -> str:
    """Per-period distinct sets (``<prefix>D20240131``…), e.g. procedures paid online."""
    return f"{ks}set:{{{agency}}}:{name}:"


# Per-period sets whose members can leave again (a dossier's intake rejected, its cohort
# moved): hashes member → number of dossiers holding it, members at 0 removed.
COUNTED_SETS = frozenset({"proc_online"})


def counted_set_prefix(agency: str, name: str, ks: str = "") -> str:
    """Per-period counted sets (``<prefix>D20240131``…): procedures with online dossiers."""
    return f"{ks}pset:{{{agency}}}:{name}:"


def open_dossiers(agency: str, ks: str = "") -> str:
    """Sorted set of the agency's open dossiers, scored by the due time in force (epoch
    seconds; ``+inf`` while suspended)."""
    return f"{ks}open:{{{agency}}}"


DATA_VERSION_PREFIX = "ver:"


def data_version(agency: str) -> str:
    """Version of the agency's figures: raised by every write that changes them, never
    reset (a fresh key starts at the server's clock in microseconds), so a reader can cache
    figures and know exactly when they are stale."""
    return f"{DATA_VERSION_PREFIX}{tag(agency)}"


def stats(agency: str, ks: str = "") -> str:
    """Hash of the agency's bookkeeping: ``events`` = distinct event ids applied."""
    return f"{ks}stat:{{{agency}}}"


def applied_offsets(ks: str = "") -> str:
    """Hash ``<topic>:<partition>`` → offset of the last record whose effects are in this
    keyspace, written by the apply script in the same atomic call as the batch's last
    figures (so a Redis that lost writes also lost the offsets that claimed them)."""
    return f"{ks}applied:offsets"


# Patterns of every derived key of a keyspace (what a rebuild replaces).
DERIVED_KINDS = ("ent:", "cnt:", "set:", "pset:", "open:", "stat:", "applied:")
