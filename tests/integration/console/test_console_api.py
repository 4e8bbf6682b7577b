"""The console's JSON API against the real local stack: sessions, CSRF, owner checks, rate limits, bad
input (clear 4xx, nothing changed), and the money it shows being the same records and ledger."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import openai
import pytest

from tests.integration.console.conftest import PASSWORD, Visitor
from tests.support.stack import LocalStack, wait_until

pytestmark = pytest.mark.integration

SESSION_GETS = ("me", "dashboard", "keys", "usage", "usage.csv", "credits", "models")


def _keys(v: Visitor) -> list[dict[str, Any]]:
    response = v.get("keys")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


# ---- sign-up, sign-in, sign-out ------------------------------------------------------------------


def test_sign_up_credits_the_signup_amount_once_and_signs_in(console_stack: LocalStack, customer: Visitor) -> None:
    me = customer.get("me").json()
    assert me["balance_usd"] == "0.20" and me["email"] == customer.email
    assert console_stack.balance(customer.account_id) == 200_000
    credits = customer.get("credits").json()["data"]
    assert [(c["amount_usd"], c["reason"]) for c in credits] == [("0.20", "signup")]
    # Signing up again with the same address credits nothing more.
    again = httpx.Client(base_url=console_stack.url)
    with again:
        second = Visitor(again).signup(customer.email)
    assert second.status_code == 409 and second.json()["error"]["code"] == "email_taken"
    assert console_stack.balance(customer.account_id) == 200_000
    assert console_stack.audit(customer.account_id)["ok"] is True


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "not-an-address", "password": PASSWORD}, "invalid_email"),
        ({"email": "short@example.com", "password": "short"}, "weak_password"),
        ({"email": "same@example.com", "password": "same@example.com"}, "weak_password"),
        ({"email": "nopass@example.com"}, "invalid_body"),
        ({"email": ["x"], "password": PASSWORD}, "invalid_email"),
    ],
)
def test_bad_sign_up_input_is_a_clear_400_and_creates_nothing(
    visitor: Visitor, console_stack: LocalStack, body: dict[str, Any], code: str
) -> None:
    response = visitor.post("signup", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    retry = visitor.post("signin", {"email": "short@example.com", "password": "short"})
    assert retry.status_code == 401


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_a_400(visitor: Visitor, raw: bytes) -> None:
    response = visitor.http.post(
        "/console/api/signin", content=raw, headers={**visitor.headers(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_wrong_password_and_unknown_address_get_the_same_answer(customer: Visitor, new_visitor: Any) -> None:
    other = new_visitor()
    wrong = other.post("signin", {"email": customer.email, "password": "wrong password 123"})
    unknown = other.post("signin", {"email": "nobody-here@example.com", "password": "wrong password 123"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers
    right = other.post("signin", {"email": customer.email.upper(), "password": PASSWORD})
    assert right.status_code == 200 and "httponly" in right.headers["set-cookie"].lower()
    assert "samesite=strict" in right.headers["set-cookie"].lower()


@pytest.mark.parametrize("path", SESSION_GETS)
def test_every_console_read_needs_a_session(visitor: Visitor, path: str) -> None:
    response = visitor.get(path)
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_signed_in"


def test_a_forged_or_tampered_cookie_is_refused(customer: Visitor, console_stack: LocalStack) -> None:
    cookie = customer.http.cookies["tollway_session"]
    body, signature = cookie.split(".")
    with httpx.Client(base_url=console_stack.url) as http:
        for forged in (f"{body}.{signature[:-2]}AA", f"{body[:-2]}AA.{signature}", "garbage", ""):
            http.cookies.set("tollway_session", forged)
            assert http.get("/console/api/me").status_code == 401


def test_sign_out_invalidates_the_session_even_for_a_copied_cookie(
    customer: Visitor, console_stack: LocalStack
) -> None:
    copied = customer.http.cookies["tollway_session"]
    out = customer.post("signout")
    assert out.status_code == 200
    assert customer.get("me").status_code == 401
    with httpx.Client(base_url=console_stack.url) as http:
        http.cookies.set("tollway_session", copied)
        assert http.get("/console/api/me").status_code == 401


# ---- CSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Tollway-Console": "1"},  # no CSRF token
        {"X-Tollway-Console": "1", "X-CSRF-Token": "wrong"},
        {"X-CSRF-Token": "from-the-page"},  # no console header (a plain form post)
        {"X-Tollway-Console": "1", "X-CSRF-Token": "from-the-page", "Origin": "https://evil.example"},
        {"X-Tollway-Console": "1", "X-CSRF-Token": "from-the-page", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_state_changing_calls_need_the_csrf_token_and_the_same_origin(
    customer: Visitor, headers: dict[str, str]
) -> None:
    headers = {k: (customer.csrf or "") if v == "from-the-page" else v for k, v in headers.items()}
    created = customer.http.post("/console/api/keys", json={"name": "csrf"}, headers=headers)
    assert created.status_code == 403 and created.json()["error"]["code"] == "csrf_failed"
    assert customer.http.post("/console/api/signout", headers=headers).status_code == 403
    assert customer.http.post("/console/api/redeem", json={"code": "x"}, headers=headers).status_code == 403
    assert _keys(customer) == []  # nothing was created
    assert customer.get("me").status_code == 200  # and the session was not signed out


# ---- keys ----------------------------------------------------------------------------------------


def test_keys_are_created_with_the_operator_settings_and_work_on_the_api(
    customer: Visitor, console_stack: LocalStack
) -> None:
    body = {
        "name": "ci",
        "limit_usd": "0.05",
        "expires_at": 4_102_444_800,
        "models": ["gpt-5.4-mini"],
        "mj_mode": "relax",
        "mj_image_mode": "origin",
    }
    created = customer.post("keys", body)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith("sk-") and key["remaining_usd"] == "0.05" and key["models"] == ["gpt-5.4-mini"]
    assert (key["mj_mode"], key["mj_image_mode"], key["expires_at"]) == ("relax", "origin", 4_102_444_800)
    # The secret is shown once: the listing has the prefix only.
    listed = _keys(customer)
    assert [k["key_id"] for k in listed] == [key["key_id"]] and "key" not in listed[0]
    operator_view = console_stack.admin("key.get", key_id=key["key_id"])
    assert operator_view["account_id"] == customer.account_id and operator_view["remaining_usd"] == "0.05"
    client = console_stack.client(key["key"])
    assert [m.id for m in client.models.list()] == ["gpt-5.4-mini"]
    assert customer.post(f"keys/{key['key_id']}/disable").json()["status"] == "disabled"
    with pytest.raises(openai.PermissionDeniedError):  # refused at once: the reserve write checks the key
        client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])
    assert customer.post(f"keys/{key['key_id']}/enable").json()["status"] == "active"
    renamed = customer.post(f"keys/{key['key_id']}", {"name": "renamed", "limit_usd": "unlimited", "models": ["*"]})
    assert renamed.status_code == 200 and renamed.json()["remaining_usd"] is None
    assert customer.delete(f"keys/{key['key_id']}").json()["status"] == "revoked"
    assert _keys(customer) == []
    with pytest.raises((openai.AuthenticationError, openai.PermissionDeniedError)):
        client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x" * 201},
        {"limit_usd": "-1"},
        {"limit_usd": "lots"},
        {"expires_at": -5},
        {"mj_mode": "warp"},
        {"mj_image_mode": "teleport"},
        {"rpm": -1},
        {"account_id": "acct_someone_else"},
        {"unknown_field": 1},
    ],
)
def test_bad_key_input_is_a_400_and_creates_nothing(customer: Visitor, body: dict[str, Any]) -> None:
    response = customer.post("keys", body)
    assert response.status_code == 400, response.text
    assert _keys(customer) == []


def test_a_bad_key_update_changes_nothing(customer: Visitor, console_stack: LocalStack) -> None:
    key = customer.post("keys", {"name": "steady", "limit_usd": "0.50", "models": ["gpt-5.4-mini"]}).json()
    before = console_stack.admin("key.get", key_id=key["key_id"])
    for body in (
        {"name": "ok", "limit_usd": "-3"},
        {"models": "gpt-5.4-mini"},
        {"cidrs": ["not-an-ip"]},
        {"key_id": "x"},
    ):
        response = customer.post(f"keys/{key['key_id']}", body)
        assert response.status_code == 400, response.text
    assert console_stack.admin("key.get", key_id=key["key_id"]) == before


def test_another_accounts_keys_and_records_answer_like_missing_ones(
    customer: Visitor, new_visitor: Any, console_stack: LocalStack
) -> None:
    key = customer.post("keys", {"name": "mine"}).json()
    reply = console_stack.client(key["key"]).chat.completions.create(
        model="gpt-5.4-mini", messages=[{"role": "user", "content": "hi"}]
    )
    rid = console_stack.wait_records(customer.account_id, 1)[0]["request_id"]
    assert reply.choices
    intruder = new_visitor()
    assert intruder.signup().status_code == 200
    kid = key["key_id"]
    for response in (
        intruder.post(f"keys/{kid}", {"name": "stolen"}),
        intruder.post(f"keys/{kid}/disable"),
        intruder.post(f"keys/{kid}/enable"),
        intruder.delete(f"keys/{kid}"),
        intruder.get("usage", params={"key_id": kid}),
        intruder.get("usage.csv", params={"key_id": kid}),
        intruder.post("keys/key_doesnotexist0/disable"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "key_not_found"
    assert intruder.get("usage", params={"request_id": rid}).json()["data"] == []
    assert intruder.get("usage").json()["data"] == []
    mine = _keys(customer)
    assert (mine[0]["name"], mine[0]["status"]) == ("mine", "active")


# ---- usage, credits, redemption ------------------------------------------------------------------


def test_usage_rows_and_csv_show_the_same_charge_as_the_records(customer: Visitor, console_stack: LocalStack) -> None:
    key = customer.post("keys", {"name": "usage"}).json()
    client = console_stack.client(key["key"])
    for _ in range(3):
        client.chat.completions.create(model="gpt-5.4-mini", messages=[{"role": "user", "content": "count"}])
    records = console_stack.wait_records(customer.account_id, 3)
    by_id = {r["request_id"]: r for r in records}
    page = customer.get("usage", params={"limit": 2}).json()
    assert len(page["data"]) == 2 and page["has_more"]
    rest = customer.get("usage", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    rows = page["data"] + rest["data"]
    assert {r["request_id"] for r in rows} == set(by_id)
    for row in rows:
        assert row["charge"] == by_id[row["request_id"]]["charge"] > 0
        assert row["tokens"]["input"] == by_id[row["request_id"]]["tokens"]["input"]
        assert "channel_id" not in row and "hold" not in row
    assert customer.get("usage", params={"model": "gpt-other"}).json()["data"] == []
    assert len(customer.get("usage", params={"key_id": key["key_id"]}).json()["data"]) == 3
    exported = customer.get("usage.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["request_id"]: int(r["charge"]) for r in table} == {k: v["charge"] for k, v in by_id.items()}
    assert "channel_id" not in table[0] and "cached_tokens" in table[0] and "cache_write_tokens" in table[0]
    dashboard = customer.get("dashboard").json()
    spent = sum(r["charge"] for r in records)
    assert dashboard["requests_today"] == 3 and len(dashboard["recent"]) == 3
    assert dashboard["balance"] == 200_000 - spent == console_stack.balance(customer.account_id)
    for bad in ({"limit": "0"}, {"limit": "101"}, {"cursor": "%%%"}, {"start": "yesterday"}):
        assert customer.get("usage", params=bad).status_code == 400


def test_redeeming_a_code_credits_once_and_shows_in_the_history(customer: Visitor, console_stack: LocalStack) -> None:
    (code,) = console_stack.admin("redeem.create", value_usd="2.50", count=1)["codes"]
    redeemed = customer.post("redeem", {"code": code})
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["balance_usd"] == "2.70"
    again = customer.post("redeem", {"code": code})
    assert again.status_code == 409 and again.json()["error"]["code"] == "code_used"
    assert console_stack.balance(customer.account_id) == 2_700_000
    history = customer.get("credits").json()["data"]
    assert [h["amount_usd"] for h in history] == ["2.50", "0.20"]
    assert history[0]["reason"].startswith("redeem rdm-") and code not in history[0]["reason"]
    assert console_stack.audit(customer.account_id)["ok"] is True
    for bad in ({}, {"code": ""}, {"code": 5}, {"code": "rdm-short"}):
        response = customer.post("redeem", bad)
        assert response.status_code == 400, response.text
    assert console_stack.balance(customer.account_id) == 2_700_000


def test_models_show_the_groups_prices(customer: Visitor, console_stack: LocalStack) -> None:
    body = customer.get("models").json()
    priced = {m["model"]: m for m in body["data"]}
    assert "gpt-5.4-mini" in priced and "input" in priced["gpt-5.4-mini"]["per_million_tokens"]
    public = {
        m["model"]: m
        for m in httpx.get(f"{console_stack.url}/api/pricing", headers=_bearer(console_stack)).json()["data"]
    }
    assert priced["gpt-5.4-mini"] == public["gpt-5.4-mini"]  # the same prices /api/pricing shows a key
    mj = {row["action"]: row["usd"] for row in body["midjourney"]}
    assert set(mj["imagine"]) == {"relax", "fast", "turbo"} and mj["imagine"]["relax"] < mj["imagine"]["turbo"]


def _bearer(stack: LocalStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.demo_key}"}


# ---- rate limits ---------------------------------------------------------------------------------


def test_sign_in_attempts_per_address_are_limited(customer: Visitor, new_visitor: Any) -> None:
    other = new_visitor()
    answers = [
        other.post("signin", {"email": customer.email, "password": "not it at all"}).status_code for _ in range(11)
    ]
    assert answers[:10] == [401] * 10 and answers[10] == 429
    limited = other.post("signin", {"email": customer.email, "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


def test_sign_ups_per_address_are_limited(new_visitor: Any) -> None:
    email = "farm-credit@example.com"
    answers = [new_visitor().signup(email).status_code for _ in range(4)]
    assert answers == [200, 409, 409, 429]


def test_redemptions_per_account_are_limited(customer: Visitor) -> None:
    bad = "rdm-" + "A" * 32
    answers = [customer.post("redeem", {"code": bad}).status_code for _ in range(11)]
    assert answers[:10] == [400] * 10 and answers[10] == 429


# ---- operator switches ---------------------------------------------------------------------------


def test_closed_and_invite_only_sign_up(switches: Any, new_visitor: Any, console_stack: LocalStack) -> None:
    switches(signup="closed")
    closed = new_visitor().signup()
    assert closed.status_code == 403 and closed.json()["error"]["code"] == "signup_closed"
    switches(signup="invite")
    invite = console_stack.admin("console.invite", count=1)["invites"][0]
    assert new_visitor().signup().status_code == 400
    assert new_visitor().signup(invite="inv-notarealcode").json()["error"]["code"] == "invite_invalid"
    first = new_visitor()
    assert first.signup(invite=invite).status_code == 200
    assert new_visitor().signup(invite=invite).json()["error"]["code"] == "invite_invalid"
    assert console_stack.balance(first.account_id) == 200_000


def test_email_verification_keeps_addresses_private(
    switches: Any, new_visitor: Any, customer: Visitor, console_stack: LocalStack
) -> None:
    switches(email_verification=True)
    fresh = new_visitor()
    answer = fresh.signup()
    taken = new_visitor().signup(customer.email)
    assert answer.status_code == taken.status_code == 202 and answer.json() == taken.json()
    blocked = fresh.post("signin", {"email": fresh.email, "password": PASSWORD})
    assert blocked.status_code == 403 and blocked.json()["error"]["code"] == "email_unverified"
    mail = wait_until(
        lambda: [m for m in fresh.get("dev/mail").json()["data"] if m["to"] == fresh.email] or None, what="mail"
    )
    link = next(word for word in str(mail[0]["body"]).split() if "/console/api/verify?token=" in word)
    printed = (console_stack.state_dir / "stack.log").read_text()
    assert f"[tollway local mail] to {fresh.email}" in printed and link in printed  # on `tollway local`'s terminal
    assert link.startswith(f"{console_stack.url}/console/api/verify?token=")
    followed = fresh.http.get(link)
    assert followed.status_code == 303 and followed.headers["location"] == f"{console_stack.url}/#/signin?verified=1"
    assert fresh.http.get(followed.request.url).headers["location"].endswith("verified=0")  # single use
    signed_in = fresh.post("signin", {"email": fresh.email, "password": PASSWORD})
    assert signed_in.status_code == 200


# ---- pages, headers, escaping --------------------------------------------------------------------


def test_the_operators_display_currency_is_shown_beside_usd(switches: Any, customer: Visitor) -> None:
    switches(currency_symbol="¥", currency_rate="7.2")
    me = customer.get("me").json()
    assert me["display"] == {"symbol": "¥", "rate": "7.2", "amount": "1.44"}  # $0.20 at ¥7.2 = $1
    assert customer.get("config").json()["currency_symbol"] == "¥"


def test_pages_and_assets_carry_a_strict_csp_and_cache_headers(console_stack: LocalStack) -> None:
    with httpx.Client(base_url=console_stack.url) as http:
        page = http.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
        assert page.headers["cache-control"] == "no-cache" and "<script>" not in page.text
        # Every URL of the page is relative, so it also works under an API Gateway stage path.
        assert 'src="/' not in page.text and 'href="/' not in page.text
        asset = "/" + next(
            part.split('"')[0] for part in page.text.split('src="') if part.startswith("console/static/app.js")
        )
        cached = http.get(asset)
        assert cached.headers["cache-control"].startswith("public, max-age=31536000")
        again = http.get(asset, headers={"If-None-Match": cached.headers["etag"]})
        assert again.status_code == 304
        assert http.get("/console/static/../app.py").status_code == 404
        assert http.get("/console/static/nothing.js").status_code == 404


def test_reflected_input_comes_back_as_json_never_html(visitor: Visitor) -> None:
    attack = "<script>alert(1)</script>"
    for response in (
        visitor.get("usage", params={"model": attack}),
        visitor.post("signin", {"email": attack, "password": attack}),
        visitor.http.get(f"/console/api/{attack}"),
        visitor.http.get("/console/api/verify", params={"token": attack}, follow_redirects=False),
    ):
        assert not response.headers.get("content-type", "").startswith("text/html")
        if response.status_code == 303:
            assert attack not in response.headers["location"]


def test_a_failed_midjourney_task_shows_its_refund(customer: Visitor, console_stack: LocalStack) -> None:
    key = customer.post("keys", {"name": "mj", "mj_mode": "fast"}).json()
    submitted = httpx.post(
        f"{console_stack.url}/mj/submit/imagine",
        headers={"mj-api-secret": key["key"]},
        json={"prompt": "a storm [[mj:fail]]"},
        timeout=30,
    )
    assert submitted.status_code == 200, submitted.text
    task_id = str(submitted.json()["result"])

    def refunded_row() -> dict[str, Any] | None:
        console_stack.admin("mj.sweep")
        rows = [r for r in customer.get("usage").json()["data"] if r.get("task_id") == task_id]
        return rows[0] if rows and rows[0].get("refunded") else None

    row = wait_until(refunded_row, timeout_s=30, what="the task's refund")
    assert (row["charge"], row["status"], row["error_code"]) == (0, "error", "mj_task_failure")
    assert console_stack.balance(customer.account_id) == 200_000  # charged, then given back
