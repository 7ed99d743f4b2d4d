from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from platform_admin.tests.factories import AdminFactory

pytestmark = pytest.mark.django_db

STRONG = "a-long-unusual-passphrase-42"


def _create(**options):
    out = StringIO()
    call_command("createadmin", interactive=False, stdout=out, **options)
    return out.getvalue()


def test_createadmin_makes_a_staff_superuser_that_can_log_in(api_client):
    output = _create(username="root", email="Root@Example.com", password=STRONG)

    user = get_user_model().objects.get(username="root")
    assert "created" in output
    assert (user.is_staff, user.is_superuser, user.email) == (True, True, "root@example.com")
    assert api_client.post("/api/v1/admin/login/", {"username": "root", "password": STRONG}).status_code == 200


def test_createadmin_no_superuser_makes_staff_only():
    _create(username="ops", email="ops@example.com", password=STRONG, superuser=False)

    user = get_user_model().objects.get(username="ops")
    assert (user.is_staff, user.is_superuser) == (True, False)


def test_createadmin_refuses_a_taken_username():
    AdminFactory(username="root")

    with pytest.raises(CommandError, match="username"):
        _create(username="ROOT", email="other@example.com", password=STRONG)


def test_createadmin_refuses_a_taken_email():
    AdminFactory(username="root", email="root@example.com")

    with pytest.raises(CommandError, match="email"):
        _create(username="other", email="root@example.com", password=STRONG)


def test_createadmin_refuses_a_weak_password():
    with pytest.raises(CommandError, match="password"):
        _create(username="root", email="root@example.com", password="123")


def test_createadmin_refuses_an_invalid_email():
    with pytest.raises(CommandError, match="email"):
        _create(username="root", email="not-an-email", password=STRONG)


def test_createadmin_without_input_names_what_is_missing():
    with pytest.raises(CommandError, match="--password"):
        _create(username="root", email="root@example.com")


def test_createadmin_prompts_for_what_is_missing(monkeypatch):
    answers = iter(["root", "root@example.com"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt: STRONG)

    call_command("createadmin", stdout=StringIO())

    assert get_user_model().objects.filter(username="root", is_staff=True).exists()


def test_createadmin_refuses_passwords_that_do_not_match(monkeypatch):
    typed = iter([STRONG, STRONG + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(typed))

    with pytest.raises(CommandError, match="do not match"):
        call_command("createadmin", username="root", email="root@example.com", stdout=StringIO())
