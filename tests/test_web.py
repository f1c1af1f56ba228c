"""`notifier web` in process (Starlette's TestClient): double opt-in, manage, RFC 8058
unsubscribe, votes, Slack buttons, and the rules every link and form follows."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import re
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from freezegun import freeze_time
from starlette.testclient import TestClient

from notifier.config import load_config
from notifier.errors import ConfigError
from notifier.models import Paper
from notifier.store import Store
from notifier.web.app import create_app
from notifier.web.tokens import Signer, Token, TokenError
from web_helpers import ENV, PUBLIC, SECRET, SLACK_SECRET, csrf_of, link_in, store_sample_papers, wait_until_up

SAME_SITE = {"sec-fetch-site": "same-origin"}    # what a browser says of a form sent from this site's own page
CROSS_SITE = {"sec-fetch-site": "cross-site"}


@pytest.fixture
def app(config):
    config.web.public_url = PUBLIC
    application = create_app(config, env=ENV)
    store_sample_papers(application.web.store)
    yield application
    application.web.close()


@pytest.fixture
def client(app):
    with TestClient(app, base_url=PUBLIC, follow_redirects=False) as c:
        yield c


@pytest.fixture
def store(app):
    return app.web.store


def mails(config) -> list[str]:
    """Texts the app sent (no SMTP host configured: they land in the outbox folder)."""
    return [p.read_text(encoding="utf-8") for p in sorted(Path(config.outbox_dir).glob("*.txt"))]


def post_form(client, path: str, data: dict, page: str | None = None, **options):
    token = csrf_of(client.get(page or path).text)
    return client.post(path, data={"csrftoken": token, **data}, **options)


def subscribe(client, email="ada@example.org", keywords='"speculative decoding", distillation', follow=True, **extra):
    """The page a sign-up ends on (``follow=False``: the POST's own answer)."""
    return post_form(client, "/", {"email": email, "keywords": keywords, "time": "07:30",
                                   "timezone": "Europe/Berlin", "frequency": "daily", "action": "subscribe", **extra},
                     follow_redirects=follow)


def subscribed(client, config, store, email="ada@example.org"):
    subscribe(client, email)
    confirm = link_in(mails(config)[-1], "confirm")
    post_form(client, confirm, {})
    return store.find_subscriber(email)


def preview(client, path: str, fields: dict):
    """A live preview, as the page's script sends it: a POST with the form's CSRF token."""
    return client.post(path, data={"csrftoken": csrf_of(client.get("/").text), **fields})


def manage_link(app, sub) -> str:
    return f"{PUBLIC}/manage/{app.web.signer.sign(Token('manage', sub.id))}"


# ----------------------------------------------------------------------------- double opt-in
def test_nothing_is_active_until_the_mailed_link_is_confirmed_by_its_page_post(client, config, store):
    page = subscribe(client)
    assert page.status_code == 200 and "Check your inbox" in page.text
    assert store.list_subscribers(active_only=False) == []
    confirm = link_in(mails(config)[0], "confirm")
    assert confirm.startswith(PUBLIC + "/confirm/")
    shown = client.get(confirm)          # a mail scanner following the link changes nothing
    assert shown.status_code == 200 and "Confirm subscription" in shown.text
    assert store.list_subscribers(active_only=False) == []
    done = client.post(confirm, data={"csrftoken": csrf_of(shown.text)})
    assert done.status_code == 303 and done.headers["location"].startswith("/subscribed/")
    page = client.get(done.headers["location"])
    assert "You are subscribed" in page.text and "Manage your subscription" in page.text
    [sub] = store.list_subscribers()
    assert (sub.address, json.loads(sub.profile), sub.timezone, sub.origin) == (
        "ada@example.org", ['"speculative decoding", distillation'], "Europe/Berlin", "web")


def test_without_an_smtp_host_a_confirmation_mail_is_a_file_named_as_one(client, config):
    """It was outbox/alert-<time>.txt, named as an operator alert is."""
    subscribe(client)
    [mail] = Path(config.outbox_dir).glob("*.txt")
    assert mail.name.startswith("confirm-your-paper-digest-subscription-")


def test_a_confirmation_link_opened_again_tells_a_subscriber_they_are_subscribed(client, config, store):
    """The back button, or the mail's link clicked again before the first digest: it said "This
    link no longer works ... your manage link is in your digests", to someone with no digest yet."""
    subscribe(client)
    confirm = link_in(mails(config)[0], "confirm")
    post_form(client, confirm, {})
    for again in (client.get(confirm), client.post(confirm, data={"csrftoken": csrf_of(client.get("/").text)})):
        assert again.status_code == 200 and "You are subscribed" in again.text and "used already" in again.text
        assert "/manage/" not in again.text                     # used once: it opens nothing more
    store.remove_subscriber(store.find_subscriber("ada@example.org").id)
    gone = client.get(confirm)
    assert gone.status_code == 410 and "subscribe again, use the start page" in gone.text


@pytest.mark.parametrize("send_empty, said", [
    (False, "Your first digest comes at 06:15 (Asia/Tokyo) on Fridays if new papers match your keywords; a week "
            "without any sends nothing."),
    (True, "Your first digest comes at 06:15 (Asia/Tokyo) on Fridays.")], ids=["quiet weeks send nothing", "send_empty"])
def test_a_new_subscriber_is_told_when_the_first_digest_comes_and_that_a_quiet_week_sends_nothing(
        client, config, send_empty, said):
    """"Your first digest comes at your delivery time": someone whose keywords matched nothing that
    week waited for it, and wondered whether the sign-up had worked."""
    config.general.send_empty = send_empty
    posted = subscribe(client, frequency="weekly:fri", time="06:15", timezone="Asia/Tokyo", follow=False)
    confirm = link_in(mails(config)[0], "confirm")
    subscribed_page = post_form(client, confirm, {}, follow_redirects=True)
    for page in (subscribed_page, client.get(confirm), client.get(posted.headers["location"])):   # and Back to either
        assert "You are subscribed" in page.text and said in read(page.text)


def test_a_confirmation_that_fails_half_way_leaves_the_link_usable(client, config, store, app, monkeypatch):
    """Using up the single-use link and creating the subscriber are one transaction: if the
    second fails (a database error, say), the link still works once the problem is gone."""
    from notifier.errors import StoreError

    subscribe(client)
    confirm = link_in(mails(config)[0], "confirm")
    shown = client.get(confirm)
    real = app.web.store.add_subscriber

    def failing(sub):
        raise StoreError("the disk is full")
    monkeypatch.setattr(app.web.store, "add_subscriber", failing)
    with pytest.raises(StoreError):                 # the test client re-raises what the 500 page hides
        client.post(confirm, data={"csrftoken": csrf_of(shown.text)})
    assert store.list_subscribers(active_only=False) == []
    monkeypatch.setattr(app.web.store, "add_subscriber", real)
    done = client.post(confirm, data={"csrftoken": csrf_of(shown.text)}, follow_redirects=True)
    assert done.status_code == 200 and [s.address for s in store.list_subscribers()] == ["ada@example.org"]


def test_the_answer_is_the_same_for_a_new_and_an_already_subscribed_address(client, config, store):
    subscribed(client, config, store, "ada@example.org")
    new = subscribe(client, "bob@example.org")
    known = subscribe(client, "ada@example.org")
    strip = lambda r: (r.status_code, re.sub(r"\S+@example\.org|/sent/[\w-]+", "X", r.text))  # noqa: E731
    assert strip(new) == strip(known)
    last = mails(config)[-1]
    assert "already subscribed" in last and "/manage/" in last and "/confirm/" not in last


def test_reloading_the_check_your_inbox_page_sends_no_second_mail(client, config, store):
    """The page was the POST's answer: a reload (or back, then forward) sent the form again and
    mailed another confirmation link."""
    posted = subscribe(client, follow=False)
    assert posted.status_code == 303
    for _ in range(2):
        page = client.get(posted.headers["location"])
        assert page.status_code == 200 and "Check your inbox" in page.text and "ada@example.org" in page.text
    assert len(mails(config)) == 1


def read(html_text: str) -> str:
    """What a page, or a part of it, says: its text without tags, characters unescaped."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def error_under(page, field: str) -> str:
    """The error shown under ``field``, as read."""
    return read(re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page.text, re.S).group(1))


def readable(text: str) -> str:
    """``text`` and what its dot-separated parts read as base64 (itsdangerous's tokens are)."""
    import base64

    return text + "".join(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)).decode("latin-1")
                          for part in text.split("/") for p in part.split(".") if re.fullmatch(r"[\w-]+", p))


def test_the_check_your_inbox_url_carries_no_address_readable_or_encoded(client, config, store):
    """/sent/eyJhZGFAZXhhbXBsZS5vcmci... was the address in base64 (signed, not encrypted): in the
    history, a proxy's log, a screenshot of the address bar."""
    posted = subscribe(client, follow=False)
    where = posted.headers["location"]
    assert "ada@example.org" not in readable(where) and "ada@example.org" in client.get(where).text
    assert subscribe(client, follow=False).headers["location"] != where      # a name per sign-up


@pytest.mark.parametrize("opened", ["in another browser", "forged", "from before the cookie"])
def test_a_check_your_inbox_page_opened_without_its_sign_ups_cookie_says_so_in_a_line(client, opened):
    """It names the address from a signed cookie set for its URL alone, so nobody can link to a page of
    this site saying it mailed an address of their choosing, and a link from before it does not break."""
    where = subscribe(client, follow=False).headers["location"]
    client.cookies.clear()
    if opened == "forged":
        client.cookies.set("sent", Signer("another-key").sign_sent("eve@example.org"), path=where)
    elif opened == "from before the cookie":
        where = f"/sent/{Signer(SECRET).sign_sent('ada@example.org')}"
    page = client.get(where)
    assert page.status_code == 200 and "@" not in page.text
    assert "names the address we mailed only in the browser that subscribed, for 48 hours" in page.text


def correct_it(page) -> str:
    """The "Wrong address? Correct it" link of a "Check your inbox" page."""
    return re.search(r'href="([^"]+)">Wrong address\? Correct it', page.text).group(1)


def test_correct_it_refills_the_form_as_sent_from_the_server_with_javascript_off(client, config):
    """With JavaScript off (and after Back then Forward with it on) "Correct it" opened a blank form:
    the copy it refilled from was the tab's own, kept by a script."""
    sent = subscribe(client, "ada@exmaple.org", keywords='"kv cache", agents', frequency="weekly", weekday="fri",
                     timezone="America/New_York")
    link = correct_it(sent)
    # whole words: two random letters ("kv") turn up in a random token now and then
    assert "exmaple" not in readable(link) and "kv cache" not in readable(link)
    page = client.get(link)
    assert page.status_code == 200 and 'value="ada@exmaple.org" required autofocus' in page.text
    assert textareas(page.text) == ["&#34;kv cache&#34;, agents"]
    assert '<option value="weekly:fri" selected>' in page.text
    assert 'value="America/New_York"' in page.text
    assert "Agents" in page.text                          # the preview of those keywords, server-side
    fixed = client.post("/", data={"csrftoken": csrf_of(page.text), "email": "ada@example.org",
                                   "keywords": '"kv cache", agents', "time": "07:30", "timezone": "America/New_York",
                                   "frequency": "weekly", "weekday": "fri", "action": "subscribe"}, follow_redirects=True)
    assert "We sent a message to ada@example.org" in read(fixed.text) and len(mails(config)) == 2


def test_correct_it_in_another_browser_opens_the_blank_form(client):
    """The link is the same in any browser: the form is refilled only where it was typed."""
    link = correct_it(subscribe(client, "ada@example.org", keywords="secret project words"))
    client.cookies.clear()
    page = client.get(link, follow_redirects=True)
    assert page.url.path == "/" and "ada@example.org" not in page.text and "secret project" not in page.text


def test_check_your_inbox_says_subscribed_once_confirmed_elsewhere_and_offers_no_correction(client, config):
    """Confirmed from the mail in another tab or on a phone, the first tab still said "Check your
    inbox" and offered to correct the address, which sent another sign-up for it."""
    sent = subscribe(client, follow=False).headers["location"]
    link = correct_it(client.get(sent))
    with TestClient(client.app, base_url=PUBLIC) as phone:
        post_form(phone, link_in(mails(config)[0], "confirm"), {})
    page = client.get(sent)
    assert "<title>You are subscribed" in page.text and "ada@example.org is confirmed" in read(page.text)
    assert "Correct it" not in page.text and "inbox.js" not in page.text
    assert client.get(link).headers["location"] == sent


def test_check_your_inbox_of_an_address_subscribed_already_never_says_confirmed(client, config, store):
    """It was mailed a note with its manage link, not a link to confirm: saying "confirmed" would tell
    whoever typed an address that it is subscribed here."""
    subscribed(client, config, store, "ada@example.org")
    page = client.get(subscribe(client, "ada@example.org", keywords="robots", follow=False).headers["location"])
    assert "<title>Check your inbox" in page.text and "Correct it" in page.text


def test_keywords_too_long_for_the_cookie_are_left_out_of_the_correction_and_said_so(client):
    """A browser drops a cookie over 4,096 bytes: "Check your inbox" would not have named the address."""
    rng = random.Random(7)
    words = ", ".join("".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(3)) for _ in range(380))
    posted = subscribe(client, keywords=words, follow=False)
    assert len(posted.headers["set-cookie"]) <= 4096
    page = client.get(correct_it(client.get(posted.headers["location"])))
    assert 'value="ada@example.org"' in page.text and textareas(page.text) == [""]
    assert "Your keywords were too long to keep for this page: type them again" in page.text


def test_check_your_inbox_from_before_an_upgrade_still_names_the_address_and_corrects_it(client):
    """The older version's cookie held the address alone, and was refused for up to 48 hours after an
    upgrade: a reload of "Check your inbox" said it names the address "only in the browser that
    subscribed", in the very browser that did, and its "Correct it" was gone."""
    where = subscribe(client, "ada@exmaple.org", follow=False).headers["location"]
    client.cookies.clear()
    client.cookies.set("sent", Signer(SECRET).sign_sent("ada@exmaple.org"), path=where)    # as the older version set it
    page = client.get(where)
    assert "We sent a message to ada@exmaple.org." in read(page.text)
    form = client.get(correct_it(page))
    assert 'value="ada@exmaple.org" required autofocus' in form.text and textareas(form.text) == [""]
    assert "it kept only your address: type your keywords again" in form.text
    assert "data-browser-zone" in form.text                   # the zone is the browser's, as on a blank form


