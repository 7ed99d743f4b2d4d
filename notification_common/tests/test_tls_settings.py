"""Production's TLS settings: HTTP is redirected to HTTPS except for probes (health, metrics),
and HTTPS answers carry HSTS. Settings as production builds them (django_settings)."""

import pytest
from django.test import override_settings

from notification_common.django_settings import SSL_REDIRECT_EXEMPT

PRODUCTION_TLS = {
    "SECURE_SSL_REDIRECT": True,
    "SECURE_REDIRECT_EXEMPT": SSL_REDIRECT_EXEMPT,
    "SECURE_HSTS_SECONDS": 31_536_000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
}


@override_settings(**PRODUCTION_TLS)
def test_plain_http_is_redirected_to_https(client):
    response = client.get("/t/missing/")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/t/missing/"


@override_settings(**PRODUCTION_TLS)
@pytest.mark.parametrize("path", ["/api/v1/health/live/", "/metrics"])
def test_probes_answer_over_plain_http(client, path):
    assert client.get(path).status_code == 200


@override_settings(**PRODUCTION_TLS)
def test_https_behind_the_proxy_gets_hsts_and_no_redirect(client):
    response = client.get("/api/v1/health/live/", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
