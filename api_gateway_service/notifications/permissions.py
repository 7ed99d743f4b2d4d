from rest_framework.permissions import BasePermission

from notification_common.api_keys import Scope
from notification_common.authentication import is_api_key, is_platform_user


class CanSendNotifications(BasePermission):
    """A user token (to itself, checked when accepting) or an API key with notifications:send.

    The ``internal`` scope alone is not enough: service keys call other services, they do
    not send on anyone's behalf.
    """

    message = "Sending needs a user token or an API key with the notifications:send scope."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if is_platform_user(user):
            return True
        return is_api_key(user) and user.has_scope(Scope.NOTIFICATIONS_SEND)
