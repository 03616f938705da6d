"""Surge staffing as an authentication backend: a person lent to a team holds the
team's permissions exactly while the grant is active.

Reading the grant at permission-check time (rather than adding the person to the
group and removing them later) makes expiry exact to the second: nothing depends
on a job running on time. Django caches permissions per user object, i.e. per
request.
"""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.utils import timezone


class SurgeGrantBackend:
    """Grants only permissions; authentication stays with ModelBackend."""

    def authenticate(self, request, **credentials):
        return None

    def get_user(self, user_id):
        return None

    def _grant_permissions(self, user_obj) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous:
            return set()
        if not hasattr(user_obj, "_surge_perm_cache"):
            from orders.models import SurgeGrant

            teams = SurgeGrant.objects.filter(
                user=user_obj, revoked_at=None, until__gt=timezone.now()
            ).values("team")
            perms = Permission.objects.filter(group__in=teams).values_list(
                "content_type__app_label", "codename"
            )
            user_obj._surge_perm_cache = {f"{app}.{code}" for app, code in perms}
        return user_obj._surge_perm_cache

    def get_all_permissions(self, user_obj, obj=None):
        return self._grant_permissions(user_obj)

    def has_perm(self, user_obj, perm, obj=None):
        return perm in self._grant_permissions(user_obj)

    def has_module_perms(self, user_obj, app_label):
        return any(p.startswith(f"{app_label}.") for p in self._grant_permissions(user_obj))
