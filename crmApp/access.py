"""Who the caller is and what they may do, cached, and never a request out of date.

Every request needs the signed-in user, their membership in the organization it acts in, their codes,
their record scope and whose records it reaches (teammates, employee records): queries that rarely
change. With the shared cache (Redis, `CACHE_FIGURES`) they are kept under two versions: one per user
(their account, memberships and role assignments) and one per organization (its roles, their codes,
its teams and employee records, the organization itself). Any change to those rows moves the version
it belongs to, whatever made it (API, admin, shell, a management command), because the
models' own save/delete signals move it; the few bulk updates that bypass signals move it themselves.
A removed member, a changed role, a deactivated user or a new password therefore count from the next
request on. Without the shared cache nothing is cached: another process could not tell us to forget.
"""

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from crmApp.caching import mark_organization_changed

TIMEOUT_SECONDS = 3600


def _user_key(user_id) -> str:
    return f"crm:access:user:{user_id}"


def _organization_key(organization_id) -> str:
    return f"crm:access:organization:{organization_id}"


def _bump(key: str) -> None:
    if not settings.CACHE_FIGURES:
        return
    cache.set(key, uuid.uuid4().hex, timeout=None)
    # Again at commit: a value cached from the old rows by another request meanwhile is never reused.
    # Robust: the write has committed, so Redis failing now is logged, not answered as a failed write.
    transaction.on_commit(lambda: cache.set(key, uuid.uuid4().hex, timeout=None), robust=True)


def user_changed(user_id) -> None:
    """The user's account, memberships or role assignments changed."""
    _bump(_user_key(user_id))


def organization_changed(organization_id) -> None:
    """The organization, its roles or their codes changed."""
    _bump(_organization_key(organization_id))


def _member_key(user_id, organization_id) -> str:
    return f"crm:access:member:{user_id}:{organization_id or 'default'}"


def _access_keys(user_id, organization_id) -> tuple[list[str], str]:
    """The version keys and the entry key `cached_access` reads for the caller in `organization_id`."""
    versions = [_user_key(user_id)] + ([_organization_key(organization_id)] if organization_id else [])
    return versions, _member_key(user_id, organization_id)


def _read(keys: list[str], along=None) -> dict:
    """`cache.get_many(keys)`; with a Redis cache, `along` (a throttles.Hit) is counted in the same round trip."""
    if along is None or not hasattr(cache, "get_many_along"):
        return cache.get_many(keys)
    found, answers = cache.get_many_along(keys, along.queue)
    along.receive(answers)
    return found


def _versions(keys: list[str], extra: list[str], found: dict | None = None, along=None) -> tuple[list[str], dict]:
    """The current version of each of `keys` (created when missing), and the values of `extra`, in one round trip.

    `found`: those keys as already read in this request, so none is read again.
    """
    found = _read([*keys, *extra], along) if found is None else found
    versions = []
    for key in keys:
        version = found.get(key)
        if version is None:
            cache.add(key, uuid.uuid4().hex, timeout=None)
            version = cache.get(key)
        versions.append(version)
    return versions, found


class ReadAhead:
    """The access entries of the caller in one organization, read in the same round trip as their account.

    `read`: every key that round trip asked for (`found` holds those that had a value), so a key read
    ahead and absent is known to be absent.
    """

    def __init__(self, user_id, organization_id, found: dict, read=frozenset()):
        # Ids as the keys spell them: a token carries the user id as text.
        self.caller, self.found, self.read = (str(user_id), str(organization_id)), found, frozenset(read)

    def serves(self, user_id, organization_id) -> bool:
        return self.caller == (str(user_id), str(organization_id))

    def read_all(self, keys) -> bool:
        return self.read.issuperset(keys)

    def access_versions(self) -> tuple[str, ...] | None:
        """The caller's and the organization's access versions as this request read them; None if one wasn't."""
        versions, _ = _access_keys(*self.caller)
        found = tuple(self.found.get(key) for key in versions)
        return None if None in found or len(found) < 2 else found


def cached_user(user_id, load, *, organization_id=None, along=None, also=()) -> tuple:
    """(the user with `user_id` or None, a ReadAhead of their access in `organization_id` or None).

    The user comes from the cache while their version holds, else from `load(user_id)`. `along`: the
    request's throttles.Hit, counted in the same round trip; `also`: more cache keys the request will read
    (its list's count), read in it too.
    """
    if not settings.CACHE_FIGURES:
        return load(user_id), None
    entry_key = f"crm:access:account:{user_id}"
    version_keys, member_key = _access_keys(user_id, organization_id)
    extra = [entry_key, *version_keys[1:], member_key, *also]
    (version,), found = _versions([_user_key(user_id)], extra, along=along)
    ahead = ReadAhead(user_id, organization_id, found, read=[_user_key(user_id), *extra])
    entry = found.get(entry_key)
    if entry is not None and entry[0] == version:
        return entry[1], ahead
    user = load(user_id)
    cache.set(entry_key, (version, user), timeout=TIMEOUT_SECONDS)
    return user, ahead


