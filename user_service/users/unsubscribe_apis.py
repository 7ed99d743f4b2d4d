"""One-click unsubscribe (RFC 8058): ``/api/v1/unsubscribe/<token>/``, no credentials.

The token (notification_common.unsubscribe, signed by the email service) is the credential:
it names the user, the category and the channel, and can only turn that one switch off.
Mail providers POST ``List-Unsubscribe=One-Click`` as a form; the body is never read, so any
content type is fine. A GET (a person clicking the link) only shows a page with a button that
POSTs: link scanners that follow GETs must not unsubscribe anyone. docs/api.md.
"""

from django.http import HttpResponse
from django.utils.html import escape
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from notification_common.envelope import ok
from notification_common.exceptions import ApplicationError, NotFound
from notification_common.schema import error_responses
from notification_common.unsubscribe import InvalidUnsubscribeToken, UnsubscribeClaim, unsubscribe_token_read
from users import services
from users.constants import UserErrorCode

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto;">
<h1>{title}</h1><p>{text}</p>{form}</body></html>"""


def _page(title: str, text: str, *, form: str = "", status: int = 200) -> HttpResponse:
    html = _PAGE.format(title=escape(title), text=escape(text), form=form)
    return HttpResponse(html, status=status, content_type="text/html; charset=utf-8")


def _claim(token: str) -> UnsubscribeClaim:
    try:
        return unsubscribe_token_read(token)
    except InvalidUnsubscribeToken:
        raise ApplicationError(
            UserErrorCode.INVALID_TOKEN, "This unsubscribe link is not valid.", 400, data={"token": ["Invalid."]}
        ) from None


class UnsubscribeApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def perform_content_negotiation(self, request, force=False):
        # A browser (Accept: text/html) gets HTML pages built here, not a 406 from DRF.
        return super().perform_content_negotiation(request, force=True)

    # An HTML page for people, not an API operation: left out of the schema (docs/api.md has it).
    @extend_schema(exclude=True)
    def get(self, request, token: str):
        try:
            claim = unsubscribe_token_read(token)
        except InvalidUnsubscribeToken:
            return _page("Link not valid", "This unsubscribe link is not valid or was altered.", status=400)
        form = '<form method="post"><button type="submit">Unsubscribe</button></form>'
        text = f"Stop {claim.category} notifications by {claim.channel}? Required notices (security) still arrive."
        return _page("Unsubscribe", text, form=form)

    @extend_schema_serializer(component_name="Unsubscribed")
    class OutputSerializer(serializers.Serializer):
        category = serializers.CharField()
        channel = serializers.CharField()

    @extend_schema(
        request=None,
        summary="Turn the link's category off for its user and channel (RFC 8058 one-click; idempotent)",
        responses={200: OutputSerializer, **error_responses(400, 404)},
    )
    def post(self, request, token: str):
        claim = _claim(token)
        if not services.preferences_category_unsubscribe(
            user_id=claim.user_id, category=claim.category, channel=claim.channel
        ):
            raise NotFound("The user of this link no longer exists.")
        if "text/html" in request.headers.get("Accept", ""):  # the confirmation page's button
            return _page("Unsubscribed", f"You will no longer get {claim.category} notifications by {claim.channel}.")
        return ok(
            self.OutputSerializer({"category": claim.category, "channel": claim.channel}).data,
            message=f"Unsubscribed from {claim.category} {claim.channel}.",
        )
