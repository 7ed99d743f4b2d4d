"""`make check` enforces the import contracts, and fails when one is broken."""

from __future__ import annotations

import check_imports


def test_the_repository_keeps_every_contract():
    result = check_imports.run()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_a_service_importing_another_breaks_the_check(tmp_path):
    # A shadow "users" package that imports the gateway's package: what a careless
    # `from notifications.models import ...` in the user service would be.
    package = tmp_path / "users"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "services.py").write_text("from notifications import constants  # noqa\n")

    result = check_imports.run(extra_path=[str(tmp_path)])

    assert result.returncode != 0
    assert "Services never import each other" in result.stdout
    assert "BROKEN" in result.stdout


def test_runtime_code_importing_a_test_server_breaks_the_check(tmp_path):
    package = tmp_path / "pushes"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "transport.py").write_text("from notification_devtools.loopback import fcm  # noqa\n")

    result = check_imports.run(extra_path=[str(tmp_path)])

    assert result.returncode != 0
    assert "never imports notification_devtools" in result.stdout


def test_the_runtime_library_importing_the_development_package_breaks_the_check(tmp_path):
    # A shadow notification_common whose health module uses a test helper.
    package = tmp_path / "notification_common"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "health.py").write_text("from notification_devtools.testing import http  # noqa\n")

    result = check_imports.run(extra_path=[str(tmp_path)])

    assert result.returncode != 0
    assert "never imports notification_devtools" in result.stdout
    assert "BROKEN" in result.stdout
