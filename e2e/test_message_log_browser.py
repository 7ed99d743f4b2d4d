"""The operators' message log in a real headless browser (Debian's chromium + chromedriver,
driven by selenium): log in to the admin, watch the dashboard refresh itself, search the log
by request_id and open the timeline with the delivery attempts. Screenshots land in
e2e/artifacts/ (gitignored)."""

import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import ADMIN_PASSWORD
from helpers import create_template, data, register_user, send_notification, unique, wait_for_status

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Flags that work on this machine (no sandbox as root, nothing reaching out to the network).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("chromium and chromium-driver are needed (apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="e2e-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, *, timeout: float = 30, describe: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition, message=f"waiting for {describe}")


def _shot(driver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"message_log_{name}.png"))


def test_an_operator_finds_a_notification_by_request_id_and_reads_its_attempts(
    platform, users, gateway, templates, internal, sender, browser
):
    from selenium.webdriver.common.by import By

    # given a delivered email with a known request_id
    code = unique("oplog").replace("-", "_")
    create_template(
        templates, internal, code=code, channel="email", versions={"en": {"subject": "Hi", "text_body": "Hi"}}
    )
    user = register_user(users)
    request_id = unique("oplog-request")
    accepted = data(
        send_notification(gateway, headers=sender, user_id=user.id, template_code=code, request_id=request_id), 202
    )
    notification_id = accepted["notification_id"]
    wait_for_status(gateway, notification_id, sender, "delivered")
    # and an operator account
    username = unique("operator")
    created = platform.manage(
        "admin_service",
        "createadmin",
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--password",
        ADMIN_PASSWORD,
        "--noinput",
    )
    assert created.returncode == 0, created.stderr
    admin_url = platform.url("admin")
    driver = browser

    # when the operator logs in
    driver.get(f"{admin_url}/admin/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit], button[type=submit]").click()
    _wait(driver, lambda d: "/admin/login/" not in d.current_url, describe="the login to go through")

    # then the dashboard shows and reloads itself (its meta refresh)
    driver.get(f"{admin_url}/admin/operations/dashboard/")
    _wait(driver, lambda d: "Dashboard" in d.title, describe="the dashboard")
    _shot(driver, "1_dashboard")
    driver.execute_script("window.__seen_before_refresh = true;")
    _wait(
        driver,
        lambda d: d.execute_script("return document.readyState === 'complete' && !window.__seen_before_refresh"),
        timeout=40,
        describe="the dashboard to refresh itself",
    )
    assert "Dashboard" in driver.title

    # when the operator searches the log by the request_id
    driver.get(f"{admin_url}/admin/operations/messages/")
    box = driver.find_element(By.NAME, "q")
    box.send_keys(request_id)
    driver.find_element(By.CSS_SELECTOR, "#message-log-search button[type=submit]").click()
    link = _wait(
        driver,
        lambda d: d.find_elements(By.LINK_TEXT, notification_id),
        describe="the notification in the search results",
    )[0]
    _shot(driver, "2_search")
    assert "Read as request_id" in driver.find_element(By.TAG_NAME, "body").text

    # and opens its timeline
    link.click()
    _wait(driver, lambda d: d.find_elements(By.ID, "timeline"), describe="the timeline")
    _shot(driver, "3_timeline")
    rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#timeline tr.timeline-event")]

    # then it shows acceptance, publication, the SMTP attempt with its answer and the final status
    assert any("accepted" in row for row in rows), rows
    assert any("published (outbox)" in row for row in rows), rows
    attempts = [row for row in rows if "attempt 1:" in row]
    assert attempts and "250" in attempts[0], rows
    assert any("status report: delivered" in row for row in rows), rows
    assert driver.find_element(By.ID, "final-status").text.startswith("delivered")
