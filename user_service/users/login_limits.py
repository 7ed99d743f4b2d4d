"""Login attempt limits of the user service: per email and per client address.

The counting is notification_common.login_limits (count first, then verify); this module only
names the service's limits (LOGIN_MAX_FAILURES_PER_EMAIL / _PER_IP within
LOGIN_FAILURE_WINDOW_SECONDS).
"""

from django.conf import settings

from notification_common.login_limits import LoginAttempt, login_attempt_admit


def user_login_attempt_admit(*, email: str, client_ip: str | None) -> LoginAttempt:
    return login_attempt_admit(
        scope="user",
        account=email,
        address=client_ip,
        account_limit=settings.LOGIN_MAX_FAILURES_PER_EMAIL,
        address_limit=settings.LOGIN_MAX_FAILURES_PER_IP,
        window_seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS,
    )
