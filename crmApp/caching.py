"""Per-organization data versions: cached reads that any write to an organization's rows makes stale.

Every write of a service (crmApp.services.base) moves its organization's version on, and so do the
bulk paths (seeding, COPY). A value cached under the current version is therefore never stale, so
expensive exact reads (list counts, aggregates over a million rows) run once per change instead of
once per request. The timeout is only a safety net.

This holds only when every process reads and writes the same cache: with Redis (REDIS_URL) it does.
Without Redis each process would have its own version and serve the others' stale figures, so then
nothing is cached (`CACHE_FIGURES` is off) and every figure is computed when asked for.
"""

import hashlib
import uuid
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")
CACHE_TIMEOUT_SECONDS = 600


def version_key(organization_id) -> str:
    """The cache key of one organization's data version."""
    return f"crm:data-version:{organization_id}"


def data_version(organization_id) -> str:
    """The current version token of one organization's data."""
    key = version_key(organization_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, uuid.uuid4().hex, timeout=None)
        version = cache.get(key)
    return version


def mark_organization_changed(organization_id) -> None:
    """Make every cached read of one organization stale.

    The version moves now (so this transaction's own reads recompute) and again at commit (so a value
    computed by another request before the commit is never reused). The write has committed by then, so
    Redis failing at that point is logged, not answered as a failed write.
    """
    if not settings.CACHE_FIGURES:
        return
    key = version_key(organization_id)
    cache.set(key, uuid.uuid4().hex, timeout=None)
    transaction.on_commit(lambda: cache.set(key, uuid.uuid4().hex, timeout=None), robust=True)


def query_fingerprint(queryset) -> str:
    """A short digest of a queryset's SQL and parameters (filters, search and joins included)."""
    sql, params = queryset.query.sql_with_params()
    return hashlib.sha256(repr((sql, params)).encode()).hexdigest()[:32]


def figure_keys(organization_id, name: str, *key_parts) -> tuple[str, str]:
    """(the key of a cached figure, its organization's version key), as `cached_for_organization` reads them."""
    parts = ":".join(str(part) for part in key_parts)
    return f"crm:{name}:{organization_id}:{parts}", version_key(organization_id)


def cached_for_organization(organization_id, name: str, compute: Callable[[], T], *key_parts, ahead=None) -> T:
    """`compute()`, cached under `name` and `key_parts` while the organization's data version holds.

    The value is stored with the version it was computed under, so the version and the value are read
    in one round trip; a value of an older version is computed again. `ahead` (a crmApp.access.ReadAhead):
    both keys as read already in this request, used when it read them.
    """
    if not settings.CACHE_FIGURES:
        return compute()
    key, version_key = figure_keys(organization_id, name, *key_parts)
    if ahead is not None and ahead.read_all((key, version_key)):
        found = ahead.found
    else:
        found = cache.get_many([version_key, key])
    version = found.get(version_key) or data_version(organization_id)
    entry = found.get(key)
    if entry is not None and entry[0] == version:
        return entry[1]
    value = compute()
    cache.set(key, (version, value), timeout=CACHE_TIMEOUT_SECONDS)
    return value