def test_a_sign_up_sent_twice_at_once_mails_one_confirmation_and_says_check_your_inbox_twice(client, config, store):
    """Without JavaScript a double click on Subscribe (or a form sent again) mailed two links."""
    first, second = subscribe(client, follow=False), subscribe(client, follow=False)
    for posted in (first, second):
        page = client.get(posted.headers["location"])
        assert "Check your inbox" in page.text and "ada@example.org" in page.text
    assert len(mails(config)) == 1


def test_a_sign_up_sent_again_is_not_counted_against_its_addresss_limit(config, client):
    config.web.limit_per_address = "1/hour"
    assert [subscribe(client).status_code for _ in range(3)] == [200, 200, 200]
    assert [subscribe(client, keywords="robots").status_code for _ in range(2)] == [429, 429]


def test_a_sign_up_sent_again_does_not_use_up_the_networks_sign_ups(config, client):
    """A double click (or a form sent again) mails nothing, yet counted against limit_per_client:
    after a talk, a room on one network clicking twice each was told to wait before all were mailed."""
    config.web.limit_per_client = "2/hour"
    assert [subscribe(client).status_code for _ in range(3)] == [200, 200, 200]
    assert [subscribe(client, f"u{i}@example.org").status_code for i in range(2)] == [200, 429]
    assert len(mails(config)) == 2


@pytest.mark.parametrize("again, seconds", [({"keywords": "robots"}, 1), ({"frequency": "weekly", "weekday": "mon"}, 1),
                                            ({"email": "Bob@example.org"}, 1), ({}, 60)],
                         ids=["other keywords", "other frequency", "other address", "a minute later"])
def test_a_sign_up_with_other_settings_or_a_minute_later_is_mailed_again(config, client, again, seconds):
    with freeze_time("2026-06-12 10:00") as clock:
        subscribe(client)
        clock.tick(seconds)
        assert "Check your inbox" in subscribe(client, **again).text
    assert len(mails(config)) == 2


def test_a_sign_up_whose_mail_could_not_be_sent_is_mailed_when_sent_again_at_once(config, client):
    from smtp_server import free_port

    host, port, security = config.email.host, config.email.port, config.email.security
    config.email.host, config.email.port, config.email.security = "127.0.0.1", free_port(), "none"
    assert subscribe(client).status_code == 503
    config.email.host, config.email.port, config.email.security = host, port, security     # the mail server is back
    assert "Check your inbox" in subscribe(client).text
    assert len(mails(config)) == 1


def test_a_subscriber_who_types_their_address_in_other_capitals_gets_their_manage_link_not_a_new_sign_up(
        client, config, store):
    """Addresses are stored in lower case: 'Ada@Example.ORG' got a confirmation link, and
    confirming it replaced Ada's profiles with what the form said."""
    subscribed(client, config, store, "ada@example.org")
    page = subscribe(client, "Ada@Example.ORG", keywords="robots")
    assert page.status_code == 200 and "Check your inbox" in page.text
    last = mails(config)[-1]
    assert "already subscribed" in last and "/manage/" in last and "/confirm/" not in last
    assert json.loads(store.find_subscriber("ada@example.org").profile) == ['"speculative decoding", distillation']


def test_subscribe_requests_are_rate_limited_per_address(config, client, store):
    config.web.limit_per_address = "2/hour"
    assert [subscribe(client, "eve@example.org", f"topic {i}").status_code for i in range(3)] == [200, 200, 429]
    assert subscribe(client, "other@example.org").status_code == 200
    assert len(mails(config)) == 3


def test_a_visitor_over_the_rate_limit_is_told_when_to_try_again_and_is_let_in_then(config, client):
    """It said "Please wait a while": a minute, or an hour? (The limiter runs on the app's clock:
    the `limits` library's expiry thread read the real one, and forgot frozen hits at once.)"""
    config.web.limit_per_address = "2/hour"
    with freeze_time("2026-06-12 10:00") as clock:
        subscribe(client, "eve@example.org")
        clock.tick(600)
        subscribe(client, "eve@example.org")
        clock.tick(60)
        refused = subscribe(client, "eve@example.org")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "2940"
        assert "Please try again in 49 minutes." in refused.text
        clock.tick(2939)
        assert subscribe(client, "eve@example.org").headers["retry-after"] == "1"
        clock.tick(1)                                       # the first request leaves the hour
        assert subscribe(client, "eve@example.org").status_code == 200
        assert subscribe(client, "eve@example.org", "robots").headers["retry-after"] == "600"


def test_subscribe_requests_are_rate_limited_per_client_but_previews_are_not_counted(config, client):
    config.web.limit_per_client = "2/hour"
    for _ in range(3):
        assert post_form(client, "/", {"keywords": "agents", "action": "preview"}).status_code == 200
    assert [subscribe(client, f"u{i}@example.org").status_code for i in range(3)] == [200, 200, 429]


def test_a_room_on_one_network_fixing_typos_in_its_sign_ups_is_not_told_to_wait(config, client):
    """Refused forms counted against limit_per_client (20 an hour): after a talk, people on one
    network who each sent a form with a typo were refused before any mail went out."""
    config.web.limit_per_client = "2/hour"
    for typo in ({"keywords": '"kv cache'}, {"email": "ada@example"}, {"time": "25:00"}):
        assert subscribe(client, **typo).status_code == 400
    assert post_form(client, "/link", {"email": "bob@example"}).status_code == 400
    assert [subscribe(client, f"u{i}@example.org").status_code for i in range(3)] == [200, 200, 429]


@pytest.mark.parametrize("path", ["/", "/link"], ids=["sign-up", "new link"])
def test_a_script_sending_bad_forms_without_end_is_slowed_as_previews_are(config, client, path):
    token = csrf_of(client.get(path).text)
    bad = {"csrftoken": token, "email": "eve@example", "keywords": "agents", "time": "07:30",
           "timezone": "Europe/Berlin", "action": "subscribe"}
    with freeze_time("2026-06-12 10:00"):
        answers = [client.post(path, data=bad).status_code for _ in range(121)]
    assert answers == [400] * 120 + [429]


def test_an_expired_confirmation_link_gets_a_clear_410_page(client, config, store):
    with freeze_time("2026-06-12 10:00"):
        subscribe(client)
    confirm = link_in(mails(config)[0], "confirm")
    with freeze_time("2026-06-14 11:00"):          # 49 hours later; confirm_hours = 48
        page = client.get(confirm)
    assert page.status_code == 410 and "expired" in page.text and "Traceback" not in page.text


def test_an_expired_confirmation_link_says_to_subscribe_again_not_to_use_a_digest_never_received(
        client, config, store):
    """It said "Use the link in your latest digest" to someone whose subscription never started."""
    with freeze_time("2026-06-12 10:00"):
        subscribe(client)
    confirm = link_in(mails(config)[0], "confirm")
    with freeze_time("2026-06-14 11:00"):
        page = client.get(confirm)
    assert "Subscribe again from the start page: we mail you a new link." in page.text
    assert "latest digest" not in page.text and '<a class="button" href="/">Start page</a>' in page.text


def test_a_confirmation_mail_that_cannot_be_sent_says_so_instead_of_check_your_inbox(config, client, store):
    """SMTP down: "We sent a message ... follow the link" had the visitor wait for a mail that
    never comes. Both answers (new or already subscribed) mail, so saying so leaks nothing."""
    from smtp_server import free_port

    config.email.host, config.email.port, config.email.security = "127.0.0.1", free_port(), "none"
    page = subscribe(client)
    assert page.status_code == 503
    assert "could not send" in page.text and "Check your inbox" not in page.text
    assert store.list_subscribers(active_only=False) == []


def test_a_sign_up_whose_mail_cannot_be_sent_comes_back_as_typed_to_send_again(config, client, store):
    """The "could not send" page held only a sentence: the keywords typed were gone."""
    from smtp_server import free_port

    config.email.host, config.email.port, config.email.security = "127.0.0.1", free_port(), "none"
    page = subscribe(client, keywords="graph neural networks, -survey", time="06:15")
    assert page.status_code == 503 and "could not send a message to ada@example.org just now" in read(page.text)
    assert 'value="ada@example.org"' in page.text and 'value="06:15"' in page.text
    assert textareas(page.text) == ["graph neural networks, -survey"]
    assert csrf_of(page.text)                  # a new token: Subscribe sends it again


@pytest.fixture
def mail_server(config):
    """``start(smtputf8)``: an SMTP server on loopback (aiosmtpd) that [email] sends through,
    offering SMTPUTF8 or not; it returns what the server received."""
    from aiosmtpd.controller import Controller

    from smtp_server import Recorder, free_port

    started = []

    def start(smtputf8: bool) -> Recorder:
        recorder = Recorder()
        controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8)
        controller.start()
        started.append(controller)
        config.email.host, config.email.port, config.email.security = "127.0.0.1", controller.port, "none"
        return recorder
    yield start
    for controller in started:
        controller.stop()


def test_an_address_at_an_internationalised_domain_can_subscribe_through_any_mail_server(
        client, config, store, mail_server):
    """user@bücher.example was refused as "not a valid e-mail address"; its domain's ASCII form
    (xn--bcher-kva.example) is the same mailbox, which a server without SMTPUTF8 delivers to."""
    received = mail_server(smtputf8=False)
    page = subscribe(client, "User@Bücher.example")
    assert page.status_code == 200 and "We sent a message to User@Bücher.example" in read(page.text)
    [mail] = received.snapshot()
    assert mail["To"] == "user@xn--bcher-kva.example"
    done = post_form(client, link_in(mail.get_content(), "confirm"), {}, follow_redirects=True)
    assert [s.address for s in store.list_subscribers()] == ["user@xn--bcher-kva.example"]
    manage = re.search(r'href="([^"]+/manage/[^"]+)"', done.text).group(1)
    assert '<p class="lead"><bdi dir="ltr">user@bücher.example</bdi></p>' in client.get(manage).text   # not xn--
    subscribe(client, "user@xn--bcher-kva.example")                 # the same mailbox: the same subscriber
    assert "already subscribed" in received.snapshot()[-1].get_content()


@pytest.mark.parametrize("smtputf8", [True, False], ids=["server-offers-SMTPUTF8", "server-without-SMTPUTF8"])
def test_an_address_with_letters_beyond_ascii_before_the_at_subscribes_when_the_mail_server_can_send_to_it(
        client, config, store, mail_server, smtputf8):
    """'usér@example.org' was refused whatever the server; where the server cannot send to it,
    the visitor read "try again in a while", which never helps."""
    received = mail_server(smtputf8)
    page = subscribe(client, "usér@example.org")
    if smtputf8:
        assert page.status_code == 200 and [m["To"] for m in received.snapshot()] == ["usér@example.org"]
        return
    assert page.status_code == 400 and received.snapshot() == []
    assert error_under(page, "email") == ("this service’s mail server cannot send to an address with letters such as "
                                          "“é” before the @; use another address")
    assert 'value="usér@example.org"' in page.text and 'aria-invalid="true"' in page.text


def test_a_visitor_who_types_no_address_is_told_in_their_terms_not_the_operators(config, client, store):
    """The command line's message lists webhook:ENV_NAME and channel ids: words for the operator,
    and kinds of target a visitor may not subscribe anyway."""
    page = subscribe(client, "Ada Lovelace")
    assert page.status_code == 400 and "'Ada Lovelace' is not an e-mail address" in read(page.text)
    assert "webhook" not in page.text and "channel id" not in page.text
    config.web.slack_targets = ["#ml-papers"]
    page = subscribe(client, "ml-papers")
    assert "is not an e-mail address or one of the Slack targets this service offers (#ml-papers)" in page.text


@pytest.mark.parametrize("typed, said", [
    ("ada@example.org.", "'ada@example.org.' is not a valid e-mail address: it ends with a full stop"),
    ("ada @example.org", "'ada @example.org' is not a valid e-mail address: it has a space in it")],
    ids=["full stop", "space"])
def test_an_address_pasted_from_a_sentence_is_refused_saying_what_is_wrong_with_it(client, store, typed, said):
    """"'ada@example.org.' is not a valid e-mail address" left the visitor to spot the full stop
    after the address, or the space in it, in their own quoted text."""
    page = subscribe(client, typed)
    assert page.status_code == 400 and said in read(page.text)
    assert store.list_subscribers(active_only=False) == []


def test_only_the_slack_targets_the_operator_allows_can_subscribe(config, client, store):
    config.web.slack_targets = ["#ml-papers"]
    refused = subscribe(client, "#random")
    assert refused.status_code == 400 and "not a Slack target this service delivers to" in refused.text
    assert subscribe(client, "#ml-papers").status_code == 200
    assert "/confirm/" in mails(config)[-1]          # no Slack token: the confirmation lands in the outbox


def test_a_visitor_may_type_an_offered_slack_channel_in_capitals(config, client, store):
    """'#ML-Papers' was refused as "not an e-mail address" although #ml-papers is offered."""
    config.web.slack_targets = ["#ml-papers"]
    assert subscribe(client, "#ML-Papers").status_code == 200
    assert "/confirm/" in mails(config)[-1]


# ----------------------------------------------------------------------------- form errors, tester
@pytest.mark.parametrize("keywords, error", [
    ('"kv cache", venue:neurips', "unknown field 'venue:' in term 'venue:neurips'"),
    ("moe, MoE", "term 'MoE' repeats 'moe'"),            # refused as the command line does
    ("moe, -moe", "term 'moe' is also excluded by '-moe'"),
])
def test_a_malformed_profile_is_shown_inline_naming_the_term(client, store, keywords, error):
    page = subscribe(client, keywords=keywords)
    assert page.status_code == 400
    assert error_under(page, "keywords").startswith(error)
    assert 'aria-invalid="true"' in page.text and store.list_subscribers(active_only=False) == []


@pytest.mark.parametrize("keywords, quoted", [
    ('"نموذج لغوي', "&#39;<bdi>&#34;نموذج لغوي</bdi>&#39;"),
    ('"<b>bold</b>', "&#39;<bdi>&#34;&lt;b&gt;bold&lt;/b&gt;</bdi>&#39;"),
    ("-שלום", "(<bdi>-שלום</bdi>)"),
], ids=["arabic", "markup stays text", "only an exclusion"])
def test_a_term_quoted_in_an_error_is_isolated_from_the_sentence_around_it(client, keywords, quoted):
    """An Arabic or Hebrew term quoted in an error took the English sentence's direction: the
    quote mark typed before it showed after it (see test_web_browser)."""
    page = subscribe(client, keywords=keywords)
    assert page.text.count(quoted) == 3          # in the error summary, under the box, in the preview
    assert "<b>" not in page.text


