"""The console in a real headless browser: Debian's chromium driven by Playwright (never a downloaded
browser). Sign up → credit shown → create a key → copy it → a playground answer streams → its usage row
shows the charge → redeem a code → the balance moves → sign out; in both languages and on a phone.

Screenshots of every page land in ``$TOLLWAY_CONSOLE_SCREENS`` or ``<pytest tmp>/console-screens/``
(printed at the end of the flow test).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.console.conftest import PASSWORD
from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("TOLLWAY_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"no chromium at {CHROMIUM}: `make browser` installs Debian's package (needs root and apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$TOLLWAY_CONSOLE_SCREENS`` if set (CI keeps it), else the pytest tmp dir."""
    chosen = os.environ.get("TOLLWAY_CONSOLE_SCREENS")
    return Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "console-screens"


def _page(browser: Any, stack: LocalStack, *, locale: str, phone: bool = False) -> Any:
    options: dict[str, Any] = {"locale": locale, "base_url": stack.url}
    if phone:
        options.update(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    context = browser.new_context(**options)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.url)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.dialogs = dialogs
    return page


def _shot(page: Any, screens: Path, name: str) -> None:
    screens.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screens / f"{name}.png"), full_page=True)


def _money(text: str) -> int:
    """Micro-USD of the first "$d.dd…" in ``text``."""
    found = re.search(r"\$(\d+)\.(\d+)", text)
    assert found, text
    whole, frac = found.groups()
    return int(whole) * 1_000_000 + int(frac.ljust(6, "0")[:6])


def _sign_up(page: Any, email: str) -> None:
    page.goto("/#/signup")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#signup-submit")
    page.wait_for_selector("#balance")


