"""A sent digest as a web page (`/digest/{token}`): every paper of it, none cut for size, linked
from the email ("View this digest in your browser", and after the papers Gmail's size cut left out)
when `notifier web` is set up; its link is signed for one subscriber and digest day."""
from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from starlette.testclient import TestClient

from notifier import render
from notifier.context import open_context
from notifier.models import Paper
from notifier.web.access import loggable
from notifier.web.app import create_app
from notifier.web.tokens import Token
from test_web_links import outbox_email, send_digest
from web_helpers import ENV, PUBLIC, SECRET

BROAD = "model, language, learning, agents, reasoning, video"     # most of the 30 sample papers
SMALL_EMAIL_BYTES = 12_000          # a few papers' worth: the rest are cut, as Gmail's 102 KB cut a long digest


@pytest.fixture
def web_config(config, monkeypatch):
    config.web.public_url = PUBLIC
    monkeypatch.setenv("NOTIFIER_WEB_SECRET", SECRET)
    return config


@pytest.fixture
def small_emails(monkeypatch):
    """Emails cut at SMALL_EMAIL_BYTES instead of 100 KB: the sample papers are too few to reach that."""
    monkeypatch.setattr(render, "render_email", functools.partial(render.render_email, max_bytes=SMALL_EMAIL_BYTES))


@pytest.fixture
def browser(web_config):
    app = create_app(web_config, env=ENV)
    with TestClient(app, base_url=PUBLIC, follow_redirects=False) as client:
        client.web = app.web
        yield client
    app.web.close()


def parts(msg) -> tuple[str, str]:
    """The HTML and the plain text, its lines (folded at 72 columns) joined again."""
    return msg.get_body(("html",)).get_content(), " ".join(msg.get_body(("plain",)).get_content().split())


def page_link(msg) -> str:
    """The email's "View this digest in your browser" link."""
    return re.search(r'href="([^"]+/digest/[^"]+)"', parts(msg)[0]).group(1)


def test_a_digest_cut_for_size_says_where_to_see_all_its_papers_and_its_page_lists_them(web_config, small_emails,
                                                                                        browser):
    _, msg = send_digest(web_config, keywords=BROAD)
    html, text = parts(msg)
    said = re.search(r"(\d+) more papers, the weakest, were left out: Gmail cuts longer emails short\. "
                     r'<a href="([^"]+)"[^>]*>See all (\d+) in your browser\.</a>', html)
    assert said, "the size cut does not say where the papers left out are"
    cut, link, total = int(said.group(1)), said.group(2), int(said.group(3))
    shown = html.count('class="title"')
    assert cut > 0 and shown + cut == total
    assert link.startswith(f"{PUBLIC}/digest/") and re.search(f'<a href="{re.escape(link)}"[^>]*>View this digest in your '
                                                             'browser</a>', html)
    assert f"See all {total} in your browser." in text and f"View this digest in your browser: {link}" in text
    page = browser.get(link)
    assert page.status_code == 200
    assert page.text.count('class="paper"') == total
    titles = re.findall(r'class="title"[^>]*>([^<]+)</a>', html)
    assert all(t in page.text for t in titles)
    assert page.text.count(f"{PUBLIC}/vote/") == 2 * total and "Useful?" in page.text


def test_a_digest_page_link_changed_or_for_another_purpose_is_refused_as_a_manage_link_is(web_config, browser):
    sub, msg = send_digest(web_config)
    link = page_link(msg)
    tampered = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    manage_token = browser.web.signer.sign(Token("manage", sub.id))
    refusals = [browser.get(tampered), browser.get(f"{PUBLIC}/digest/{manage_token}")]
    manage = browser.get(f"{PUBLIC}/manage/{manage_token[:-3]}xyz")
    assert [r.status_code for r in refusals] == [400, 400] == [manage.status_code] * 2
    for r in refusals:
        assert "This link is not valid" in r.text and "not valid (it was changed or cut short)" in r.text
        assert "class=\"paper\"" not in r.text