def test_the_preview_button_shows_what_the_profile_would_have_sent_without_javascript(client, store):
    page = post_form(client, "/", {"email": "", "keywords": '"speculative decoding"', "action": "preview"})
    assert page.status_code == 200
    assert "VIA-SD: Verification via Intra-Model Routing for Speculative Decoding" in page.text
    assert "matched: speculative decoding" in page.text and "<mark>" in page.text
    assert "From 30 papers of the last 7 days" in page.text
    assert store.list_subscribers(active_only=False) == []


@pytest.mark.parametrize("path", ["/", "manage"])
def test_a_preview_page_is_kept_by_the_browser_alone_so_back_shows_it_again(app, client, config, store, path):
    """no-store made Back to a Preview (JavaScript off) send the form again (tests/test_web_browser.py
    shows it in chromium); a proxy must still keep nothing."""
    if path == "manage":
        path = manage_link(app, subscribed(client, config, store))
    page = post_form(client, path, {"email": "ada@example.org", "keywords": "agents", "action": "preview"})
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-cache"
    refused = post_form(client, "/", {"email": "", "keywords": "agents"})         # the form as typed, its errors
    assert refused.status_code == 400 and refused.headers["cache-control"] == "private, no-cache"
    assert client.get("/").headers["cache-control"] == "no-store"


def addresses_in(html: str) -> list[str]:
    """Where a page's links, forms, stylesheet, script and live preview point."""
    return re.findall(r'(?:href|src|action|data-src)="([^"]*)"', html)


def test_the_icon_a_browser_asks_for_on_every_page_is_served_and_kept_not_a_404(client):
    """Every page view asked for /favicon.ico and got a 404 (a console error, a log line)."""
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg") and "max-age=" in icon.headers["cache-control"]
    assert "no-store" not in icon.headers["cache-control"]
    assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in client.get("/").text


@pytest.mark.parametrize("proxy_keeps_prefix", [False, True], ids=["prefix-stripped", "prefix-passed-on"])
def test_a_site_served_under_a_path_of_its_public_url_links_within_that_path(config, proxy_keeps_prefix):
    """public_url = https://host/digests behind a proxy: the pages linked /static/site.css, posted
    their forms to / and redirected a sign-up to /sent/..., all outside /digests: a page without
    its style whose Subscribe button reached whatever else the host serves."""
    config.web.public_url = f"{PUBLIC}/digests/"
    sub_path = create_app(config, env=ENV)
    store_sample_papers(sub_path.web.store)
    at = "/digests" if proxy_keeps_prefix else ""
    try:
        with TestClient(sub_path, base_url=PUBLIC, follow_redirects=False) as c:
            home = c.get(at + "/")
            sent = post_form(c, at + "/", {"email": "ada@example.org", "keywords": "agents", "time": "07:30",
                                           "timezone": "UTC", "frequency": "daily", "action": "subscribe"})
            confirm = link_in(mails(config)[-1], "confirm")
            shown = c.get(confirm.removeprefix(PUBLIC + "/digests") if not at else confirm)
            waiting = c.get(at + sent.headers["location"].removeprefix("/digests"))
            corrected = c.get(at + correct_it(waiting).removeprefix("/digests")) if at else home
    finally:
        sub_path.web.close()
    assert home.status_code == 200 and shown.status_code == 200 and confirm.startswith(PUBLIC + "/digests/confirm/")
    assert 'value="ada@example.org"' in corrected.text or not at
    inside = [a for page in (home, shown, waiting, corrected) for a in addresses_in(page.text) if a.startswith("/")]
    assert inside and all(a.startswith("/digests/") for a in inside), inside
    assert sent.headers["location"].startswith("/digests/sent/")


def test_a_tester_with_no_papers_yet_says_so_instead_of_nothing_matching_among_0_papers(config):
    """On a service just set up it said "Nothing among the 0 papers of the last 7 days would have
    been sent", which reads as "your keywords match nothing"."""
    config.web.public_url = PUBLIC
    empty = create_app(config, env=ENV)
    try:
        with TestClient(empty, base_url=PUBLIC) as c:
            page = preview(c, "/tester", {"keywords": "agents"})
    finally:
        empty.web.close()
    assert "No papers came in over the last 7 days" in page.text and "Your keywords are fine" in page.text
    assert "0 papers" not in page.text


def test_the_live_tester_fragment_reports_matches_weaker_ones_and_profile_errors(client):
    page = preview(client, "/tester", {"keywords": "agents, memory", "more": "5"})
    assert page.status_code == 200 and "EvoArena" in page.text and "<html" not in page.text
    loose = preview(client, "/tester", {"keywords": "agents, memory", "more": "95", "max_items": "100"})
    assert loose.text.count("<li>") > page.text.count("<li>")       # "more papers" sends more
    assert "more weaker match" in page.text
    bad = preview(client, "/tester", {"keywords": "agents^x"})
    assert 'class="error"' in bad.text


def test_the_live_tester_tells_papers_past_the_digests_size_apart_from_weaker_ones(client):
    """With 3 papers a digest, the others that passed the bar are told as such (before: counted
    nowhere on the page, as weaker matches before that), not as weaker matches."""
    roomy = read(preview(client, "/tester", {"keywords": "agents", "max_items": "100"}).text)
    small = read(preview(client, "/tester", {"keywords": "agents", "max_items": "3"}).text)
    passed = int(re.search(r"this profile would have sent (\d+) papers?", roomy).group(1))
    assert passed > 3
    assert f"and {passed - 3} more that passed the bar: a digest holds 3 at most." in small


@pytest.mark.parametrize("keywords", ['"speculative dec', 'agents, author:"Tri'])
def test_a_phrase_still_being_typed_is_not_called_a_mistake_by_the_live_preview(client, keywords):
    """Typed slowly, each key of "speculative decoding" brought "unbalanced quote" in red."""
    live = preview(client, "/tester", {"keywords": keywords})
    assert 'class="error"' not in live.text and 'Close the phrase with " to see what it finds.' in read(live.text)
    sent = post_form(client, "/", {"email": "ada@example.org", "keywords": keywords, "action": "preview"})
    assert "unbalanced quote" in read(sent.text)                  # the Preview button sent it as it is


@pytest.mark.parametrize("keywords, error", [("agents, a", "has only common words"), ("agents, -", "empty term '-'"),
                                             ("agents, title:", "empty term 'title:'"), ("moe^", "bad weight")],
                         ids=["a before agents", "a minus before its word", "a field before its word", "a weight"])
def test_a_last_term_still_being_typed_is_not_called_a_mistake_by_the_live_preview(client, keywords, error):
    """Typed slowly, "agents" flashed "term 'a' has only common words" in red after its first key."""
    live = preview(client, "/tester", {"keywords": keywords})
    assert 'class="error"' not in live.text and "Finish the last term to see what it finds." in read(live.text)
    sent = post_form(client, "/", {"email": "ada@example.org", "keywords": keywords, "action": "preview"})
    assert error in read(sent.text)                               # the Preview button sent it as it is


@pytest.mark.parametrize("keywords", ["moe, -moe", "agents^x", "-moe, moe"])
def test_a_last_term_no_further_typing_could_mend_is_named_by_the_live_preview(client, keywords):
    live = preview(client, "/tester", {"keywords": keywords})
    assert 'class="error"' in live.text and "Finish" not in live.text and "Add a term" not in live.text


@pytest.mark.parametrize("keywords", ["-diffusion", "-diffusion,", '-"diffusion models", -gan', "-a"],
                         ids=["one exclusion", "its comma", "two exclusions", "a first letter"])
def test_exclusions_typed_before_any_term_to_look_for_are_not_called_a_mistake_by_the_live_preview(client, keywords):
    """Typed first, "-diffusion" showed "profile has only exclusions" in red until the next term was begun."""
    live = preview(client, "/tester", {"keywords": keywords})
    said = "Add a term to look for, too."
    assert 'class="error"' not in live.text and said in read(live.text)
    sent = post_form(client, "/", {"email": "ada@example.org", "keywords": keywords, "action": "preview"})
    assert "profile has only exclusions" in read(sent.text)      # the Preview button sent it as it is


@pytest.mark.parametrize("keywords, said", [              # the boxes as the page sends them, the blank last too
    (["agents", '"speculative dec', ""], 'Profile 2: close the phrase with " to see what it finds.'),
    (["agents, a", "memory", ""], "Profile 1: finish the last term to see what it finds."),
    (["agents", "-diffusion", ""], "Profile 2: add a term to look for, too."),
    (["agents", "-diffusion"], "New profile: add a term to look for, too."),
    (["agents", "", "-diffusion", ""], "Profile 3: add a term to look for, too.")],
    ids=["phrase", "last term", "exclusion", "in_the_add_another_profile_box", "after_a_cleared_box"])
def test_with_several_profiles_the_live_preview_says_which_one_is_unfinished(app, client, config, store, keywords, said):
    """On the manage page with two profiles, "Close the phrase with \" to see what it would have
    sent." left the person to find which box had the open phrase. The box labelled "Add another
    profile" was called "Profile 2", and after a box cleared above it the boxes below were called
    by the number of the one above them."""
    link = manage_link(app, subscribed(client, config, store))
    live = read(preview(client, f"{link}/tester", {"keywords": keywords}).text)
    assert said in live and 'class="error"' not in live


def test_what_several_profiles_would_have_sent_is_said_of_them_all(app, client, config, store):
    """With two profiles saved the line said "this profile would have sent 10 papers"."""
    link = manage_link(app, subscribed(client, config, store))
    live = read(preview(client, f"{link}/tester", {"keywords": ["agents, memory", '"speculative decoding"']}).text)
    assert "From 30 papers of the last 7 days, these 2 profiles would have sent" in live
    assert "this profile" in read(preview(client, f"{link}/tester", {"keywords": ["agents, memory"]}).text)


def test_weaker_matches_point_to_more_papers_only_where_the_page_has_it(app, client, config, store):
    """The sign-up form has no "Fewer or more papers" slider: its preview said "try “more papers”" there."""
    keywords = {"keywords": "quantum, agents^0.1"}
    signup = read(preview(client, "/tester", keywords).text)
    assert ("12 weaker matches fell below the threshold: once you are subscribed, “Fewer or more papers” on your "
            "settings page lets them in.") in signup and "try “more papers”" not in signup
    link = manage_link(app, subscribed(client, config, store))
    assert "fell below the threshold: try “more papers”." in read(preview(client, f"{link}/tester", keywords).text)


def test_the_preview_names_a_phrase_found_only_as_its_words_apart_as_the_digest_does(client):
    """MiniMax Sparse Attention has "long-context" and "inference", never "long-context inference": the
    preview said "matched: long-context inference" where the digest and `notifier match` say its words are apart."""
    page = preview(client, "/tester", {"keywords": '"long-context inference", "sparse attention"'})
    why = re.search(r">MiniMax Sparse Attention</a>\s*<div class=\"why\">([^<]*)", page.text).group(1)
    assert why == "matched: long-context inference (its words apart), sparse attention"


# ----------------------------------------------------------------------------- manage
def test_the_manage_page_edits_the_profile_and_settings_with_a_signed_link(app, client, config, store):
    sub = subscribed(client, config, store)
    link = manage_link(app, sub)
    page = client.get(link)
    assert page.status_code == 200 and "speculative decoding" in page.text and "VIA-SD" in page.text
    saved = client.post(link, data={"csrftoken": csrf_of(page.text), "keywords": ["sparse attention", "agents"],
                                    "time": "06:15", "timezone": "Asia/Tokyo", "frequency": "weekly",
                                    "weekday": "fri", "max_items": "5", "more": "80", "action": "save"},
                        follow_redirects=True)
    assert saved.status_code == 200 and "Saved." in saved.text
    sub = store.find_subscriber(sub.id)
    assert (json.loads(sub.profile), sub.delivery_time, sub.timezone, sub.frequency, sub.weekday,
            sub.max_items, sub.threshold) == (["sparse attention", "agents"], "06:15", "Asia/Tokyo", "weekly",
                                              "fri", 5, 0.2)


def test_the_manage_page_says_how_to_write_a_profile_as_the_sign_up_form_does(app, client, config, store):
    """Only the sign-up form showed the syntax ("kv cache", MoE, -diffusion, author:"…"): someone
    adding a profile later had to guess it."""
    help_line = re.compile(r'<p class="help" id="keywords-help">.*?</p>')
    sign_up = help_line.search(client.get("/").text).group(0)
    page = client.get(manage_link(app, subscribed(client, config, store))).text
    assert help_line.findall(page) == [sign_up] and "-diffusion" in sign_up
    boxes = re.findall(r'<textarea id="keywords-\d"[^>]*>', page)
    assert len(boxes) == 2 and all('aria-describedby="keywords-help"' in box for box in boxes)


def summary_of(page: str) -> list[tuple[str, str]]:
    """The error summary's entries: (the field it links to, or '', its text)."""
    import html

    summary = re.search(r'<div class="error-summary"[^>]*>(.*?)</ul>', page, re.S).group(1)
    return [(href, html.unescape(re.sub(r"<[^>]+>", "", text))) for href, text in
            re.findall(r'<li>(?:<a href="([^"]+)">)?(.*?)</li>', summary)]


def test_a_refused_manage_form_marks_only_the_fields_at_fault_and_ties_each_error_to_its_field(
        app, client, config, store):
    """With two profiles and the second one malformed, a screen reader heard "invalid" on the
    first (good) one too, and neither profile nor "most papers" was tied to its message."""
    sub = subscribed(client, config, store)
    link = manage_link(app, sub)
    page = client.post(link, data={"csrftoken": csrf_of(client.get(link).text), "keywords": ["agents", '"kv cache'],
                                   "time": "07:30", "timezone": "UTC", "max_items": "500", "action": "save"})
    assert page.status_code == 400
    first = re.search(r'<textarea id="keywords-1"[^>]*>', page.text).group(0)
    second = re.search(r'<textarea id="keywords-2"[^>]*>', page.text).group(0)
    assert "aria-invalid" not in first
    assert 'aria-invalid="true"' in second and 'aria-describedby="keywords-help keywords-error"' in second
    assert re.search(r'id="keywords-error"[^>]*>[^<]*unbalanced quote', page.text)
    most = re.search(r'<input id="max_items"[^>]*>', page.text).group(0)
    assert 'aria-invalid="true"' in most and 'aria-describedby="max_items-error"' in most
    assert "autofocus" not in first + second + most           # the error summary has the cursor
    assert summary_of(page.text) == [("#keywords-2", "Profile 2 keywords: unbalanced quote in term '\"kv cache': close the phrase with \""),
                                     ("#max_items", "Most papers per digest: a number from 1 to 100")]
    assert re.search(r'id="max_items-error"[^>]*>a number from 1 to 100', page.text)