def cached_access(user_id, organization_id, load, ahead: ReadAhead | None = None):
    """`load()` (membership, codes, scope) for the user in `organization_id` (None: their default), cached.

    The entry remembers the organization it resolved to, so a default-organization request checks that
    organization's version too. `ahead`: the entries as read with the caller's account, if they serve.
    """
    if not settings.CACHE_FIGURES:
        return load()
    keys, entry_key = _access_keys(user_id, organization_id)
    read = ahead.found if ahead is not None and ahead.serves(user_id, organization_id) else None
    versions, found = _versions(keys, [entry_key], read)
    entry = found.get(entry_key)
    if entry is not None and entry[0] == versions[0]:
        resolved_id, organization_version, value = entry[1], entry[2], entry[3]
        current = versions[1] if organization_id else (_versions([_organization_key(resolved_id)], [])[0][0])
        if resolved_id is None or organization_version == current:
            return value
    value = load()
    membership = value[0] if value else None
    resolved_id = membership.organization_id if membership is not None else None
    organization_version = _versions([_organization_key(resolved_id)], [])[0][0] if resolved_id else None
    cache.set(entry_key, (versions[0], resolved_id, organization_version, value), timeout=TIMEOUT_SECONDS)
    return value


# --- what moves the versions ----------------------------------------------------------------------------
def _on_user(sender, instance, **kwargs):
    user_changed(instance.pk)


def _on_user_deleted(sender, instance, **kwargs):
    """Deleting an account unlinks its employee records and drops it from its teams in SQL, with no signal
    of their own: the teammates' reach changes, so every organization it touched moves on."""
    if not settings.CACHE_FIGURES:
        return
    from crmApp.models import Employee, Membership, Team

    organization_ids = {
        *Membership.objects.filter(user=instance).values_list("organization_id", flat=True),
        *Employee.with_trashed.filter(user=instance).values_list("organization_id", flat=True),
        *Team.objects.filter(members=instance).values_list("organization_id", flat=True),
    }
    for organization_id in organization_ids:
        organization_changed(organization_id)


def _on_membership_or_assignment(sender, instance, **kwargs):
    user_changed(instance.user_id)


def _on_organization_row(sender, instance, **kwargs):
    organization_changed(instance.organization_id)


def _on_employee(sender, instance, **kwargs):
    """An employee record's link to a user decides whose records a scope reaches and whom `assigned_to=me`
    means: the caller's access and the counts cached under the organization's data version go stale."""
    organization_changed(instance.organization_id)
    mark_organization_changed(instance.organization_id)


def _on_organization(sender, instance, **kwargs):
    organization_changed(instance.pk)


def _on_organization_links(sender, instance, action, model, pk_set=None, **kwargs):
    """A role's codes or a team's members changed, from either side of the relation."""
    if action.startswith("post_"):
        if hasattr(instance, "organization_id"):
            organization_changed(instance.organization_id)
        else:  # changed from the permission's or the user's side: every role or team named
            for organization_id in model.objects.filter(pk__in=pk_set or ()).values_list("organization_id", flat=True):
                organization_changed(organization_id)


def connect() -> None:
    """Wire the models' signals to the versions (called once, when the app is ready)."""
    from crmApp.models import Employee, Membership, Organization, Role, Team, User, UserRole

    for model, receiver in (
        (User, _on_user),
        (Membership, _on_membership_or_assignment),
        (UserRole, _on_membership_or_assignment),
        (Role, _on_organization_row),
        (Organization, _on_organization),
        # A record scope reaches the records of the caller's (and teammates') employee records.
        (Team, _on_organization_row),
        (Employee, _on_employee),
    ):
        post_save.connect(receiver, sender=model, dispatch_uid=f"access-{model.__name__}-save")
        post_delete.connect(receiver, sender=model, dispatch_uid=f"access-{model.__name__}-delete")
    pre_delete.connect(_on_user_deleted, sender=User, dispatch_uid="access-User-pre-delete")
    m2m_changed.connect(_on_organization_links, sender=Role.permissions.through, dispatch_uid="access-role-codes")
    m2m_changed.connect(_on_organization_links, sender=Team.members.through, dispatch_uid="access-team-members")