def test_a_digest_page_link_that_expired_or_names_no_sent_digest_says_so_in_a_page(web_config, browser):
    sub, msg = send_digest(web_config)
    link = page_link(msg)
    unsent = browser.get(f"{PUBLIC}/digest/{browser.web.signer.sign(Token('digest', sub.id, day='1999-01-01'))}")
    assert unsent.status_code == 410 and "This digest is not stored here" in unsent.text
    with freeze_time(datetime.now(timezone.utc) + timedelta(days=web_config.web.link_days + 1)):
        expired = browser.get(link)
    assert expired.status_code == 410 and "This link has expired" in expired.text


def test_a_digest_email_has_no_browser_link_when_the_web_is_not_set_up(config, small_emails):
    """Guard: without `[web] public_url` and its key there is no page to link to; the size cut says why alone."""
    _, msg = send_digest(config, keywords=BROAD)
    html, text = parts(msg)
    assert "Gmail cuts longer emails short." in html and "Gmail cuts longer emails short." in text
    assert "browser" not in html.lower() and "browser" not in text.lower()


def test_a_digest_page_shows_a_title_with_markup_as_text(web_config, browser):
    """Guard: a title is untrusted text; the page's template escapes it (jinja2 autoescape)."""
    hostile = Paper(arxiv_id="2606.99999", title='<img src=x onerror=alert(1)> Speculative decoding for all',
                    abstract="Speculative decoding, faster.", authors=["Eve <eve@example.org>"])
    with open_context(web_config) as ctx:
        ctx.store.ingest([hostile], source="hf_daily", digest_day="2026-06-12")
    _, msg = send_digest(web_config)
    page = browser.get(page_link(msg))
    assert "&lt;img src=x onerror=alert(1)&gt; Speculative decoding for all" in page.text
    assert "<img src=x" not in page.text and "<eve@" not in page.text


def test_the_access_log_leaves_out_a_digest_links_token():
    """It logged /digest/<token>: a key to someone's digest and, with it, its vote links."""
    assert loggable("/digest/WzEsIjIwMjYtMDYtMTIiXQ.aZ.sig") == "/digest/…"


def test_a_weekly_digest_page_lists_papers_under_their_days_with_no_empty_list_before_the_first(web_config, browser):
    """The page opened a list before its first day heading and closed it empty at once: a screen
    reader announced "list, 0 items" above the week's papers."""
    from notifier.sending import deliver
    from notifier.subscribers import new_subscriber

    with open_context(web_config) as ctx:
        ctx.store.ingest([Paper("2606.90001", "Agents that plan", "Agents.")], source="hf_daily", digest_day="2026-06-10")
        ctx.store.ingest([Paper("2606.90002", "Agents that read", "Agents.")], source="hf_daily", digest_day="2026-06-12")
        with freeze_time("2026-06-12 09:00"):
            ctx.store.add_subscriber(new_subscriber(address="ada@example.org", keywords=["agents"],
                                                    frequency="weekly:fri"))
            deliver(ctx)
    with freeze_time("2026-06-12 09:05"):
        page = browser.get(page_link(outbox_email(web_config)))
    assert page.status_code == 200
    lists = re.findall(r"<ol[^>]*>(.*?)</ol>", page.text, re.S)
    assert re.findall(r"<h2>([^<]+)</h2>", page.text) == ["Friday 12 June", "Wednesday 10 June"]
    assert len(lists) == 2 and all("<li>" in items for items in lists)


@pytest.mark.parametrize("state", ["unknown", "sending"])
def test_a_digest_whose_sending_is_not_recorded_done_still_opens_from_the_email_that_may_have_arrived(
        web_config, browser, state):
    """Guard: a mail server that took the message but whose answer was lost leaves the digest
    `unknown` (or `sending`, until the next run looks): the email may be in the inbox, and its
    browser link opens the digest as for one recorded sent."""
    from sqlmodel import update

    from notifier.store import Delivery

    sub, msg = send_digest(web_config)
    with open_context(web_config) as ctx, ctx.store.session() as s:
        s.execute(update(Delivery).where(Delivery.subscriber_id == sub.id).values(state=state))
    page = browser.get(page_link(msg))
    assert page.status_code == 200
    assert page.text.count('class="paper"') == parts(msg)[0].count('class="title"') > 0