@pytest.mark.parametrize("typed", ["0", "500"])
def test_a_most_papers_per_digest_that_save_refuses_is_refused_by_the_preview_too(
        app, client, config, store, typed):
    """A 0 previewed every match, as if there were no limit, and a 500 as 100, while Save said
    "a number from 1 to 100"."""
    link = manage_link(app, subscribed(client, config, store))
    form = {**SAVE, "keywords": "agents, memory", "more": "95", "max_items": typed}
    live = preview(client, f"{link}/tester", form).text
    button = post_form(client, link, {**form, "action": "preview"}).text
    saved = post_form(client, link, form).text
    said = '<p class="error">Most papers per digest: a number from 1 to 100</p>'
    for page in (live, button, saved):
        assert said in page and titles_in_tester(page) == []


@pytest.mark.parametrize("action, status", [("save", 400), ("preview", 200)])
def test_a_refused_save_or_a_preview_keeps_each_profile_named_and_the_box_to_add_one(
        app, client, config, store, action, status):
    """The page came back without the blank box, its last profile labelled "Add another profile"
    while the error summary called it "Profile 2 keywords"."""
    link = manage_link(app, subscribed(client, config, store))
    page = post_form(client, link, {**SAVE, "keywords": ["agents", '"kv cache', ""], "action": action})
    labels = re.findall(r'<label for="keywords-\d">([^<]+)</label>', page.text)
    assert page.status_code == status and labels == ["Profile 1 keywords", "Profile 2 keywords", "Add another profile"]
    assert textareas(page.text) == ["agents", "&#34;kv cache", ""]


def test_a_subscriber_whose_stored_profile_no_longer_parses_sees_why_on_the_manage_page_and_fixes_it(
        app, client, config, store):
    """Their digests wait (see `notifier status`); the page they reach from any digest says which
    term and lets them save a corrected profile."""
    sub = subscribed(client, config, store)
    store.update_subscriber(sub.id, profile=json.dumps(["+-agents"]))
    link = manage_link(app, sub)
    page = client.get(link)
    assert page.status_code == 200 and "two operators in term '+-agents'" in read(page.text)
    saved = post_form(client, link, {"keywords": "+agents", "time": "07:30", "timezone": "UTC", "action": "save"},
                      follow_redirects=True)
    assert saved.status_code == 200 and "Saved." in saved.text
    assert json.loads(store.find_subscriber(sub.id).profile) == ["+agents"]


def test_profiles_stored_beyond_what_the_page_takes_as_typed_do_not_stop_a_save_or_the_preview(app, client, config, store):
    """A profile added on the command line (longer than the page's 2,000 characters, or refused by
    a check added since: 'distill, -distillation' can never match) made every Save fail, even
    of a new delivery time, and the preview showed only the refusal."""
    sub = subscribed(client, config, store)
    long = "agents, memory\n" + ", ".join(f"topic{i}" for i in range(300))
    store.update_subscriber(sub.id, profile=json.dumps([long, "distill, -distillation"]))
    link = manage_link(app, sub)
    page = client.get(link)
    assert titles_in_tester(page.text) and "characters" not in page.text and "excluded" not in page.text
    kept = {"keywords": [long.replace("\n", "\r\n"), "distill, -distillation"], "time": "09:00", "timezone": "UTC"}
    saved = post_form(client, link, {**kept, "action": "save"}, follow_redirects=True)
    assert saved.status_code == 200 and "Saved." in saved.text
    assert store.find_subscriber(sub.id).delivery_time == "09:00"
    assert json.loads(store.find_subscriber(sub.id).profile) == [long, "distill, -distillation"]
    edited = post_form(client, link, {**kept, "keywords": [long, "distill, -distillation, moe"], "action": "save"})
    assert edited.status_code == 400 and "also excluded" in edited.text   # what is typed anew is checked as ever


def titles_in_tester(html: str) -> list[str]:
    """The titles the tester shows, in order (the page's tester section, or a fragment)."""
    at = html.find('<section class="tester"')
    part = html[at:html.index("</section>", at)] if at >= 0 else html
    return re.findall(r'<li><a href="[^"]*" rel="noreferrer" dir="auto">([^<]*)</a>', part)


def test_the_manage_page_tester_applies_the_subscribers_votes_as_their_digest_does(app, client, config, store):
    """It ranked the keywords alone: a paper marked "not for me" still showed, and the order the
    votes make (which decides what fills a full digest) was not the digest's."""
    from notifier.planning import match_subscriber

    sub = subscribed(client, config, store)
    store.update_subscriber(sub.id, profile=json.dumps(["agents, memory"]))
    store.set_vote(sub.id, "2606.13681", 1)                 # EvoArena: more like this
    store.set_vote(sub.id, "2606.13120", -1)                # EvoBrowseComp: not for me
    link = manage_link(app, sub)
    page, live = client.get(link).text, preview(client, f"{link}/tester", {"keywords": "agents, memory"}).text
    items, _ = match_subscriber(app.web.ctx, store.find_subscriber(sub.id), app.web.tester.papers())
    digest = [app.web.store.get_papers([i["id"]])[i["id"]].title for i in items]
    assert titles_in_tester(page) == titles_in_tester(live) == digest
    assert not any(t.startswith("EvoBrowseComp") for t in digest) and "ranked up: you voted it up" in page
    anyone = titles_in_tester(preview(client, "/tester", {"keywords": "agents, memory"}).text)
    assert any(t.startswith("EvoBrowseComp") for t in anyone)      # the sign-up page's preview has no votes


def test_the_live_preview_of_an_expired_or_unsubscribed_manage_page_says_so_in_one_line(app, client, config, store):
    """It answered with a whole error page, which the page's script shows as "did not work just
    now. Try again in a moment": it never would."""
    with freeze_time("2026-06-01"):
        sub = subscribed(client, config, store)
        link = manage_link(app, sub)
    with freeze_time("2026-09-01"):                             # link_days = 90
        expired = preview(client, f"{link}/tester", {"keywords": "agents"})
    store.remove_subscriber(sub.id)
    gone = preview(client, f"{manage_link(app, sub)}/tester", {"keywords": "agents"})
    for answer, why in ((expired, "This link has expired. Open the link in your latest digest."),
                        (gone, "You have unsubscribed, so this link no longer works.")):
        assert answer.status_code == 410 and answer.text == f'<p class="error" role="alert">{why}</p>'


def test_an_untouched_fewer_more_slider_keeps_following_the_configured_threshold(app, client, config, store):
    sub = subscribed(client, config, store)
    page = client.get(manage_link(app, sub))
    assert 'name="more" type="range" min="5" max="95" step="1" value="60"' in page.text     # matcher default 0.4
    post_form(client, manage_link(app, sub), {"keywords": "agents", "time": "07:30", "timezone": "UTC",
                                              "more": "60", "action": "save"})
    assert store.find_subscriber(sub.id).threshold is None


def test_a_config_file_subscriber_is_told_the_file_sets_their_keywords_and_a_save_changes_nothing(
        app, client, config, store):
    """The file wins at the next start: a "Saved." that the next `run` quietly undoes would be a
    lie. The page says who changes them; pausing, votes and unsubscribing still work there."""
    from notifier.config import SubscriberSpec
    from notifier.context import open_context

    config.subscribers = [SubscriberSpec(email="ann@example.org", keywords="distillation")]
    with open_context(config):
        pass
    sub = store.find_subscriber("ann@example.org")
    link = manage_link(app, sub)
    page = client.get(link)
    assert "set in this service’s configuration" in page.text and 'value="save"' not in page.text
    saved = post_form(client, link, {"keywords": "agents", "time": "07:30", "timezone": "UTC", "action": "save"})
    assert saved.status_code == 409 and "Saved." not in saved.text
    assert json.loads(store.find_subscriber(sub.id).profile) == ["distillation"]
    assert "Paused" in post_form(client, link, {"action": "pause"}, follow_redirects=True).text


@pytest.mark.parametrize("threshold", [0.33, 0.42, 0.25])
def test_the_fewer_more_slider_can_hold_a_threshold_set_on_the_command_line_so_a_save_keeps_it(
        app, client, config, store, threshold):
    """A browser moves a range input's value onto its steps before showing and sending it: at
    step 5, 0.33 (67) came back as 65, and saving only a new delivery time stored 0.35."""
    sub = subscribed(client, config, store)
    store.update_subscriber(sub.id, threshold=threshold)
    page = client.get(manage_link(app, sub))
    low, step, value = (int(re.search(rf'name="more" type="range"[^>]* {k}="(\d+)"', page.text).group(1))
                        for k in ("min", "step", "value"))
    assert (value - low) % step == 0                # the value the browser shows and sends back
    post_form(client, manage_link(app, sub), {"keywords": "agents", "time": "09:00", "timezone": "UTC",
                                              "more": str(value), "action": "save"})
    assert store.find_subscriber(sub.id).threshold == threshold


def test_a_save_from_a_second_tab_opened_before_another_save_does_not_undo_it_unwarned(app, client, config, store):
    """Two tabs on the manage page: keywords saved in one were silently replaced by the older
    form of the other when a time was changed and saved there."""
    sub = subscribed(client, config, store)
    link = manage_link(app, sub)
    first, second = client.get(link).text, client.get(link).text
    form = {"time": "07:30", "timezone": "Europe/Berlin", "frequency": "daily", "action": "save"}

    def save(page, **changes):
        version = re.search(r'name="version" value="([^"]+)"', page).group(1)
        return client.post(link, data={"csrftoken": csrf_of(page), "version": version, **form, **changes},
                           follow_redirects=True)
    assert "Saved." in save(first, keywords="robots").text
    stale = save(second, keywords='"speculative decoding", distillation', time="09:00")
    assert stale.status_code == 409 and "Not saved: your subscription was changed elsewhere" in stale.text
    assert json.loads(store.find_subscriber(sub.id).profile) == ["robots"]
    assert 'value="09:00"' in stale.text                                # what they typed is kept
    assert "Saved." in save(stale.text, keywords="agents").text         # a second Save is on purpose
    assert json.loads(store.find_subscriber(sub.id).profile) == ["agents"]


def test_pause_stops_digests_until_resume(app, client, config, store):
    sub = subscribed(client, config, store)
    link = manage_link(app, sub)
    paused = post_form(client, link, {"action": "pause"}, follow_redirects=True)
    assert "Paused" in paused.text and store.list_subscribers() == []
    post_form(client, link, {"action": "resume"})
    assert [s.address for s in store.list_subscribers()] == ["ada@example.org"]


def test_back_to_the_paused_page_after_resuming_does_not_say_paused(app, client, config, store):
    """Without JavaScript the page after Pause keeps ?done=pause in its address: Back to it after
    Resume (and forms sent since) said "Paused: no digests until you resume" of a running subscription."""
    sub = subscribed(client, config, store)
    link = manage_link(app, sub)
    paused = post_form(client, link, {"action": "pause"}).headers["location"]
    resumed = post_form(client, link, {"action": "resume"}).headers["location"]
    back = client.get(paused)
    assert "Paused" not in back.text and "<title>Your subscription" in back.text
    assert "Resumed." in client.get(resumed).text
    post_form(client, link, {"action": "pause"})
    assert "Resumed." not in client.get(resumed).text and "Paused" in client.get(paused).text


def test_back_to_the_vote_removed_page_after_voting_again_does_not_say_removed(app, client, config, store):
    """Without JavaScript the page after Remove keeps ?done=clear_vote: Back to it after voting on
    that paper again from the digest said "Vote removed." above the vote, listed."""
    sub = subscribed(client, config, store)
    store.set_vote(sub.id, "2606.12243", 1)
    link = manage_link(app, sub)
    removed = post_form(client, link, {"clear_vote": "2606.12243"}).headers["location"]
    assert "Vote removed." in client.get(removed).text
    vote = f"{PUBLIC}/vote/{app.web.signer.sign(Token('vote', sub.id, '2606.12243', 1))}"
    post_form(client, vote, {})
    back = client.get(removed)
    assert "Vote removed." not in back.text and "more like this" in back.text
    assert "<title>Your subscription" in back.text


@pytest.mark.parametrize("button", [{"action": "pause"}, {"clear_vote": "2606.12243"}], ids=["pause", "remove-vote"])
def test_pausing_or_removing_a_vote_keeps_edits_not_saved_yet_in_the_form(app, client, config, store, button):
    """Pause answered with the stored profile (and Remove, a form of its own, sent nothing typed):
    a subscriber who changed keywords and then clicked either lost them without a word."""
    sub = subscribed(client, config, store)
    store.set_vote(sub.id, "2606.12243", 1)
    page = post_form(client, manage_link(app, sub), {"keywords": "agents", "time": "09:00", "timezone": "UTC",
                                                     "frequency": "daily", **button})
    assert ">agents</textarea>" in page.text and 'value="09:00"' in page.text and "not saved yet" in page.text
    kept = store.find_subscriber(sub.id)
    assert (json.loads(kept.profile), kept.delivery_time) == (['"speculative decoding", distillation'], "07:30")


def test_an_invalid_edit_is_refused_inline_and_nothing_changes(app, client, config, store):
    sub = subscribed(client, config, store)
    page = post_form(client, manage_link(app, sub), {"keywords": "-diffusion", "time": "25:00",
                                                     "timezone": "Mars/Base", "action": "save"})
    assert page.status_code == 400
    assert "only exclusions (-diffusion)" in read(page.text) and "unknown time zone" in page.text
    assert store.find_subscriber(sub.id).profile == sub.profile


def test_a_manage_form_refused_for_its_time_still_previews_its_keywords(app, client, config, store):
    """The tester said "Type a few keywords" beside the keywords it was given, as if they were lost."""
    sub = subscribed(client, config, store)
    page = post_form(client, manage_link(app, sub), {"keywords": "speculative decoding", "time": "25:00",
                                                     "timezone": "Europe/Berlin", "action": "save"})
    assert page.status_code == 400 and "is not a time" in page.text
    assert "Type a few keywords" not in page.text and "VIA-SD" in page.text


