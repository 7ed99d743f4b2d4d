"""Who may call what: the user themself (JWT) or a service with an ``internal`` API key."""

from rest_framework.permissions import BasePermission

from notification_common.api_keys import Scope
from notification_common.authentication import caller_user_id, is_api_key


class IsInternalOrSelf(BasePermission):
    """For routes with ``<uuid:user_id>``: the token's own user, or an internal key."""

    message = "Only the user themself or an internal service may access this user."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if is_api_key(user):
            return user.has_scope(Scope.INTERNAL)
        caller = caller_user_id(user)
        return caller is not None and caller == str(view.kwargs.get("user_id"))