def test_a_new_customer_goes_from_sign_up_to_a_billed_answer(
    browser: Any, console_stack: LocalStack, screens: Path
) -> None:
    page = _page(browser, console_stack, locale="en-US")
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/")
    page.wait_for_selector("#signin-submit")
    _shot(page, screens, "en-signin")
    page.goto("/#/signup")
    page.wait_for_selector("text=New accounts receive $0.20 of credit.")
    _shot(page, screens, "en-signup")
    _sign_up(page, email)
    assert page.inner_text("#balance") == "$0.20"  # the sign-up credit
    _shot(page, screens, "en-dashboard-new")

    # A key with a hostile name: shown as text, never run.
    page.click("nav a[data-page=keys]")
    page.fill("input[name=name]", "<img src=x onerror=alert(1)>")
    page.click("#create-key button[type=submit]")
    secret = page.wait_for_selector("#new-secret").inner_text()
    assert secret.startswith("sk-")
    page.click("#secret-box button.copy")
    page.wait_for_selector("#secret-box button.copy:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert page.locator("td", has_text="<img src=x onerror=alert(1)>").count() == 1
    assert page.locator("img[src=x]").count() == 0 and page.dialogs == []
    _shot(page, screens, "en-keys")

    # The playground streams through the relay with that key and shows the charge.
    page.click("nav a[data-page=playground]")
    page.wait_for_selector("select[name=model] option[value='gpt-5.4-mini']", state="attached")
    page.select_option("select[name=model]", "gpt-5.4-mini")
    assert page.input_value("input[name=key]") == secret
    page.fill("textarea[name=prompt]", "Count to ten")
    page.click("#send")
    page.wait_for_selector("#send:has-text('Stop')")  # still streaming
    page.wait_for_selector(".answer:not(:empty)")  # (wait_for_function would need 'unsafe-eval': the CSP says no)
    partial = page.inner_text(".answer")
    charge = page.wait_for_selector(".charge[data-charge]", timeout=30_000)
    assert len(page.inner_text(".answer")) > len(partial)  # more text arrived after the first chunk
    charged = _money("$" + str(charge.get_attribute("data-charge")))
    assert charged > 0
    _shot(page, screens, "en-playground")

    # A request naming a hostile model is refused and recorded: its name is shown as text, never run.
    hostile = "<img src=x onerror=alert(2)>"
    refused = page.request.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        data={"model": hostile, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert refused.status == 404
    account = _account_of(console_stack, email)
    records = console_stack.wait_records(account, 2)
    record = next(r for r in records if r["status"] == "ok")
    assert record["charge"] == charged
    page.click("nav a[data-page=usage]")
    row = page.wait_for_selector(f"tr[data-request-id='{record['request_id']}']")
    assert _money(row.query_selector(".usage-charge").inner_text()) == charged
    assert page.locator("td", has_text=hostile).count() == 1
    assert page.locator("img[src=x]").count() == 0 and page.dialogs == []
    _shot(page, screens, "en-usage")

    # Redeem a code: the balance moves by exactly its value.
    (code,) = console_stack.admin("redeem.create", value_usd="1.00", count=1)["codes"]
    page.click("nav a[data-page=topup]")
    before = _money(page.wait_for_selector("#balance").inner_text())
    assert before == 200_000 - charged
    page.fill("input[name=code]", code)
    page.click("form button[type=submit]")
    page.wait_for_selector("#redeem-result .msg.ok")
    assert _money(page.inner_text("#balance")) == before + 1_000_000
    _shot(page, screens, "en-topup")

    for name in ("models", "quickstart", "dashboard"):
        page.click(f"nav a[data-page={name}]")
        page.wait_for_selector("main h1")
        page.wait_for_load_state("networkidle")
        _shot(page, screens, f"en-{name}")
        if name == "quickstart":
            assert f"ANTHROPIC_BASE_URL={console_stack.url}" in page.inner_text("main")

    page.click("#signout")
    page.wait_for_selector("#signin-submit")
    assert page.request.get("/console/api/me").status == 401
    page.goto("/#/keys")
    page.wait_for_selector("#signin-submit")  # signed out: back to sign-in
    print(f"\nscreenshots: {screens}")


def _account_of(stack: LocalStack, email: str) -> str:
    accounts = stack.admin("account.list", limit=1000)["accounts"]
    return next(a["account_id"] for a in accounts if a["name"] == email)


def test_chinese_is_chosen_from_the_browser_and_english_is_one_click_away(
    browser: Any, console_stack: LocalStack, screens: Path
) -> None:
    page = _page(browser, console_stack, locale="zh-CN")
    page.goto("/")
    page.wait_for_selector("#signin-submit")
    assert page.inner_text("#signin-submit") == "登录"
    _sign_up(page, f"zh-{uuid.uuid4().hex[:8]}@example.com")
    assert page.inner_text("nav a[data-page=keys]") == "API 密钥"
    assert page.locator("text=余额").count() >= 1
    _shot(page, screens, "zh-dashboard")
    page.click("nav a[data-page=usage]")
    page.wait_for_selector("#usage-table")
    _shot(page, screens, "zh-usage")
    page.select_option("#lang", "en")
    page.wait_for_selector("nav a[data-page=keys]:has-text('API keys')")
    page.reload()
    page.wait_for_selector("nav a[data-page=keys]:has-text('API keys')")  # the choice is remembered


def test_the_console_fits_a_phone(browser: Any, console_stack: LocalStack, screens: Path) -> None:
    page = _page(browser, console_stack, locale="en-US", phone=True)
    _sign_up(page, f"phone-{uuid.uuid4().hex[:8]}@example.com")
    for name in ("dashboard", "keys", "usage", "playground"):
        page.goto(f"/#/{name}")
        page.wait_for_selector("main h1")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name} is {width}px wide on a 390px phone"
        _shot(page, screens, f"phone-{name}")


def test_the_operators_branding_is_shown_as_text(
    browser: Any, console_stack: LocalStack, screens: Path, switches: Any
) -> None:
    switches(
        site_name="Acme <b>AI</b>",
        footer="<script>alert(3)</script> © Acme",
        logo_url="/console/static/logo.svg",
        currency_symbol="¥",
        currency_rate="2",
    )
    page = _page(browser, console_stack, locale="en-US")
    _sign_up(page, f"brand-{uuid.uuid4().hex[:8]}@example.com")
    assert page.inner_text("#site-name") == "Acme <b>AI</b>"
    assert page.inner_text("#footer") == "<script>alert(3)</script> © Acme"
    assert page.locator("#site-name b").count() == 0 and page.dialogs == []
    assert "¥0.40" in page.inner_text(".stat")  # $0.20 at ¥2 = $1
    assert page.title().endswith("Acme <b>AI</b>")
    _shot(page, screens, "en-branded")


def test_every_key_setting_can_be_set_and_changed_in_the_browser(
    browser: Any, console_stack: LocalStack, screens: Path
) -> None:
    page = _page(browser, console_stack, locale="en-US")
    email = f"keys-{uuid.uuid4().hex[:8]}@example.com"
    _sign_up(page, email)
    page.click("nav a[data-page=keys]")
    form = page.locator("#create-key")
    form.locator("input[name=name]").fill("guarded")
    form.locator("input[name=limit_usd]").fill("0.10")
    form.locator("input[name=models]").fill("gpt-5.4-mini, gpt-5.4-nano")
    form.locator("select[name=mj_mode]").select_option("turbo")
    form.locator("summary").click()
    form.locator("input[name=daily_cap_usd]").fill("0.05")
    form.locator("input[name=rpm]").fill("30")
    form.locator("input[name=cidrs]").fill("127.0.0.1/32")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#new-secret")
    (key,) = console_stack.admin("key.list", account_id=_account_of(console_stack, email))["keys"]
    stored = console_stack.admin("key.get", key_id=key["key_id"])
    assert (stored["name"], stored["remaining_usd"], stored["models"]) == (
        "guarded",
        "0.10",
        ["gpt-5.4-mini", "gpt-5.4-nano"],
    )
    assert stored["guards"]["daily_cap_usd"] == "0.05" and stored["guards"]["rpm"] == 30
    assert stored["cidrs"] == ["127.0.0.1/32"] and stored["settings"]["mj_mode"] == "turbo"
    _shot(page, screens, "en-keys-created")

    page.click(f"tr[data-key-id='{key['key_id']}'] button.edit")
    edit = page.locator("#edit-key")
    assert edit.locator("input[name=daily_cap_usd]").input_value() == "0.05"
    edit.locator("input[name=name]").fill("renamed")
    edit.locator("input[name=limit_usd]").fill("")  # unlimited
    edit.locator("input[name=daily_cap_usd]").fill("")  # off
    edit.locator("input[name=cidrs]").fill("")  # any address
    edit.locator("select[name=mj_mode]").select_option("")
    _shot(page, screens, "en-keys-edit")
    edit.locator("button[type=submit]").click()
    page.wait_for_selector(f"tr[data-key-id='{key['key_id']}'] td:has-text('renamed')")
    stored = console_stack.admin("key.get", key_id=key["key_id"])
    assert (stored["name"], stored["remaining_usd"], stored["cidrs"]) == ("renamed", None, None)
    assert stored["guards"]["daily_cap_usd"] is None and stored["guards"]["rpm"] == 30
    assert "mj_mode" not in stored["settings"] and stored["models"] == ["gpt-5.4-mini", "gpt-5.4-nano"]


def test_the_price_list_shows_the_marked_up_price_and_its_markup(
    browser: Any, console_stack: LocalStack, screens: Path
) -> None:
    """``price markup-set``: the console's "Models & prices" shows the price the customer pays (list
    price × markup × group ratio) with a ×N tag, as /api/pricing shows a key; removing it restores both."""
    set_ = console_stack.admin("price.markup-set", pattern="gpt-5.4-mini", multiplier="2", note="browser test")
    try:
        assert set_["models"] == ["gpt-5.4-mini"]
        page = _page(browser, console_stack, locale="en-US")
        _sign_up(page, f"prices-{uuid.uuid4().hex[:8]}@example.com")
        page.click("nav a[data-page=models]")
        row = page.wait_for_selector("tr[data-model='gpt-5.4-mini']")
        assert row.query_selector(".badge.markup").inner_text() == "×2"
        cells = [c.inner_text() for c in row.query_selector_all("td.num")]
        assert cells[0] == "1.50" and cells[3] == "9.00"  # $0.75 and $4.50 per 1M tokens at list price, ×2
        assert page.is_visible("#markup-note")
        other = page.query_selector("tr[data-model='gpt-5.4-nano']")
        assert other is not None and other.query_selector(".badge.markup") is None  # at list price
        public = page.request.get("/api/pricing", headers={"Authorization": f"Bearer {console_stack.demo_key}"})
        (entry,) = [m for m in public.json()["data"] if m["model"] == "gpt-5.4-mini"]
        assert (entry["markup"], entry["per_million_tokens"]["input"]) == ("2", cells[0])
        _shot(page, screens, "en-models-markup")
    finally:
        console_stack.admin("price.markup-remove", pattern="gpt-5.4-mini")
    page.reload()
    row = page.wait_for_selector("tr[data-model='gpt-5.4-mini']")
    assert row.query_selector(".badge.markup") is None and not page.is_visible("#markup-note")