@pytest.mark.parametrize("crafted, error", [
    ({"max_items": "500"}, "Most papers per digest: a number from 1 to 100"),
    ({"more": "999"}, "Fewer or more papers: the slider goes from 5 to 95"),
    ({"frequency": "hourly"}, "'hourly' is not one of the choices: pick Daily or Weekly"),
    ({"frequency": "weekly", "weekday": "someday"}, "'someday' is not a day of the week"),
], ids=["max_items", "more", "frequency", "weekday"])
def test_a_crafted_value_no_field_offers_gets_the_form_back_with_a_message(client, config, store, crafted, error):
    """A bare 400 said nothing (max_items, a field only the manage page has), or the value was
    taken as something else: 'hourly' subscribed weekly on Monday."""
    page = subscribe(client, **crafted)
    assert page.status_code == 400 and error in read(page.text) and 'name="keywords"' in page.text
    assert len(summary_of(page.text)) == 1               # named once, in the error summary
    assert mails(config) == [] and store.list_subscribers(active_only=False) == []


@pytest.mark.parametrize("crafted, field", [({"more": "-3"}, "more"), ({"frequency": "hourly"}, "frequency")])
def test_a_crafted_value_on_the_manage_page_is_named_beside_its_field(app, client, config, store, crafted, field):
    sub = subscribed(client, config, store)
    page = post_form(client, manage_link(app, sub), {**SAVE, **crafted})
    assert page.status_code == 400 and error_under(page, field)
    assert re.search(rf'aria-describedby="[^"]*{field}-error"', page.text)
    assert store.find_subscriber(sub.id).updated_at == sub.updated_at


def test_a_cleared_delivery_time_is_asked_for_not_quoted_as_two_stray_marks(client, store):
    page = subscribe(client, time="")
    assert page.status_code == 400
    assert re.findall(r'id="time-error">([^<]*)', page.text) == ["a delivery time is required, as HH:MM (24-hour)"]


def test_a_refused_form_says_so_in_the_page_title_read_first_by_a_screen_reader(app, client, config, store):
    assert "<title>Subscribe · Paper digests</title>" in client.get("/").text
    assert "<title>Error: Subscribe · Paper digests</title>" in subscribe(client, time="25:00").text
    sub = subscribed(client, config, store)
    page = post_form(client, manage_link(app, sub), {"keywords": "agents", "time": "25:00", "action": "save"})
    assert "<title>Error: Your subscription · Paper digests</title>" in page.text


@pytest.mark.parametrize("form, title", [
    ({"keywords": "agents", "time": "07:30", "timezone": "UTC", "action": "save"}, "Saved: Your subscription"),
    ({"action": "pause"}, "Paused: Your subscription"),
    ({"clear_vote": "2606.12243"}, "Vote removed: Your subscription"),
])
def test_what_a_manage_form_did_is_in_the_page_title_a_screen_reader_reads_first(app, client, config, store,
                                                                                form, title):
    """The title stayed "Your subscription" after a save: the notice below it, shown on load, is
    not announced, so a screen reader user could not tell the save from a reload."""
    sub = subscribed(client, config, store)
    store.set_vote(sub.id, "2606.12243", 1)
    page = post_form(client, manage_link(app, sub), form, follow_redirects=True)
    assert f"<title>{title} · Paper digests</title>" in page.text
    assert "<title>Your subscription · Paper digests</title>" in client.get(manage_link(app, sub)).text


def test_an_unknown_time_zone_is_explained_once_under_its_field(client, config, store):
    page = post_form(client, "/", {"email": "ada@example.org", "keywords": "mamba", "time": "07:30",
                                   "timezone": "Mars/Base", "frequency": "daily", "action": "subscribe"})
    assert page.status_code == 400 and store.list_subscribers(active_only=False) == []
    assert error_under(page, "timezone") == "unknown time zone 'Mars/Base' (use an IANA name such as Europe/Berlin)"


@pytest.mark.parametrize("typed, hint", [
    ("Berlin", "did you mean Europe/Berlin?"),
    ("new york", "did you mean America/New_York?"),
    ("europe/paris", "did you mean Europe/Paris?"),
])
def test_a_city_or_a_zone_in_other_capitals_is_answered_with_the_zone_meant(client, typed, hint):
    """'Berlin' got "use an IANA name such as Europe/Berlin", leaving the visitor to guess
    whether their city has one and how it is spelled."""
    page = subscribe(client, timezone=typed)
    assert error_under(page, "timezone") == f"unknown time zone '{typed}': {hint}"


def test_notifier_web_on_a_port_already_in_use_is_one_line_error(cli, monkeypatch, tmp_path):
    import socket

    monkeypatch.setenv("NOTIFIER_WEB_SECRET", SECRET)
    (tmp_path / "config.toml").write_text(f'[web]\npublic_url = "{PUBLIC}"\n')
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert cli("-c", str(tmp_path / "config.toml"), "web", "--listen", f"127.0.0.1:{port}") == (
            1, "", f"notifier: error: cannot listen on 127.0.0.1:{port}: Address already in use\n")


