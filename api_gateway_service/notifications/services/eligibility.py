"""Who may send what to whom: the sender's rights (API key or user token, quiet-hours
bypass) and whether the user can receive it (active, preferences, devices). Shared by the
single and the bulk intake (notifications/services/intake.py, bulk.py).
"""

from notification_common.exceptions import ApplicationError
from notifications.clients import TemplateFacts, template_facts_get
from notifications.constants import GatewayErrorCode, NotificationType
from notifications.senders import Sender


def notification_recipient(*, user: dict, notification_type: str, template: TemplateFacts | None = None) -> dict:
    """The recipient snapshot the worker delivers to; refuses users who cannot receive it.

    With ``template``, the user's switch for its category counts too, unless the category is
    required (security notices reach everyone).
    """
    user_id = user.get("id")
    if not user.get("is_active", False):
        raise ApplicationError(GatewayErrorCode.USER_INACTIVE, f"User {user_id} is inactive.", 422)
    preferences = user.get("preferences") or {}
    if preferences.get(notification_type) is not True:
        raise ApplicationError(
            GatewayErrorCode.PREFERENCE_DISABLED,
            f"User {user_id} has turned {notification_type} notifications off.",
            422,
            data={"notification_type": notification_type},
        )
    category = template.category if template is not None else None
    if category and not template.category_required:
        switches = (preferences.get("categories") or {}).get(category) or {}
        if switches.get(notification_type) is False:
            raise ApplicationError(
                GatewayErrorCode.PREFERENCE_DISABLED,
                f"User {user_id} has turned {category} {notification_type} notifications off.",
                422,
                data={"notification_type": notification_type, "category": category},
            )
    name = user.get("name") or ""
    if notification_type == NotificationType.EMAIL:
        return {"email": user.get("email") or "", "name": name}
    tokens = []
    for device in user.get("devices") or []:
        token = device.get("token")
        if device.get("active", True) and token and token not in tokens:
            tokens.append(token)
    if not tokens:
        raise ApplicationError(GatewayErrorCode.NO_ACTIVE_DEVICE, f"User {user_id} has no active push device.", 422)
    return {"push_tokens": tokens, "name": name}


REFUSALS_WORTH_A_FRESH_LOOK = frozenset(
    {GatewayErrorCode.USER_INACTIVE, GatewayErrorCode.PREFERENCE_DISABLED, GatewayErrorCode.NO_ACTIVE_DEVICE}
)


def notification_sender_authorize(
    *,
    sender: Sender,
    user_id: str,
    template_code: str,
    bypass_quiet_hours: bool = False,
    triggerable: dict[str, bool] | None = None,
) -> None:
    """Who may send what (single and bulk intake): an API key with ``notifications:send`` any
    template to anyone; a user token only to its own user and only ``user_triggerable``
    templates. ``triggerable`` caches the template answers within one request."""
    quiet_hours_bypass_authorize(sender=sender, bypass_quiet_hours=bypass_quiet_hours, template_code=template_code)
    if not sender.is_user:
        return
    if sender.user_id != str(user_id):
        raise ApplicationError(
            GatewayErrorCode.PERMISSION_DENIED,
            "A user token may only send notifications to its own user.",
            403,
            data={"user_id": ["Must be the id of the token's user."]},
        )
    cache = {} if triggerable is None else triggerable
    if template_code not in cache:
        cache[template_code] = template_facts_get(template_code=template_code).user_triggerable
    if not cache[template_code]:
        # Open registration must not turn the platform into a relay of our branded emails.
        raise ApplicationError(
            GatewayErrorCode.TEMPLATE_NOT_USER_TRIGGERABLE,
            f"Template '{template_code}' cannot be sent with a user token; send it with an API key.",
            403,
            data={"template_code": ["This template is not user-triggerable."]},
        )


def quiet_hours_bypass_authorize(*, sender: Sender, bypass_quiet_hours: bool, template_code: str) -> None:
    """403 unless a bypass of quiet hours comes from a sender's API key with a template of a
    ``required`` category (security notices): a marketing email must not wake anyone up."""
    if not bypass_quiet_hours:
        return
    if sender.is_user:
        raise ApplicationError(
            GatewayErrorCode.PERMISSION_DENIED,
            "Only an API key may send past a user's quiet hours.",
            403,
            data={"bypass_quiet_hours": ["Needs an API key with notifications:send."]},
        )
    if not template_facts_get(template_code=template_code).category_required:
        raise ApplicationError(
            GatewayErrorCode.PERMISSION_DENIED,
            "Only a template of a required category (security notices) may send past quiet hours.",
            403,
            data={"bypass_quiet_hours": [f"Template '{template_code}' is not in a required category."]},
        )