@contextlib.contextmanager
def notifier_web(tmp_path, journald: bool = False, *args: str):
    """`notifier web` (``args`` after the command) as a process on a free port: yields its base URL, its
    database file and a function that gives all it logged, once it has stopped."""
    import subprocess
    import sys

    from smtp_server import free_port

    db, port = tmp_path / "n.sqlite", free_port()
    (tmp_path / "config.toml").write_text(f'[general]\nstate_dir = "{tmp_path}"\n[database]\nurl = "sqlite:///{db}"\n'
                                          f'[web]\nlisten = "127.0.0.1:{port}"\npublic_url = "{PUBLIC}"\n')
    web = subprocess.Popen([sys.executable, "-m", "notifier", "-c", str(tmp_path / "config.toml"), "web", *args],
                           env={**os.environ, **ENV, **({"JOURNAL_STREAM": "8:1"} if journald else {})},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", web)
        yield f"http://127.0.0.1:{port}", db, lambda: web.communicate(timeout=30)[0].decode()
    finally:
        web.terminate()


@pytest.mark.parametrize("journald", [False, True])
def test_each_request_is_one_access_log_line_without_the_token_of_its_link(tmp_path, journald):
    """There was no access log at all: an operator could not tell what visitors asked for, nor how long it took."""
    token = Signer(SECRET).sign(Token("manage", 1))
    with notifier_web(tmp_path, journald) as (base, _, log):
        httpx.get(f"{base}/manage/{token}")
        httpx.post(f"{base}/", data={"email": "ada@example.org"})       # no CSRF token
    log = log()
    lines = [line for line in log.splitlines() if "notifier.web.access" in line]
    assert re.search(r"notifier.web.access: request method=GET path=/manage/… status=410 ms=\d+$", lines[-2])
    assert re.search(r"notifier.web.access: request method=POST path=/ status=403 ms=\d+$", lines[-1])
    assert token not in log and all(line.startswith("<6>") == journald for line in lines)


def test_notifier_web_no_access_log_logs_no_line_per_request(tmp_path):
    with notifier_web(tmp_path, False, "--no-access-log") as (base, _, log):
        assert httpx.get(f"{base}/").status_code == 200
    log = log()
    assert "notifier.web.access" not in log and "web listening" in log



def test_notifier_web_without_an_smtp_host_warns_that_its_mails_are_not_sent(tmp_path):
    """It said only "web listening": every visitor then waited for a confirmation mail that was a
    file in the outbox folder."""
    with notifier_web(tmp_path) as (base, _, log):
        assert httpx.get(f"{base}/").status_code == 200
    assert (f"WARNING notifier.web: no SMTP host text=\"the pages' mails (confirmation, settings link) are written "
            f"to {tmp_path / 'outbox'}, not sent: set [email] host\"") in log()

def access_lines(caplog, level=logging.INFO) -> list[str]:
    return [f"{r.ctx['method']} {r.ctx['path']} {r.ctx['status']}" for r in caplog.records
            if r.name == "notifier.web.access" and r.levelno >= level]


@contextlib.contextmanager
def access_logged(config, caplog, public_url=PUBLIC):
    """A client of an app at ``public_url`` that writes an access log, its every line captured."""
    config.web.public_url = public_url
    logged = create_app(config, env=ENV, access_log=True)
    caplog.set_level(logging.DEBUG, logger="notifier.web.access")
    try:
        with TestClient(logged, base_url=PUBLIC) as c:
            yield c
    finally:
        logged.web.close()


def test_a_monitor_polling_healthz_fills_no_log_but_a_failed_poll_is_logged(config, caplog):
    """A monitor asking /healthz every 10 s wrote 8,640 lines a day to the journal, burying the visitors'."""
    with access_logged(config, caplog) as c:
        polls = [c.get("/healthz").status_code for _ in range(3)]
        c.post("/healthz")                  # a monitor set up wrongly: refused, 403
        c.get("/")
    assert polls == [200] * 3 and access_lines(caplog) == ["POST /healthz 403", "GET / 200"]
    assert access_lines(caplog, logging.DEBUG).count("GET /healthz 200") == 3       # `notifier -v web` shows them


def test_a_sign_up_its_check_your_inbox_page_and_a_correction_leave_no_address_in_the_access_log(config, caplog):
    with access_logged(config, caplog) as c:
        c.get(correct_it(subscribe(c)))
    lines = access_lines(caplog)
    assert [line.split()[0] for line in lines] == ["GET", "POST", "GET", "GET"]
    assert "ada@" not in readable(" ".join(lines)) and "example.org" not in readable(" ".join(lines))


@pytest.mark.parametrize("proxy_keeps_prefix", [False, True], ids=["prefix-stripped", "prefix-passed-on"])
def test_under_a_path_of_its_public_url_the_access_log_shows_the_path_the_visitor_asked_for(
        config, caplog, proxy_keeps_prefix):
    """The log showed /manage/… for a visitor at /digests/manage/…: not the address anyone had opened."""
    at = "/digests" if proxy_keeps_prefix else ""
    with access_logged(config, caplog, f"{PUBLIC}/digests") as c:
        c.get(f"{at}/manage/{Signer(SECRET).sign(Token('manage', 1))}")
        c.get(f"{at}/")
    assert access_lines(caplog) == ["GET /digests/manage/… 410", "GET /digests/ 200"]


@pytest.mark.parametrize("journald", [False, True])
def test_a_page_that_fails_is_one_log_line_with_its_traceback_without_the_token_of_its_link(tmp_path, journald):
    """A 500 was logged twice: our line, with the manage link's token in its path (a key to that
    subscription, for anyone who reads the journal), then uvicorn's traceback, 60 lines of its own.
    Under journald the traceback is a field of that line: it was left out, and with uvicorn's copy
    gone the bug was nowhere in the journal."""
    import sqlite3

    token = Signer(SECRET).sign(Token("manage", 1))
    with notifier_web(tmp_path, journald) as (base, db, log):
        with sqlite3.connect(db) as broken:
            broken.execute("ALTER TABLE subscriber RENAME TO moved")
        page = httpx.get(f"{base}/manage/{token}")
    log = log()
    assert page.status_code == 500 and "The problem was logged" in page.text
    [line] = [line for line in log.splitlines() if "no such table" in line]
    assert "web request failed path=/manage/… " in line and token not in log
    assert "Traceback (most recent call last)" in line and line.startswith("<3>") == journald


def test_notifier_web_without_a_public_url_refuses_to_start_rather_than_mail_links_without_a_host(
        cli, monkeypatch, config):
    """Without it the confirmation mail said '/confirm/…': no address to open, so nobody could confirm."""
    import socket

    monkeypatch.setenv("NOTIFIER_WEB_SECRET", SECRET)
    with socket.create_server(("127.0.0.1", 0)) as taken:        # had it started, it would fail here, not serve
        code, _, err = cli("web", "--listen", f"127.0.0.1:{taken.getsockname()[1]}")
    assert code == 1 and err.count("\n") == 1 and "'web.public_url' is not set" in err
    with pytest.raises(ConfigError, match="https://papers.example.org"):
        create_app(config, env=ENV)


# ----------------------------------------------------------------------------- unsubscribe
def test_one_click_post_unsubscribes_at_once_without_cookie_or_page(app, config, store):
    with TestClient(app, base_url=PUBLIC) as first:
        sub = subscribed(first, config, store)
    link = f"{PUBLIC}/unsubscribe/{app.web.signer.sign(Token('unsubscribe', sub.id))}"
    with TestClient(app, base_url=PUBLIC) as mail_provider:       # no cookie, no CSRF token
        answer = mail_provider.post(link, content=b"List-Unsubscribe=One-Click",
                                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200 and not store.find_subscriber(sub.id).active
    with TestClient(app, base_url=PUBLIC) as later:
        assert later.get(manage_link(app, sub)).status_code == 410      # links stop working after unsubscribe


def test_a_config_file_subscriber_who_unsubscribes_from_a_digest_stays_unsubscribed(app, config, store):
    """The person, not the operator, asked to stop: the file's subscribers, applied again at the
    next start of any command (a `run` timer, `serve`'s sweep), must not bring them back."""
    from notifier.config import SubscriberSpec
    from notifier.context import open_context

    config.subscribers = [SubscriberSpec(email="ann@example.org", keywords="distillation")]
    with open_context(config):              # a start applies the file
        pass
    sub = store.find_subscriber("ann@example.org")
    assert sub.active and sub.origin == "config"
    link = f"{PUBLIC}/unsubscribe/{app.web.signer.sign(Token('unsubscribe', sub.id))}"
    with TestClient(app, base_url=PUBLIC) as mail_provider:
        mail_provider.post(link, content=b"List-Unsubscribe=One-Click",
                           headers={"content-type": "application/x-www-form-urlencoded"})
    with open_context(config):              # the next start
        pass
    assert not store.find_subscriber("ann@example.org").active


def test_an_old_manage_link_opened_after_unsubscribing_says_why_and_leads_to_the_start_page(app, client, config, store):
    """A dead end: the page said the link no longer works and offered no way to subscribe again."""
    sub = subscribed(client, config, store)
    store.remove_subscriber(sub.id)
    page = client.get(manage_link(app, sub))
    assert page.status_code == 410 and "You have unsubscribed, so this link no longer works." in page.text
    assert '<a class="button" href="/">Start page</a>' in page.text


def test_a_manage_form_sent_after_its_link_expired_shows_the_keywords_typed_to_copy(app, client, config, store):
    """Save on a page left open past link_days answered with the expired page alone: what was typed
    was gone."""
    with freeze_time("2026-06-01"):
        sub = subscribed(client, config, store)
        link = manage_link(app, sub)
        token = csrf_of(client.get(link).text)
    typed = {"csrftoken": token, "keywords": ["agents, <b>memory</b>", "robots\r\nlegged"], "time": "09:00",
             "timezone": "UTC", "action": "save"}
    with freeze_time("2026-09-01"):                             # link_days = 90
        page = client.post(link, data=typed)
    assert page.status_code == 410 and '<a class="button" href="/link">Mail me a new link</a>' in page.text
    assert re.findall(r"<textarea[^>]*readonly>(.*?)</textarea>", page.text, re.S) == [
        "agents, &lt;b&gt;memory&lt;/b&gt;", "robots\nlegged"]
    assert store.find_subscriber(sub.id).delivery_time == "07:30"


def textareas(html: str) -> list[str]:
    return re.findall(r"<textarea[^>]*>(.*?)</textarea>", html, re.S)


@pytest.mark.parametrize("cookie, said", [("kept", "this form came from an older page"),
                                          ("cleared", "without this site’s cookie")], ids=["stale-token", "no-cookie"])
def test_a_manage_form_refused_by_its_csrf_check_comes_back_as_typed_and_saves_the_second_time(
        app, client, config, store, cookie, said):
    """A page open across a browser restart (its cookie gone) or from before the service changed
    its key: Save answered "This form could not be checked. Reload the page", and the reload showed
    what is stored; what was typed was gone."""
    sub = subscribed(client, config, store)
    link = manage_link(app, sub)
    version = re.search(r'name="version" value="([^"]*)"', client.get(link).text).group(1)
    if cookie == "cleared":
        client.cookies.clear()
    typed = {"csrftoken": "from-an-older-page", "version": version, "keywords": ["robots, <b>legged</b>", ""],
             "time": "09:00", "timezone": "UTC", "frequency": "daily", "action": "save"}
    page = client.post(link, data=typed, headers=SAME_SITE)
    assert page.status_code == 403 and said in page.text and "What you typed is still below: Save again." in page.text
    assert textareas(page.text) == ["robots, &lt;b&gt;legged&lt;/b&gt;", ""] and 'value="09:00"' in page.text
    assert store.find_subscriber(sub.id).delivery_time == "07:30"                 # nothing applied
    again = client.post(link, data={**typed, "csrftoken": csrf_of(page.text)}, follow_redirects=True)
    assert again.status_code == 200 and "Saved." in again.text
    assert json.loads(store.find_subscriber(sub.id).profile) == ["robots, <b>legged</b>"]


@pytest.mark.parametrize("host, sent_with", [
    (PUBLIC, SAME_SITE),
    (PUBLIC, {"origin": PUBLIC}),                          # no Sec-Fetch-Site (a plain-http LAN host)
    ("https://digests.lan", {"origin": "https://digests.lan"}),              # reached by another name
], ids=["sec-fetch-site", "origin-of-public-url", "origin-of-host"])
def test_a_sign_up_form_refused_by_its_csrf_check_comes_back_as_typed_and_subscribes_the_second_time(
        app, config, store, host, sent_with):
    """The sign-up form open across a browser restart: "This form could not be checked. Reload the
    page", and the reload showed an empty form. A browser on a plain-http host sends no
    Sec-Fetch-Site: its Origin says the form is this site's."""
    with TestClient(app, base_url=host) as browser:
        browser.get("/")
        browser.cookies.clear()
        typed = {"csrftoken": "from-an-older-page", "email": "ada@example.org", "keywords": "agents, memory",
                 "time": "06:45", "timezone": "Europe/Berlin", "frequency": "daily", "action": "subscribe"}
        page = browser.post("/", data=typed, headers=sent_with)
        assert page.status_code == 403 and "Not sent: your browser sent the form without this site’s cookie" in page.text
        assert "Subscribe again." in page.text and textareas(page.text) == ["agents, memory"]
        assert 'value="ada@example.org"' in page.text and 'value="06:45"' in page.text and mails(config) == []
        again = browser.post("/", data={**typed, "csrftoken": csrf_of(page.text)})
    assert "Check your inbox" in again.text and len(mails(config)) == 1


@pytest.mark.parametrize("sent_with", [{"origin": "https://evil.example", **CROSS_SITE}, {"origin": "http://evil.example"}],
                         ids=["sec-fetch-site", "origin-only"])
@pytest.mark.parametrize("path", ["/", "manage"])
def test_a_form_posted_from_another_site_is_refused_without_showing_its_values_on_this_site(
        app, client, config, store, path, sent_with):
    """A phishing page posting to this site: it came back as this site's own form, filled with the
    other site's address and keywords and saying "What you typed is still below: Subscribe again".
    Over plain http the browser sends no Sec-Fetch-Site: its Origin names the other site."""
    if path == "manage":
        path = manage_link(app, subscribed(client, config, store))
    crafted = {"email": "attacker@example.net", "keywords": "Your account is locked: call +1 555 0100",
               "time": "07:30", "timezone": "UTC", "frequency": "daily", "action": "save"}
    with TestClient(app, base_url=PUBLIC) as victim:
        page = victim.post(path, data=crafted, headers=sent_with)
    assert page.status_code == 403 and "It was sent from another website, so nothing was done" in page.text
    assert "attacker@" not in page.text and "account is locked" not in page.text and "still below" not in page.text
    assert len(mails(config)) == (0 if path == "/" else 1)


@pytest.mark.parametrize("action", [{"action": "pause"}, {"clear_vote": "2606.12243"}], ids=["pause", "clear-vote"])
def test_a_manage_button_refused_by_its_csrf_check_changes_nothing(app, client, config, store, action):
    sub = subscribed(client, config, store)
    store.set_vote(sub.id, "2606.12243", 1)
    page = client.post(manage_link(app, sub), data={"csrftoken": "from-an-older-page", "keywords": "agents",
                                                    "time": "07:30", "timezone": "UTC", **action},
                       headers=SAME_SITE)
    assert page.status_code == 403 and "Not saved" in page.text
    assert not store.find_subscriber(sub.id).paused and store.votes(sub.id) == [("2606.12243", 1)]


def test_links_from_before_an_unsubscribe_do_not_open_the_subscription_started_again_after_it(
        app, client, config, store):
    """Unsubscribed, then subscribed again (the same subscriber row): the old mails' manage and
    vote links opened the new subscription again, to whoever holds those mails."""
    with freeze_time("2026-06-01 08:00"):
        sub = subscribed(client, config, store)
        old_manage = manage_link(app, sub)
        old_vote = f"{PUBLIC}/vote/{app.web.signer.sign(Token('vote', sub.id, '2606.12243', 1))}"
        store.remove_subscriber(sub.id)
    with freeze_time("2026-06-20 08:00"):
        again = subscribed(client, config, store)
        assert again.id == sub.id and again.active
        new_manage = manage_link(app, again)            # as the new subscription's mails carry it
    with freeze_time("2026-06-21 08:00"):
        for old in (old_manage, old_vote):
            page = client.get(old)
            assert page.status_code == 410 and "This link is from before you unsubscribed" in page.text
        assert post_form(client, old_vote, {}, page=new_manage).status_code == 410 and store.votes(sub.id) == []
        assert client.get(new_manage).status_code == 200


def test_a_subscriber_back_from_the_command_line_is_a_new_subscription_too(app, client, config, store, cli):
    with freeze_time("2026-06-01 08:00"):
        sub = subscribed(client, config, store)
        old_manage = manage_link(app, sub)
        store.remove_subscriber(sub.id)
    with freeze_time("2026-06-02 08:00"):
        assert cli("subscribe", "ada@example.org", "--keywords", "agents")[0] == 0
        assert client.get(old_manage).status_code == 410
        assert client.get(manage_link(app, sub)).status_code == 200


def test_an_unsubscribe_link_from_before_a_re_subscribe_still_unsubscribes(app, client, config, store):
    """Stopping mail is never refused: someone who clicks "unsubscribe" in an old mail means it,
    and mail they asked to stop would be reported as spam."""
    with freeze_time("2026-06-01 08:00"):
        sub = subscribed(client, config, store)
        old = f"{PUBLIC}/unsubscribe/{app.web.signer.sign(Token('unsubscribe', sub.id))}"
        store.remove_subscriber(sub.id)
    with freeze_time("2026-06-20 08:00"):
        subscribed(client, config, store)
        with TestClient(app, base_url=PUBLIC) as mail_provider:
            mail_provider.post(old, content=b"List-Unsubscribe=One-Click",
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert not store.find_subscriber(sub.id).active


def test_the_unsubscribe_link_opened_in_a_browser_shows_one_button_and_changes_nothing(app, client, config, store):
    sub = subscribed(client, config, store)
    link = f"{PUBLIC}/unsubscribe/{app.web.signer.sign(Token('unsubscribe', sub.id))}"
    page = client.get(link)
    assert page.status_code == 200 and page.text.count("<button") == 1 and store.find_subscriber(sub.id).active
    done = client.post(link, data={"csrftoken": csrf_of(page.text)}, follow_redirects=True)
    assert "You are unsubscribed" in done.text and not store.find_subscriber(sub.id).active
    assert "Subscribe again from the start page" in client.get(link).text        # a reload, or Back to it


def test_a_subscriber_whose_links_expired_gets_a_new_one_by_mail(app, client, config, store):
    """Paused for four months, a subscriber had no digest with a working link: the expired page
    said "subscribe again", whose form wants keywords it then ignores."""
    with freeze_time("2026-06-01"):
        sub = subscribed(client, config, store)
        old = manage_link(app, sub)
        store.set_paused(sub.id, paused=True)
    with freeze_time("2026-10-01"):
        expired = client.get(old)
        assert expired.status_code == 410 and '<a class="button" href="/link">Mail me a new link</a>' in expired.text
        sent = post_form(client, "/link", {"email": "Ada@Example.org"})
        unknown = post_form(client, "/link", {"email": "bob@example.org"})
        fresh = link_in(mails(config)[-1], "manage")
        assert "Resume digests" in client.get(fresh).text
    assert "If Ada@Example.org is subscribed here, we sent it a link to your settings." in read(sent.text)
    assert sent.text.replace("Ada@Example.org", "X") == unknown.text.replace("bob@example.org", "X")
    assert [m for m in mails(config) if "bob@" in m] == [] and len(mails(config)) == 2     # confirm + this link


def test_asking_for_a_link_with_no_address_is_answered_beside_the_field(client, config):
    page = post_form(client, "/link", {"email": "ada"})
    assert page.status_code == 400 and error_under(page, "email") == "'ada' is not an e-mail address"
    assert summary_of(page.text) == [("#email", "Email: 'ada' is not an e-mail address")]
    assert mails(config) == []


# ----------------------------------------------------------------------------- votes
def test_a_vote_link_shows_a_page_and_the_vote_is_stored_by_its_post(app, client, config, store):
    sub = subscribed(client, config, store)
    link = f"{PUBLIC}/vote/{app.web.signer.sign(Token('vote', sub.id, '2606.12243', -1))}"
    page = client.get(link)
    assert page.status_code == 200 and "Not for me" in page.text and store.votes(sub.id) == []
    done = client.post(link, data={"csrftoken": csrf_of(page.text)}, follow_redirects=True)
    assert store.votes(sub.id) == [("2606.12243", -1)]
    assert "Noted." in done.text and "<button" not in done.text           # and so on a reload, or Back to it
    other = client.get(f"{PUBLIC}/vote/{app.web.signer.sign(Token('vote', sub.id, '2606.12243', 1))}")
    assert "More like this" in other.text and "<button" in other.text
    listed = client.get(manage_link(app, sub))
    assert "not for me" in listed.text
    post_form(client, manage_link(app, sub), {"clear_vote": "2606.12243"})
    assert store.votes(sub.id) == []


def test_a_vote_link_for_a_paper_no_longer_stored_says_the_vote_was_not_recorded(app, client, config, store):
    sub = subscribed(client, config, store)
    link = f"{PUBLIC}/vote/{app.web.signer.sign(Token('vote', sub.id, '2601.00001', 1))}"
    for page in (client.get(link), post_form(client, link, {}, page=manage_link(app, sub))):
        assert page.status_code == 410 and "<h1>This paper is no longer stored</h1>" in page.text
        assert ("Your vote was not recorded: the paper it was for has been removed from this service. "
                "Your other votes still count.") in page.text
    assert store.votes(sub.id) == []


def test_a_right_to_left_title_takes_its_own_direction_on_the_vote_pages_and_the_manage_page(app, client, config, store):
    sub = subscribed(client, config, store)
    store.ingest([Paper("2606.99998", "نماذج الانتباه المتناثر")], source="hf_daily", digest_day="2026-06-12")
    link = f"{PUBLIC}/vote/{app.web.signer.sign(Token('vote', sub.id, '2606.99998', 1))}"
    shown = '<span dir="auto">نماذج الانتباه المتناثر</span>'
    assert shown in client.get(link).text
    assert shown in post_form(client, link, {}, follow_redirects=True).text
    assert shown in client.get(manage_link(app, sub)).text


def test_the_vote_page_shows_a_title_as_the_digest_did_not_as_its_tex(app, client, config, store):
    """The digest said "α-Flow"; the page its link opened said "$\\alpha$-Flow"."""
    sub = subscribed(client, config, store)
    store.ingest([Paper("2606.99997", "$\\alpha$-Flow:\n  Scaling $O(n^2)$ attention")], source="hf_daily",
                 digest_day="2026-06-12")
    link = f"{PUBLIC}/vote/{app.web.signer.sign(Token('vote', sub.id, '2606.99997', 1))}"
    for page in (client.get(link), post_form(client, link, {}, follow_redirects=True), client.get(manage_link(app, sub))):
        assert '<span dir="auto">α-Flow: Scaling O(n²) attention</span>' in page.text


def slack_request(app, body: bytes, secret: str = SLACK_SECRET):
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    with TestClient(app, base_url=PUBLIC) as slack:
        return slack.post("/slack/actions", content=body, headers={
            "x-slack-request-timestamp": ts, "x-slack-signature": sig,
            "content-type": "application/x-www-form-urlencoded"})


def test_slack_vote_buttons_are_stored_only_with_a_valid_slack_signature(app, client, config, store):
    sub = subscribed(client, config, store)
    token = app.web.signer.sign(Token("vote", sub.id, "2606.12243", 1))
    body = urlencode({"payload": json.dumps({"type": "block_actions",
                                             "actions": [{"action_id": "vote_up", "value": token}]})}).encode()
    assert slack_request(app, body, secret="wrong").status_code == 401 and store.votes(sub.id) == []
    assert slack_request(app, body).status_code == 200
    assert store.votes(sub.id) == [("2606.12243", 1)]


@pytest.fixture
def form_limit_16k(config):
    """[web] max_body_bytes at 16 KB (the default until a Chinese profile needed more), set before
    the app is made."""
    config.web.max_body_bytes = 16384


def test_a_slack_click_in_a_long_digest_is_stored_not_refused_as_too_large(form_limit_16k, app, client, config, store):
    """Slack's click carries the whole message clicked in: in the thread of a 15-paper digest that
    is about 18 KB, over a 16 KB form limit, so every button there got 413 and no vote counted."""
    from digests import digest
    from notifier import render
    from notifier.web.links import digest_links

    sub = subscribed(client, config, store)
    long_digest = digest(15, channel="slack", address="U12345678")
    long_digest.links = digest_links(PUBLIC, SECRET, sub.id, [i.paper.arxiv_id for i in long_digest.items])
    [thread] = render.render_slack(long_digest).thread
    token = app.web.signer.sign(Token("vote", sub.id, "2606.12243", 1))
    body = urlencode({"payload": json.dumps({"type": "block_actions", "message": {"blocks": thread},
                                             "actions": [{"action_id": "vote_up", "value": token}]})}).encode()
    assert len(body) > config.web.max_body_bytes
    assert slack_request(app, body).status_code == 200 and store.votes(sub.id) == [("2606.12243", 1)]
    assert client.post("/", content=b"x" * len(body), headers={"content-type": "text/plain"}).status_code == 413


# ----------------------------------------------------------------------------- tokens
def tampered(token: str) -> str:
    """The token with the first character of its signature changed. Not the last: base64 of the
    20-byte HMAC ends in a character whose 2 low bits are padding, ignored when decoded, so a
    changed last character left the signature intact about once in 1,000 tokens (a flaky test)."""
    at = token.rindex(".") + 1
    return token[:at] + ("B" if token[at] == "A" else "A") + token[at + 1:]


def test_a_tampered_token_or_one_for_another_purpose_gets_a_clear_400_page(app, client, config, store):
    sub = subscribed(client, config, store)
    good = app.web.signer.sign(Token("manage", sub.id))
    for path in (f"/manage/{tampered(good)}", f"/unsubscribe/{good}", f"/vote/{good}"):
        page = client.get(path)
        assert page.status_code == 400 and "not valid" in page.text and "Traceback" not in page.text


def test_tokens_are_bound_to_purpose_and_expire():
    signer = Signer(SECRET)
    with freeze_time("2026-06-01"):
        token = signer.sign(Token("vote", 7, "2606.12243", 1))
    with freeze_time("2026-06-02"):
        assert signer.verify("vote", token, 86400 * 2) == Token("vote", 7, "2606.12243", 1)
        with pytest.raises(TokenError):
            signer.verify("manage", token, 86400 * 2)
    with freeze_time("2026-06-04"), pytest.raises(TokenError) as err:
        signer.verify("vote", token, 86400 * 2)
    assert err.value.expired
    with pytest.raises(TokenError):
        Signer("another key").verify("vote", token, 10**9)


# ----------------------------------------------------------------------------- the rules of every page
@pytest.mark.parametrize("path", ["/", "/link"], ids=["sign-up", "link"])
def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(app, config, store, path):
    with TestClient(app, base_url=PUBLIC) as forger:
        page = forger.post(path, data={"email": "x@example.org", "keywords": "agents", "action": "subscribe"})
    assert page.status_code == 403 and "Reload the page" in page.text and mails(config) == []
    assert store.list_subscribers(active_only=False) == []


def test_a_browser_that_blocks_cookies_is_told_so_when_its_form_is_refused(app, client, config, store):
    """It read "This form was open too long": reloading changed nothing, and no form could ever be sent."""
    sub = subscribed(client, config, store)
    with TestClient(app, base_url=PUBLIC) as no_cookies:
        token = csrf_of(no_cookies.get("/link").text)
        no_cookies.cookies.clear()
        page = no_cookies.post("/link", data={"csrftoken": token, "email": sub.address})
    assert page.status_code == 403 and "are cookies blocked here?" in page.text and "too long" not in page.text
    assert len(mails(config)) == 1                                  # the confirmation alone, no link


def test_pages_carry_security_headers_and_no_inline_script(client):
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["referrer-policy"] == "strict-origin"
    assert page.headers["cache-control"] == "no-store"
    assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == [] and " style=" not in page.text
    assert 'secure' in page.headers["set-cookie"].lower() and "samesite=strict" in page.headers["set-cookie"].lower()


def test_every_field_of_the_subscribe_form_has_a_label(client):
    page = client.get("/").text
    ids = re.findall(r'<(?:input|textarea|select)[^>]*\bid="([^"]+)"', page)
    assert {"email", "keywords", "time", "timezone", "frequency"} <= set(ids)
    for field_id in ids:
        assert f'for="{field_id}"' in page


def test_a_form_over_the_body_limit_gets_a_page_saying_what_to_shorten_not_bare_text(client):
    """A 64 KB profile sent with Preview (80 KB as a form) read "Request too large" and nothing else."""
    page = post_form(client, "/", {"keywords": "agents, " * 8000, "action": "preview"})
    assert page.status_code == 413 and "<title>Too much text · Paper digests</title>" in page.text
    assert "A profile takes at most 2,000 characters" in page.text


def test_a_form_over_the_body_limit_sends_the_visitor_back_to_it_as_typed_not_to_a_blank_one(client):
    """Its page said "go back", and its one button, "Back to the page", opened the form's page anew:
    a blank sign-up form, or the manage page as stored, the address and keywords typed gone."""
    page = post_form(client, "/", {"email": "ada@example.org", "keywords": "agents, " * 8000})
    assert "go back with your browser’s Back button (the form is still there as you typed it)" in page.text
    assert 'class="button"' not in page.text


def test_a_chinese_profile_of_2000_characters_is_taken_not_refused_as_too_much_text(client, config):
    """2,000 characters is the profile's limit, but in Chinese they are 18 KB of form (9 bytes each
    URL-encoded): over the 16 KB body limit of before, Subscribe answered "Too much text"."""
    terms = ", ".join("".join(chr(0x4E00 + 30 * i + j) for j in range(30)) for i in range(62))
    assert len(terms) <= 2000 and len(urlencode({"keywords": terms})) > 16384
    page = subscribe(client, keywords=terms)
    assert page.status_code == 200 and "We sent a message to ada@example.org" in read(page.text)
    assert len(mails(config)) == 1


def test_a_profile_over_2000_characters_is_refused_in_the_tester_and_beside_the_field(client, store):
    long = ", ".join(f"term{i}" for i in range(400))
    said = "a profile takes at most 2,000 characters and this one is longer"
    assert said in post_form(client, "/", {"keywords": long, "action": "preview"}).text
    assert said in preview(client, "/tester", {"keywords": long[:2001]}).text     # as the page's script sends it
    refused = subscribe(client, keywords=long)
    assert refused.status_code == 400 and re.search(rf'id="keywords-error">{said}', refused.text)
    assert store.list_subscribers(active_only=False) == []


def test_an_unexpected_error_shows_a_plain_500_page_without_a_trace(app, client, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("secret internals")
    monkeypatch.setattr(app.web.tester, "run", broken)
    with TestClient(app, base_url=PUBLIC, raise_server_exceptions=False) as c:
        page = preview(c, "/tester", {"keywords": "agents"})
    assert page.status_code == 500 and "secret internals" not in page.text and "Traceback" not in page.text
    assert client.get("/nowhere").status_code == 404


def test_a_sign_up_that_fails_on_the_server_shows_the_keywords_typed_to_copy(app, monkeypatch):
    """The 500 (or busy 503) page of a sign-up said "Please try again later" and nothing else: the
    keywords typed, a paragraph perhaps, were gone; the manage form's error pages show them."""
    from notifier.errors import StoreError

    def full(*a, **k):
        raise StoreError("the disk is full")
    monkeypatch.setattr(app.web.store, "add_signup", full)
    with TestClient(app, base_url=PUBLIC, raise_server_exceptions=False) as c:
        page = subscribe(c, keywords='"sparse attention", <b>kv</b>\r\nlong context', follow=False)
    assert page.status_code == 500 and "Nothing was saved. Copy your keywords from here" in page.text
    assert textareas(page.text) == ['&#34;sparse attention&#34;, &lt;b&gt;kv&lt;/b&gt;\nlong context']


# ----------------------------------------------------------------------------- configuration
def test_the_web_table_is_validated_with_one_line_errors(tmp_path):
    path = tmp_path / "c.toml"
    for body, needle in (('listen = "8080"', "web.listen"), ('public_url = "papers.example.org"', "web.public_url"),
                         ('limit_per_address = "lots"', "web.limit_per_address")):
        path.write_text(f"[web]\n{body}\n")
        with pytest.raises(ConfigError, match=needle):
            load_config(path, env={})


def test_the_app_refuses_to_start_without_a_signing_key(config):
    with pytest.raises(ConfigError, match="NOTIFIER_WEB_SECRET"):
        create_app(config, env={})


def test_notifier_web_without_a_signing_key_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    from notifier.cli import main

    monkeypatch.delenv("NOTIFIER_WEB_SECRET", raising=False)
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path))
    assert main(["web", "--listen", "127.0.0.1:0"]) == 1            # a bad --listen: one line too
    assert "port 0 is out of range: use 1 to 65535" in capsys.readouterr().err
    assert main(["web", "--listen", "127.0.0.1:8999"]) == 1          # refused before anything binds
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NOTIFIER_WEB_SECRET" in err and "openssl rand" in err


# ----------------------------------------------------------------------------- Slack acknowledgements
@pytest.fixture
def slack():
    from slack_server import FakeSlack

    fakes = []

    def start():
        fakes.append(FakeSlack())
        return fakes[-1]
    yield start
    for fake in fakes:
        fake.close()


@pytest.fixture
def slack_app(config, slack):
    """The app with ``[slack] api_url`` on a Slack stand-in (``app.fake``) on loopback."""
    fake = slack()
    config.web.public_url, config.slack.api_url = PUBLIC, fake.url + "/api/"
    application = create_app(config, env=ENV)
    store_sample_papers(application.web.store)
    application.fake = fake
    yield application
    application.web.close()


def click(app, sub, vote: int, response_url: str, paper: str = "2606.12243"):
    token = app.web.signer.sign(Token("vote", sub.id, paper, vote))
    payload = {"type": "block_actions", "response_url": response_url,
               "actions": [{"action_id": "vote_up" if vote > 0 else "vote_down", "value": token}]}
    return slack_request(app, urlencode({"payload": json.dumps(payload)}).encode())


def test_a_slack_vote_click_is_acknowledged_to_the_user_through_its_response_url(slack_app, config):
    with TestClient(slack_app, base_url=PUBLIC, follow_redirects=False) as c:
        sub = subscribed(c, config, slack_app.web.store)
    slack_app.web.store.ingest([Paper("2606.99999", "Sparse <attention> & you")], source="hf_daily",
                               digest_day="2026-06-12")
    assert click(slack_app, sub, 1, slack_app.fake.url + "/actions/T1/42/secret", "2606.99999").status_code == 200
    assert slack_app.web.store.votes(sub.id) == [("2606.99999", 1)]
    [ack] = slack_app.fake.hooks("/actions/T1/42/secret")
    assert ack["response_type"] == "ephemeral" and ack["replace_original"] is False
    assert ack["text"] == "Noted: more like this — Sparse &lt;attention&gt; &amp; you"     # the title is escaped


def test_a_slack_vote_reply_names_a_long_title_cut_on_one_line_as_the_digest_did(slack_app, config):
    """The reply carried the stored title whole: its line breaks, its TeX, and all of a title
    the digest had cut after 300 characters."""
    with TestClient(slack_app, base_url=PUBLIC, follow_redirects=False) as c:
        sub = subscribed(c, config, slack_app.web.store)
    title = "$\\alpha$-Sparse\n  attention " + "for long context " * 30
    slack_app.web.store.ingest([Paper("2606.99999", title)], source="hf_daily", digest_day="2026-06-12")
    click(slack_app, sub, 1, slack_app.fake.url + "/actions/T1/42/secret", "2606.99999")
    [ack] = slack_app.fake.hooks("/actions/T1/42/secret")
    assert ack["text"].startswith("Noted: more like this — α-Sparse attention for long context for")
    assert ack["text"].endswith("context…") and len(ack["text"]) < 330 and "\n" not in ack["text"]


def test_a_slack_click_that_cannot_count_is_answered_ok_and_the_user_is_told_why(slack_app, config):
    """Unsubscribed since (or a button older than link_days): Slack got an HTML error page and
    showed the clicking user a warning sign with no word of why."""
    with TestClient(slack_app, base_url=PUBLIC, follow_redirects=False) as c:
        sub = subscribed(c, config, slack_app.web.store)
    slack_app.web.store.remove_subscriber(sub.id)
    assert click(slack_app, sub, 1, slack_app.fake.url + "/actions/T1/43/secret").status_code == 200
    assert slack_app.web.store.votes(sub.id) == []
    [ack] = slack_app.fake.hooks("/actions/T1/43/secret")
    assert ack["response_type"] == "ephemeral"
    assert ack["text"] == "Not recorded: you have unsubscribed, so this link no longer works"


def test_a_slack_click_while_the_database_is_busy_is_answered_ok_and_the_user_told_to_click_again(
        config, short_busy_timeout, slack_app):
    """The daemon posting digests holds the database while people click in them: Slack got a 503
    page and showed a warning sign, and never sends a click again."""
    with TestClient(slack_app, base_url=PUBLIC, follow_redirects=False) as c:
        sub = subscribed(c, config, slack_app.web.store)
    with write_lock(config):
        assert click(slack_app, sub, 1, slack_app.fake.url + "/actions/T1/44/secret").status_code == 200
    [ack] = slack_app.fake.hooks("/actions/T1/44/secret")
    assert ack["text"] == "Not recorded: the service is busy for a moment; click the button again in a few seconds"
    assert click(slack_app, sub, 1, slack_app.fake.url + "/actions/T1/45/secret").status_code == 200
    assert slack_app.web.store.votes(sub.id) == [("2606.12243", 1)]


def test_a_response_url_on_another_host_gets_nothing_and_the_vote_is_still_stored(slack_app, config, slack, caplog):
    elsewhere = slack()            # listening, so a post there would be seen
    with TestClient(slack_app, base_url=PUBLIC, follow_redirects=False) as c:
        sub = subscribed(c, config, slack_app.web.store)
    for url in (elsewhere.url + "/actions/T1/42/secret", f"http://{slack_app.fake.url[7:]}@{elsewhere.url[7:]}/actions/x"):
        assert click(slack_app, sub, -1, url).status_code == 200
    assert slack_app.web.store.votes(sub.id) == [("2606.12243", -1)]
    assert elsewhere.calls == [] and slack_app.fake.calls == []
    assert "slack acknowledgement refused" in caplog.text


def test_a_response_url_redirecting_to_another_host_sends_nothing_there(slack_app, config, slack, caplog):
    elsewhere = slack()
    with TestClient(slack_app, base_url=PUBLIC, follow_redirects=False) as c:
        sub = subscribed(c, config, slack_app.web.store)
    slack_app.fake.replies["/actions/T1/42/secret"] = [(302, {"Location": elsewhere.url + "/actions/x"}, "")]
    assert click(slack_app, sub, 1, slack_app.fake.url + "/actions/T1/42/secret").status_code == 200
    assert slack_app.web.store.votes(sub.id) == [("2606.12243", 1)]
    assert elsewhere.calls == [] and len(slack_app.fake.calls) == 1
    assert [r.ctx["status"] for r in caplog.records if r.getMessage() == "slack acknowledgement failed"] == [302]


def test_a_slack_click_reads_and_writes_the_store_off_the_event_loop(slack_app, config, monkeypatch):
    """The store is blocking I/O (SQLite, PostgreSQL): on the event loop it stalls every other
    request while it waits, so the click's work runs in the thread pool as the other pages' does."""
    import asyncio

    with TestClient(slack_app, base_url=PUBLIC, follow_redirects=False) as c:
        sub = subscribed(c, config, slack_app.web.store)
    on_loop: dict[str, list[bool]] = {}

    def watched(name):
        real = getattr(slack_app.web.store, name)

        def call(*args, **kwargs):
            try:
                asyncio.get_running_loop()
                on_loop.setdefault(name, []).append(True)
            except RuntimeError:
                on_loop.setdefault(name, []).append(False)
            return real(*args, **kwargs)
        monkeypatch.setattr(slack_app.web.store, name, call)
    for name in ("find_subscriber", "get_papers", "set_vote"):
        watched(name)
    assert click(slack_app, sub, 1, slack_app.fake.url + "/actions/T1/42/secret").status_code == 200
    assert slack_app.web.store.votes(sub.id) == [("2606.12243", 1)]
    assert on_loop == {"find_subscriber": [False], "get_papers": [False], "set_vote": [False]}


# ----------------------------------------------------------------------------- the event loop
class SlowQuery:
    """Holds the next SQL statement a request runs (a slow disk, a lock another worker holds)
    until ``release``; records every statement that ran on the event loop's thread."""

    def __init__(self, engine):
        import threading

        self.engine, self.armed = engine, False
        self.entered, self.release = threading.Event(), threading.Event()
        self.on_loop: list[str] = []

    def __call__(self, conn, cursor, statement, *args):
        import asyncio
        import threading

        try:
            asyncio.get_running_loop()
            self.on_loop.append(statement.split()[0])
        except RuntimeError:
            pass
        if self.armed and threading.current_thread().name != "tester-warmup":
            self.armed = False
            self.entered.set()
            self.release.wait(30)

    def __enter__(self):
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        self.release.set()
        event.remove(self.engine, "before_cursor_execute", self)


SAVE = {"keywords": "agents", "time": "07:30", "timezone": "UTC", "action": "save"}


@pytest.mark.parametrize("method,kind,form", [
    ("GET", "confirm", None), ("POST", "confirm", {}), ("GET", "manage", None), ("POST", "manage", SAVE),
    ("POST", "manage", {"action": "pause"}), ("POST", "manage", {"clear_vote": "2606.12243"}),
    ("GET", "unsubscribe", None), ("POST", "unsubscribe", {}), ("GET", "vote", None), ("POST", "vote", {})])
def test_a_slow_database_query_on_one_page_does_not_stall_the_other_pages(app, client, config, store,
                                                                          method, kind, form):
    """The store is blocking I/O: run on the event loop, one page waiting for the database kept
    every other visitor (and the health check) waiting too."""
    import threading

    if kind == "confirm":
        subscribe(client)
        link = link_in(mails(config)[-1], "confirm")
    else:
        sub = subscribed(client, config, store)
        token = Token(kind, sub.id, "2606.12243", 1) if kind == "vote" else Token(kind, sub.id)
        link = f"{PUBLIC}/{kind}/{app.web.signer.sign(token)}"
    csrf = csrf_of(client.get(link).text)
    answers = {}

    def slow():
        answers["slow"] = client.request(method, link, data=None if form is None else {"csrftoken": csrf, **form},
                                         follow_redirects=True)
    with SlowQuery(store.engine) as query:
        query.armed = True
        held = threading.Thread(target=slow)
        held.start()
        assert query.entered.wait(30)
        other = threading.Thread(target=lambda: answers.setdefault("other", client.get("/healthz")))
        other.start()
        other.join(10)              # a deadline, not a pause: it answers at once unless the loop is stuck
        answered = "other" in answers
        query.release.set()
        held.join(30)
        other.join(30)
    assert answered, f"{method} /{kind}/ held the event loop while it waited for the database"
    assert answers["slow"].status_code == 200 and query.on_loop == []


@pytest.fixture
def short_busy_timeout(config, monkeypatch):
    """Stores opened after it wait 0.2 s, not 30, for another process's write lock (SQLite)."""
    if not config.database.url.startswith("sqlite"):
        pytest.skip("a SQLite write lock")
    monkeypatch.setattr("notifier.store.engine.BUSY_TIMEOUT_MS", 200)


@contextlib.contextmanager
def write_lock(config):
    """Another process's write lock on the SQLite file (the daemon delivering), held in the block."""
    import sqlite3

    other = sqlite3.connect(config.database.url.split(":///", 1)[1], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.rollback()
        other.close()


@pytest.fixture
def locked(config, short_busy_timeout):
    """The app, a subscriber and their manage link, and ``hold()``: a write lock of another process.
    The client is not a ``with`` block, so the app's lifespan, the tester warm-up thread, does not run:
    its reads held SQLite's write lock (BEGIN IMMEDIATE, store/engine.py) for 0.4 s with 8,000 papers,
    longer than the 0.2 s the set-up's writes wait here (it failed so under load), before reads began deferred."""
    config.web.public_url = PUBLIC
    application = create_app(config, env=ENV)
    store_sample_papers(application.web.store)
    c = TestClient(application, base_url=PUBLIC, follow_redirects=False)
    sub = subscribed(c, config, application.web.store)
    yield c, application.web.store, sub, manage_link(application, sub), lambda: write_lock(config)
    application.web.close()


def test_a_database_locked_by_another_process_gets_a_busy_page_saying_nothing_changed(locked):
    """It waited, then said "Something went wrong" (500) as if the service were broken. A page that
    only reads opens meanwhile: reads take no write lock (Store.reading)."""
    client, store, sub, link, hold = locked
    page = client.get(link)
    with hold():
        shown = client.get(link)
        saved = client.post(link, data={"csrftoken": csrf_of(page.text), "keywords": "robots", "time": "09:00",
                                        "timezone": "UTC", "action": "save"})
    assert shown.status_code == 200
    assert saved.status_code == 503 and saved.headers["retry-after"] == "10"
    assert "<h1>Busy for a moment</h1>" in saved.text and "nothing was changed" in saved.text
    assert "go back and send the form again" in saved.text
    assert store.find_subscriber(sub.id).profile == sub.profile
    retried = client.post(link, data={"csrftoken": csrf_of(page.text), "keywords": "robots", "time": "09:00",
                                      "timezone": "UTC", "action": "save"}, follow_redirects=True)
    assert "Saved." in retried.text and json.loads(store.find_subscriber(sub.id).profile) == ["robots"]


def test_a_change_saved_before_the_database_got_busy_is_not_called_unchanged(locked, monkeypatch):
    """The pause is stored, then the page after it cannot read the votes: "nothing was changed"
    would be false, and the visitor would pause again."""
    from notifier.errors import StoreBusy

    client, store, sub, link, hold = locked
    page = client.get(link)

    def votes_while_locked(subscriber_id):     # (a read waits for no writer on SQLite: as PostgreSQL's lock_timeout)
        raise StoreBusy(f"{store.where}: the database stayed locked by another process for too long")
    monkeypatch.setattr(store, "votes", votes_while_locked)
    answer = client.post(link, data={"csrftoken": csrf_of(page.text), "action": "pause"}, follow_redirects=True)
    assert answer.status_code == 503 and "nothing was changed" not in answer.text
    assert "Paused: no digests until you resume. The page could not be shown just now" in answer.text
    assert store.find_subscriber(sub.id).paused


def test_a_save_waiting_for_a_row_another_process_holds_on_postgresql_gets_the_busy_page(
        postgres_url, config, monkeypatch):
    """On PostgreSQL a Save waited without limit for a subscriber row another process held locked;
    on SQLite the same wait ends in the 'Busy for a moment' page after the busy timeout."""
    from sqlalchemy import text

    monkeypatch.setattr("notifier.web.app.LOCK_TIMEOUT_MS", 200)
    config.database.url, config.web.public_url = postgres_url, PUBLIC
    application, other = create_app(config, env=ENV), Store(postgres_url)
    with TestClient(application, base_url=PUBLIC, follow_redirects=False) as client, other.engine.connect() as held:
        sub = subscribed(client, config, application.web.store)
        link = manage_link(application, sub)
        held.execute(text("SET idle_in_transaction_session_timeout = '10s'"))    # unfixed, the Save waits for this
        held.execute(text("SELECT id FROM subscriber WHERE id = :id FOR UPDATE"), {"id": sub.id})
        saved = post_form(client, link, {"keywords": "robots", "time": "09:00", "timezone": "UTC", "action": "save"})
        held.rollback()
        retried = post_form(client, link, {"keywords": "robots", "time": "09:00", "timezone": "UTC", "action": "save"},
                            follow_redirects=True)
    application.web.close()
    other.close()
    assert saved.status_code == 503 and saved.headers["retry-after"] == "10" and "nothing was changed" in saved.text
    assert "Saved." in retried.text


def test_a_web_started_while_another_process_migrates_on_postgresql_waits_for_it_to_finish(
        postgres_url, config, monkeypatch):
    """The lock_timeout meant for a page's write (30 s) also bounded the start-up migration's wait
    for another process's: a web started during a longer migration (an upgrade's `notifier
    migrate`) gave up "busy" and did not start. Here the request timeout is 1 ms."""
    import threading

    from sqlalchemy import text

    from notifier.store.engine import _lock_key

    monkeypatch.setattr("notifier.web.app.LOCK_TIMEOUT_MS", 1)
    config.database.url, config.web.public_url = postgres_url, PUBLIC
    migrating, started = Store(postgres_url), {}

    def start():
        try:
            started["web"] = create_app(config, env=ENV).web
        except Exception as err:          # the thread's end: the test reads it
            started["error"] = err
    with migrating.engine.connect() as held:
        held.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key("migrate")})    # as a migration holds it
        web = threading.Thread(target=start)
        web.start()
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        deadline = time.monotonic() + 30
        while web.is_alive() and not held.execute(text(waiting)).scalar() and time.monotonic() < deadline:
            pass
        waited = web.is_alive()
        held.rollback()                                           # the migration ends
    web.join(30)
    migrating.close()
    assert waited and "error" not in started, started
    started["web"].close()


# ----------------------------------------------------------------------------- README claims
def test_an_https_public_url_adds_hsts_and_a_plain_http_one_does_not(app, client, config):
    assert client.get("/").headers["strict-transport-security"].startswith("max-age=")
    config.web.public_url = "http://127.0.0.1:8080"
    plain = create_app(config, env=ENV)
    try:
        with TestClient(plain, base_url="http://127.0.0.1:8080") as c:
            assert "strict-transport-security" not in c.get("/").headers
    finally:
        plain.web.close()


def test_live_previews_are_limited_to_120_a_minute_per_browser_and_360_per_address(app, client):
    """Counted by address alone, one person typing fast behind a university's NAT used up the
    120 a minute of everyone else in the room. A script taking a new cookie for each preview
    still stops at the address's 360."""
    with freeze_time("2026-06-12 09:00"):
        answers = [preview(client, "/tester", {"keywords": "agents"}).status_code for _ in range(121)]
        assert answers[:120] == [200] * 120 and answers[120] == 429
        with TestClient(app, base_url=PUBLIC) as neighbour:          # the same address, another browser
            assert preview(neighbour, "/tester", {"keywords": "agents"}).status_code == 200
        with TestClient(app, base_url=PUBLIC) as script:
            answers = [fresh_preview(script) for _ in range(240)]
        assert answers[:239] == [200] * 239 and answers[239] == 429
        with TestClient(app, base_url=PUBLIC, client=("192.0.2.7", 50000)) as another:
            assert preview(another, "/tester", {"keywords": "agents"}).status_code == 200
    with freeze_time("2026-06-12 09:01:01"):
        assert preview(client, "/tester", {"keywords": "agents"}).status_code == 200


def fresh_preview(client) -> int:
    """A live preview from a browser with no cookie yet: it gets one from the page first."""
    client.cookies.clear()
    return preview(client, "/tester", {"keywords": "agents"}).status_code


def test_an_unsubscribe_link_keeps_working_for_a_year(app, client, config, store):
    sub = subscribed(client, config, store)
    with freeze_time("2026-06-12"):
        link = f"{PUBLIC}/unsubscribe/{app.web.signer.sign(Token('unsubscribe', sub.id))}"
    with freeze_time("2027-06-10"):
        assert client.get(link).status_code == 200 and store.find_subscriber(sub.id).active
    with freeze_time("2027-06-14"):
        assert client.get(link).status_code == 410


def test_the_web_sign_up_brings_back_a_config_file_subscriber_who_unsubscribed(app, client, config, store):
    from notifier.config import SubscriberSpec
    from notifier.context import open_context

    config.subscribers = [SubscriberSpec(email="ann@example.org", keywords="distillation")]
    with open_context(config):
        pass
    sub = store.find_subscriber("ann@example.org")
    with TestClient(app, base_url=PUBLIC) as mail_provider:
        mail_provider.post(f"{PUBLIC}/unsubscribe/{app.web.signer.sign(Token('unsubscribe', sub.id))}",
                           content=b"List-Unsubscribe=One-Click",
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert not store.find_subscriber(sub.id).active
    subscribed(client, config, store, "ann@example.org")
    assert store.find_subscriber("ann@example.org").active
    with open_context(config):              # the next start applies the file again
        pass
    assert store.find_subscriber("ann@example.org").active
