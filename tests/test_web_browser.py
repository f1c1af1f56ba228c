"""The self-service pages in a real browser: Playwright drives Debian's chromium against
`notifier web` started as a process on 127.0.0.1, with a temporary database and aiosmtpd
catching the mail. One journey: subscribe -> confirmation mail -> confirm -> the tester shows
matches -> edit the profile -> a digest sent by `notifier run` -> vote from the mail's link ->
unsubscribe by the one-click POST, and by the page.

Skipped only when chromium is not installed (.ci/run installs it). With
NOTIFIER_WEB_SCREENSHOTS=DIR the pages are also saved there at 375 px and 1280 px (docs/)."""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from notifier.store import Store
from notifier.web.tokens import Signer, Token
from smtp_server import Recorder, free_port
from web_helpers import SECRET, link_in, store_sample_papers, wait_until_up

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--host-resolver-rules=MAP lan.test 127.0.0.1"]     # a plain-http LAN name: not localhost, not https
SHOTS = os.environ.get("NOTIFIER_WEB_SCREENSHOTS")


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, recorder
    controller.stop()


@pytest.fixture
def site(tmp_path, smtp, request):
    """`notifier web` as a process; yields (base URL, config path, environment, database URL).
    Indirect parameters: more lines for its [web] table."""
    controller, _ = smtp
    web_lines = getattr(request, "param", "")
    port = free_port()
    db = f"sqlite:///{tmp_path / 'notifier.sqlite'}"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""[general]\nstate_dir = "{tmp_path}"\n[database]\nurl = "{db}"\n
[sources.hf_daily]\nenabled = false\n
[email]\nhost = "127.0.0.1"\nport = {controller.port}\nsecurity = "none"\nfrom = "Papers <papers@example.org>"
unsubscribe_mailto = "unsubscribe@example.org"\n
[web]\nlisten = "127.0.0.1:{port}"\npublic_url = "http://127.0.0.1:{port}"\n{web_lines}\n""")
    store = Store(db)
    store_sample_papers(store)
    store.close()
    env = {**os.environ, "NOTIFIER_WEB_SECRET": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "notifier", "-c", str(cfg), "web"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc)
        yield base, cfg, env, db
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def shoot(page, name: str) -> None:
    """Screenshots at 375 px and 1280 px wide, when asked for (NOTIFIER_WEB_SCREENSHOTS)."""
    if not SHOTS:
        return
    for width in (375, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(Path(SHOTS) / f"web-{name}-{width}px.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def fits(page, width: int) -> bool:
    """Readable at this width: nothing sticks out sideways (no horizontal scrolling)."""
    page.set_viewport_size({"width": width, "height": 900})
    overflow = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    return overflow <= width


def mail_to(recorder, address: str, subject_part: str, timeout: float = 20):
    for _ in range(int(timeout * 10)):
        for m in recorder.snapshot():
            if m["To"] == address and subject_part in m["Subject"]:
                return m
        time.sleep(0.1)
    raise AssertionError(f"no mail to {address} about {subject_part!r}")


def sign_up(page, base, address, keywords="agents", zone=None, send=True):
    """The sign-up form typed in: the address, the keywords and, when given, a time zone over the
    browser's; then Subscribe, unless ``send`` is False (the test has more to do first)."""
    page.goto(base + "/")
    page.get_by_label("Email").fill(address)
    page.get_by_label("Keywords").fill(keywords)
    if zone:
        page.get_by_label("Time zone").fill(zone)
    if send:
        page.get_by_role("button", name="Subscribe").click()


def subscribe_by_keyboard_and_confirm(page, base, recorder, address, keywords):
    """Keyboard only: Tab to the fields, type, Enter submits with the Subscribe button."""
    page.goto(base + "/")
    page.keyboard.press("Tab")                  # the site name
    page.keyboard.press("Tab")
    page.keyboard.type(address)
    page.keyboard.press("Tab")
    page.keyboard.type(keywords)
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Check your inbox").wait_for()
    confirm = link_in(mail_to(recorder, address, "Confirm").get_content(), "confirm")
    page.goto(confirm)
    page.get_by_role("button", name="Confirm subscription").click()
    page.get_by_role("heading", name="You are subscribed").wait_for()


def test_a_subscriber_serves_themselves_from_subscribe_to_unsubscribe(site, smtp, browser):
    base, cfg, env, db = site
    _, recorder = smtp
    page = browser.new_page(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")

    # The tester updates as the person types (JavaScript), before anything is sent.
    page.goto(base + "/")
    assert page.get_by_label("Time zone").input_value() == "Europe/Berlin"     # defaulted from the browser
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_label("Keywords").press_sequentially('"speculative decoding", distillation', delay=10)
    tester = page.locator("#tester")
    tester.get_by_role("link", name=re.compile("^VIA-SD: Verification via Intra-Model Routing")).wait_for()
    assert "matched:" in tester.inner_text()
    shoot(page, "subscribe")
    assert fits(page, 375) and fits(page, 1280)
    page.emulate_media(color_scheme="dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
    page.emulate_media(color_scheme="light")

    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    confirm = link_in(mail_to(recorder, "ada@example.org", "Confirm").get_content(), "confirm")
    store = Store(db)
    assert store.list_subscribers(active_only=False) == []            # double opt-in: nothing yet
    page.goto(confirm)
    page.get_by_role("button", name="Confirm subscription").click()
    page.get_by_role("heading", name="You are subscribed").wait_for()
    assert [s.address for s in store.list_subscribers()] == ["ada@example.org"]

    # The manage page: the same tester, then an edit.
    page.get_by_role("link", name="Manage your subscription").click()
    page.locator("#tester").get_by_role("link", name=re.compile("^VIA-SD")).wait_for()
    page.get_by_label("Profile 1 keywords").fill('"speculative decoding", "sparse attention"')
    page.locator("#tester").get_by_role("link", name="MiniMax Sparse Attention").wait_for()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    ada = store.find_subscriber("ada@example.org")
    assert "sparse attention" in ada.profile and ada.timezone == "Europe/Berlin"

    # A second subscriber, who will leave through the unsubscribe page.
    other = browser.new_page()
    subscribe_by_keyboard_and_confirm(other, base, recorder, "bob@example.org", "agents")

    # A digest, sent by `notifier run`.
    run = subprocess.run([sys.executable, "-m", "notifier", "-c", str(cfg), "run", "--all"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    digest = mail_to(recorder, "ada@example.org", "papers — ")
    assert digest["List-Unsubscribe-Post"] is None          # public_url is http here: one-click needs https
    one_click = re.search(r"<(http://[^>]+/unsubscribe/[^>]+)>", digest["List-Unsubscribe"]).group(1)
    assert "<mailto:unsubscribe@example.org?subject=unsubscribe>" in digest["List-Unsubscribe"]
    html = digest.get_body(("html",)).get_content()

    # Vote from the mail's link: the GET shows a page, its button records the vote.
    vote = re.search(r'Useful\? <a href="([^"]+)"', html).group(1)
    page.goto(vote)
    assert store.votes(store.find_subscriber("ada@example.org").id) == []
    page.get_by_role("button", name="More like this").click()
    page.get_by_role("heading", name="Thank you").wait_for()
    [(paper_id, value)] = store.votes(store.find_subscriber("ada@example.org").id)
    assert value == 1 and paper_id in html
    page.get_by_role("link", name="See all your votes").click()
    assert "▲ more like this" in page.locator(".votes").inner_text()
    shoot(page, "manage")
    assert fits(page, 375)

    # Unsubscribe by the page (bob) ...
    bob_mail = mail_to(recorder, "bob@example.org", "papers on")
    bob_link = re.search(r"<([^>]+)>", bob_mail["List-Unsubscribe"]).group(1)
    other.goto(bob_link)
    assert other.locator("main button").count() == 1
    shoot(other, "unsubscribe")
    other.get_by_role("button", name="Unsubscribe").click()
    other.get_by_role("heading", name="You are unsubscribed").wait_for()

    # ... and by the RFC 8058 one-click POST a mail provider sends (ada): no cookie, no page.
    answer = httpx.post(one_click, content=b"List-Unsubscribe=One-Click",
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200
    assert store.list_subscribers() == []
    page.goto(vote)                                                 # links stop working after unsubscribe
    assert "no longer works" in page.content()
    store.close()


def test_remove_vote_and_pause_keep_keywords_typed_but_not_saved(site, smtp, browser):
    """Each Remove button was a form of its own and Pause answered with the stored profile: keywords
    changed and not saved yet were gone after either click, without a word."""
    base, _, _, db = site
    page = browser.new_page()
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    store = Store(db)
    store.set_vote(store.find_subscriber("ada@example.org").id, "2606.12243", 1)
    store.close()
    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_label("Profile 1 keywords").fill("robots")
    for button in (re.compile("^Remove vote on"), "Pause digests"):
        page.get_by_role("button", name=button).click()
        page.get_by_text("not saved yet").wait_for()
        assert page.get_by_label("Profile 1 keywords").input_value() == "robots"


def test_keywords_typed_on_a_manage_page_stay_readable_after_unsubscribing_in_another_tab(site, smtp, browser):
    """Save on a page whose link stopped working meanwhile answered with the error page alone: the
    keywords typed were gone, and the back button brings back a page that cannot save them."""
    base, *_ = site
    tabs = browser.new_context()
    page = tabs.new_page()
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_label("Profile 1 keywords").fill("robots, \"legged locomotion\"\nsim-to-real")
    other = tabs.new_page()
    other.goto(page.url)
    other.get_by_role("link", name="Unsubscribe").click()
    other.get_by_role("button", name="Unsubscribe").click()
    other.get_by_role("heading", name="You are unsubscribed").wait_for()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("heading", name="This link no longer works").wait_for()
    kept = page.get_by_label("Profile 1 keywords")
    assert kept.input_value() == "robots, \"legged locomotion\"\nsim-to-real" and not kept.is_editable()
    assert page.get_by_role("link", name="Start page").is_visible()


def test_a_failed_preview_shows_one_line_in_the_tester_not_an_error_page(site, browser):
    """The tester box showed whatever /tester answered: a 500 put a whole error page, header and
    all, inside the subscribe form."""
    base, *_ = site
    page = browser.new_page()
    error_page = "<!DOCTYPE html><html><body><header>Paper digests</header><main><h1>Something went wrong</h1>" \
                 "<p>The problem was logged.</p></main></body></html>"
    page.route("**/tester", lambda route: route.fulfill(status=500, content_type="text/html", body=error_page))
    page.goto(base + "/")
    page.get_by_label("Keywords").fill("agents")
    tester = page.locator("#tester")
    tester.get_by_text("The preview did not work just now").wait_for()
    assert tester.locator("h1, header").count() == 0


def test_while_a_slow_preview_is_on_its_way_the_papers_shown_are_dimmed_as_out_of_date(site, browser):
    """A slow server: the box went on showing the papers of the keywords typed before, as if they
    were what the new keywords would send, until the answer came."""
    from playwright.sync_api import expect

    base, *_ = site
    page = browser.new_page()
    page.goto(base + "/")
    page.get_by_label("Keywords").fill("agents")
    tester = page.locator("#tester")
    tester.get_by_role("link", name=re.compile("^EvoArena")).wait_for()
    opacity = "e => getComputedStyle(e).opacity"
    assert tester.evaluate(opacity) == "1"
    held = []
    page.route("**/tester", lambda route: held.append(route))      # answered once released
    page.get_by_label("Keywords").fill("speculative decoding")
    expect(tester).to_have_attribute("aria-busy", "true")
    expect(tester).to_have_css("opacity", "0.5")
    held[0].continue_()
    tester.get_by_role("link", name=re.compile("^VIA-SD")).wait_for()
    expect(tester).to_have_css("opacity", "1")


def test_a_time_zone_the_visitor_typed_survives_a_refused_form(site, browser):
    """The page set the browser's zone again over the one typed, so someone in New York who
    subscribed for Paris and mistyped the time got their digests six hours off."""
    base, *_ = site
    page = browser.new_page(timezone_id="America/New_York")
    sign_up(page, base, "ada@example.org", zone="Europe/Paris", send=False)
    page.locator("#time").evaluate("field => { field.value = '' }")
    page.get_by_role("button", name="Subscribe").click()
    page.locator("#time-error").wait_for()
    assert page.get_by_label("Time zone").input_value() == "Europe/Paris"


def test_back_to_the_form_from_check_your_inbox_keeps_the_time_zone_typed(site, browser):
    """Back to correct the address, the browser put every field back as typed, but the page set the
    zone to the browser's again: someone in New York who subscribed for Paris, sending the form again,
    got their digests six hours off."""
    base, *_ = site
    page = browser.new_page(timezone_id="America/New_York")
    sign_up(page, base, "ada@exmaple.org", zone="Europe/Paris")
    page.get_by_role("heading", name="Check your inbox").wait_for()
    page.go_back()
    page.wait_for_load_state("load")                            # after the deferred scripts
    assert page.get_by_label("Email").input_value() == "ada@exmaple.org"
    assert page.get_by_label("Time zone").input_value() == "Europe/Paris"


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no javascript"])
def test_a_weekly_digest_is_one_choice_in_one_list_so_a_picked_day_is_never_ignored(site, smtp, browser, javascript):
    """"Daily" and "Weekly on" were radio buttons beside a list of days: with JavaScript off, a visitor
    who picked Friday while "Daily" stayed checked was subscribed daily, and no page said so."""
    base, *_ = site
    _, recorder = smtp
    page = browser.new_context(java_script_enabled=javascript).new_page()
    sign_up(page, base, "ada@example.org", send=False)
    page.get_by_label("How often").select_option(label="Weekly on Friday")
    page.get_by_role("button", name="Subscribe").click()
    page.goto(link_in(mail_to(recorder, "ada@example.org", "Confirm").get_content(), "confirm"))
    page.get_by_role("button", name="Confirm subscription").click()
    page.get_by_role("link", name="Manage your subscription").click()
    assert page.get_by_label("How often").input_value() == "weekly:fri"
    assert page.locator("input[type=radio]").count() == 0


def test_on_a_320_px_phone_no_example_term_is_split_over_two_lines(site, browser):
    """"-diffusion" broke after its minus: "MoE, -" then "diffusion", which reads as a hyphenated
    line end, not as the operator that leaves a word out."""
    base, *_ = site
    page = browser.new_page(viewport={"width": 320, "height": 800})
    page.goto(base + "/")
    lines = page.locator("#keywords-help code").evaluate_all("terms => terms.map(t => t.getClientRects().length)")
    assert lines == [1, 1, 1, 1]                # each term on one line


def test_keywords_typed_in_arabic_read_right_to_left_in_their_box(site, browser):
    """The box was left to right whatever was typed: an Arabic term sat at the left, and the comma
    typed after it showed at its start, the wrong end, until the next term came."""
    base, *_ = site
    page = browser.new_page()
    page.goto(base + "/")
    keywords = page.get_by_label("Keywords")
    keywords.fill("تعلم الآلة,")
    assert keywords.evaluate("box => getComputedStyle(box).direction") == "rtl"
    keywords.fill("MoE, تعلم الآلة")
    assert keywords.evaluate("box => getComputedStyle(box).direction") == "ltr"


def test_a_right_to_left_term_quoted_in_an_error_shows_its_quote_mark_where_it_was_typed(site, browser):
    """An Arabic phrase with its closing quote missing: the error quoted it in the English
    sentence's direction, so the quote mark typed at its start (its right) showed at its left end,
    where it reads as the closing one the error asks for."""
    base, *_ = site
    page = browser.new_page()
    sign_up(page, base, "ada@example.org", '"نموذج لغوي')
    error = page.locator("#keywords-error")
    error.wait_for()
    quote, letter = left_edges(error, '"ن')
    assert quote > letter                       # right of the phrase's first letter, as in the box


def test_a_profile_of_one_hebrew_exclusion_is_refused_with_its_minus_where_it_was_typed(site, browser):
    """"profile has only exclusions (-שלום)": the minus, typed at the word's start (its right in
    the box), showed at its left, as if the word were the sentence's next one."""
    base, *_ = site
    page = browser.new_page()
    sign_up(page, base, "ada@example.org", "-שלום")
    error = page.locator("#keywords-error")
    error.wait_for()
    minus, letter = left_edges(error, "-ש")
    assert minus > letter


def test_two_hebrew_terms_a_paper_matched_are_listed_in_the_order_typed(site, browser):
    """"matched: שלום, עולם" read as one right-to-left run: the second term showed first."""
    from notifier.models import Paper

    base, _, _, db = site
    store = Store(db)
    store.ingest([Paper("2606.90001", "שלום עולם ולמידה")], source="hf_daily", digest_day="2026-06-12")
    store.close()
    page = browser.new_page()
    page.goto(base + "/")
    page.get_by_label("Keywords").fill("שלום, עולם")
    why = page.locator("#tester .why")
    why.wait_for()
    first, second = left_edges(why, "ש")[0], left_edges(why, "ע")[0]
    assert first < second


def left_edges(box, text: str) -> list[float]:
    """Where each character of ``text`` shows in ``box`` (its left edge, in px), at its first occurrence."""
    return box.evaluate("""(box, text) => {
        const walk = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
        for (let node; (node = walk.nextNode());) {
            const at = node.textContent.indexOf(text);
            if (at < 0) continue;
            return [...text].map((_, i) => { const r = document.createRange(); r.setStart(node, at + i);
                                            r.setEnd(node, at + i + 1); return r.getBoundingClientRect().x; });
        }
    }""", text)


def test_a_refused_form_quoting_a_long_word_fits_a_320_px_phone(site, browser):
    """The error quotes the term at fault; a word longer than the screen is wide (a compound, a
    chemical name) stretched the form's column to its width, and the whole form scrolled sideways."""
    base, *_ = site
    page = browser.new_page(viewport={"width": 320, "height": 800})
    sign_up(page, base, "ada@example.org", '"Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen')
    page.get_by_role("heading", name="There is a problem").wait_for()
    assert fits(page, 320)


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_a_refused_form_names_every_error_first_and_each_leads_to_its_field(site, browser, javascript):
    """Only the first field in error had the cursor, so a screen reader announced its error alone:
    the second (and third) were found, if at all, by going through the form field by field."""
    from playwright.sync_api import expect

    base, *_ = site
    page = browser.new_context(java_script_enabled=javascript, viewport={"width": 375, "height": 640}).new_page()
    sign_up(page, base, "ada", zone="Mars/Base")
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There are 2 problems"))
    summary.wait_for()
    expect(page.locator("#error-summary")).to_be_focused()     # autofocus lands a moment after the page
    assert summary.get_by_role("link").all_inner_texts() == [
        "Email: 'ada' is not an e-mail address",
        "Time zone: unknown time zone 'Mars/Base' (use an IANA name such as Europe/Berlin)"]
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "timezone"
    expect(page.locator("label[for=timezone]")).to_be_in_viewport()        # what the field is, above it
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="There is a problem").wait_for()
    expect(page.locator("#error-summary")).to_be_focused()


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no javascript"])
def test_a_second_click_on_subscribe_while_the_first_is_on_its_way_mails_once(site, smtp, browser, javascript):
    """A mail server slow to answer: the page stayed as it was, and a second click on Subscribe was a
    second sign-up and a second confirmation mail. The script ignores the second click; without it
    the server mails nothing for the same sign-up sent again."""
    from playwright.sync_api import expect

    base, *_ = site
    _, recorder = smtp
    recorder.hold_at = 1                       # the first mail is answered once released
    page = browser.new_context(java_script_enabled=javascript).new_page()
    sign_up(page, base, "ada@example.org", send=False)
    button = page.get_by_role("button", name="Subscribe")
    box = button.bounding_box()
    button.click(no_wait_after=True)
    assert recorder.held.wait(20)
    page.mouse.click(box["x"] + 5, box["y"] + 5)     # Playwright's click would wait for the page to go
    recorder.release.set()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert len(recorder.snapshot()) == 1
    page.go_back()
    expect(page.locator("button[value=subscribe]")).to_have_text("Subscribe")      # free again


def test_a_form_whose_sending_was_stopped_can_be_sent_again_after_a_while(site, browser):
    """Pressing Esc on a slow sending leaves the page as it was: its button kept saying "Sending…"
    and ignored every click until the page was reloaded."""
    from playwright.sync_api import expect

    base, *_ = site
    page = browser.new_page()
    page.clock.install()
    page.add_init_script("addEventListener('submit', e => e.preventDefault())")    # the page stays: stopped
    page.goto(base + "/")
    page.get_by_role("button", name="Subscribe").click()
    button = page.locator("button[value=subscribe]")
    expect(button).to_have_text("Sending…")
    page.clock.run_for(9000)
    expect(button).to_have_text("Sending…")
    page.clock.run_for(1000)
    expect(button).to_have_text("Subscribe")
    assert button.get_attribute("aria-disabled") is None


def test_the_pages_that_show_a_long_address_fit_a_320_px_phone(site, smtp, browser):
    """An address such as a university's stuck out sideways on "Check your inbox", the confirm
    page and the manage page, so the whole page scrolled sideways on a small phone."""
    base, *_ = site
    _, recorder = smtp
    address = "firstname.middlename.lastname@department.university-example.edu"
    page = browser.new_page(viewport={"width": 320, "height": 800})
    sign_up(page, base, address)
    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert fits(page, 320)
    page.goto(link_in(mail_to(recorder, address, "Confirm").get_content(), "confirm"))
    assert fits(page, 320)
    page.get_by_role("button", name="Confirm subscription").click()
    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_role("heading", name="Your subscription").wait_for()
    assert fits(page, 320)


def test_a_digest_email_with_a_long_url_or_word_in_its_snippet_fits_a_phone(browser):
    """Abstracts carry code links (https://github.com/org/a-long-repository-name) and names
    without spaces; a "why" snippet or author line quoting one must wrap, not widen the mail."""
    from digests import digest, item, paper
    from notifier.models import Evidence
    from notifier.render import render_email

    url = "https://github.com/some-organisation/kv-cache-compression-with-learned-eviction-policies"
    p = paper(0, authors=["Supercalifragilisticexpialidocious" * 3])
    d = digest(papers=[p])
    d.items = [item(p)]
    d.items[0].match.evidence = [Evidence("kv cache", "abstract", [("KV cache", True), (f" code at {url}.", False)])]
    page = browser.new_page()
    page.set_content(render_email(d).html)
    assert url in page.inner_text("body")
    assert fits(page, 375)


def test_the_live_preview_on_the_manage_page_leaves_out_a_paper_marked_not_for_me(site, smtp, browser):
    """The preview as the subscriber types ranked the keywords alone, so a paper they had marked
    "not for me" (which their digest never sends) was shown as what they would get."""
    base, _, _, db = site
    page = browser.new_page()
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    store = Store(db)
    store.set_vote(store.find_subscriber("ada@example.org").id, "2606.13120", -1)     # EvoBrowseComp
    store.close()
    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_label("Profile 1 keywords").fill("agents, memory")
    tester = page.locator("#tester")
    tester.get_by_text("matched: agents, memory").first.wait_for()                # the preview of what was typed
    assert tester.get_by_role("link", name=re.compile("^EvoArena")).count() == 1
    assert tester.get_by_role("link", name=re.compile("^EvoBrowseComp")).count() == 0
    page.goto(base + "/")
    page.get_by_label("Keywords").fill("agents, memory")                    # nobody's votes on the sign-up page
    page.locator("#tester").get_by_role("link", name=re.compile("^EvoBrowseComp")).wait_for()


def test_a_pasted_page_of_keywords_is_told_the_limit_in_the_live_preview(site, browser):
    """A long list pasted into the keywords: the preview's URL grew past what the server takes, and
    the box said "did not work just now. Try again in a moment", which never helps."""
    base, *_ = site
    page = browser.new_page()
    page.goto(base + "/")
    page.get_by_label("Keywords").fill(", ".join(f"term{i}" for i in range(10000)))          # 89 KB
    page.locator("#tester").get_by_text("a profile takes at most 2,000 characters").wait_for()


def test_the_live_preview_shows_papers_for_a_stored_profile_longer_than_the_page_takes(site, smtp, browser):
    """A profile added on the command line beyond 2,000 characters: the page and its Preview button
    showed its papers, but the live preview sent it cut and showed the length refusal instead."""
    from playwright.sync_api import expect

    base, _, _, db = site
    page = browser.new_page()
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    store = Store(db)
    stored = "agents, memory\n" + ", ".join(f"topic{i}" for i in range(300))            # 2,700 characters
    store.update_subscriber(store.find_subscriber("ada@example.org").id, profile=json.dumps([stored]))
    store.close()
    page.get_by_role("link", name="Manage your subscription").click()
    tester = page.locator("#tester")
    with page.expect_response(re.compile("/tester$")):
        page.get_by_label("Most papers per digest").fill("3")
    expect(tester).not_to_have_attribute("aria-busy", "true")
    assert tester.get_by_role("link").count() == 3 and tester.get_by_text("at most 2,000").count() == 0
    page.get_by_label("Add another profile").fill("robots, " + ", ".join(f"term{i}" for i in range(300)))
    tester.get_by_text("a profile takes at most 2,000 characters").wait_for()          # typed anew: refused



def test_typing_in_the_add_another_profile_box_the_live_line_names_it_as_its_label_does(site, smtp, browser):
    """Its line said "Profile 2: close the phrase ...", a number no box on the page had."""
    base, _, _, _ = site
    page = browser.new_page()
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_label("Add another profile").fill('"speculative dec')
    page.locator("#tester").get_by_text('New profile: close the phrase with " to see what it finds.').wait_for()

def in_packets(route) -> None:
    """Sends the browser's request on as a network delivers it, in packets of 1,460 bytes (over
    loopback the browser's one write arrives whole) and answers the browser with the server's
    answer; 502 when the server closed the connection before answering."""
    import http.client
    import socket
    from urllib.parse import urlsplit

    request, url = route.request, urlsplit(route.request.url)
    body = request.post_data_buffer or b""
    headers = {**request.headers, "host": url.netloc, "content-length": str(len(body)), "connection": "close"}
    head = f"{request.method} {url.path}{'?' + url.query if url.query else ''} HTTP/1.1\r\n"
    raw = (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode("latin-1") + body
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for at in range(0, len(raw), 1460):
                sock.sendall(raw[at:at + 1460])
            answer = http.client.HTTPResponse(sock)
            answer.begin()
            route.fulfill(status=answer.status, headers=dict(answer.getheaders()), body=answer.read())
        except OSError:
            route.fulfill(status=502, body="")


@pytest.mark.parametrize("site", ["max_body_bytes = 200000"], indirect=True)
def test_the_live_preview_shows_papers_for_a_stored_profile_too_long_for_a_url(site, smtp, browser):
    """A stored profile over 16 KB URL-encoded (an operator who raised [web] max_body_bytes): Save and
    the Preview button worked, but the live preview sent it in its URL, and uvicorn (h11) refuses
    a request head over 16 KB that comes in more than one packet: "The preview did not work just
    now" instead of papers."""
    from playwright.sync_api import expect

    base, _, _, db = site
    page = browser.new_page()
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    store = Store(db)
    # 102 KB URL-encoded: loopback may still hand a few packets over in one read; not 70 of them
    stored = "agents, memory\n" + ", ".join(f"topic{i}" for i in range(8000))        # 86 KB
    store.update_subscriber(store.find_subscriber("ada@example.org").id, profile=json.dumps([stored]))
    store.close()
    page.get_by_role("link", name="Manage your subscription").click()
    page.route(re.compile("/tester([?]|$)"), in_packets)
    tester = page.locator("#tester")
    with page.expect_response(re.compile("/tester([?]|$)")) as answer:
        page.get_by_label("Most papers per digest").fill("3")
    assert answer.value.status == 200
    expect(tester).not_to_have_attribute("aria-busy", "true")
    assert tester.get_by_role("link").count() == 3 and tester.get_by_text("did not work").count() == 0


def test_a_screen_reader_hears_how_many_papers_the_live_preview_found_not_every_paper(site, browser):
    """The whole tester was a live region: each pause in typing read out up to ten titles and
    their snippets, over whatever the person was typing."""
    from playwright.sync_api import expect

    base, *_ = site
    page = browser.new_page()
    page.goto(base + "/")
    page.get_by_label("Keywords").fill("agents, memory")
    status = page.locator("#tester-status")
    expect(status).to_have_text("From 30 papers of the last 7 days, this profile would have sent 10 papers:")
    assert status.get_attribute("aria-live") == "polite"
    assert page.locator("[aria-live]").count() == 1 and page.locator("#tester [aria-live]").count() == 0


@pytest.mark.parametrize("address", ["", "manage"], ids=["sign-up", "manage"])
def test_on_a_phone_what_the_keywords_would_have_sent_is_in_view_while_typing_them(site, smtp, browser, address):
    """At 375 px the live preview is below the settings and the buttons: typing keywords, a person
    saw no sign of it without scrolling away from the box."""
    from playwright.sync_api import expect

    base, *_ = site
    page = browser.new_context(viewport={"width": 375, "height": 667}).new_page()
    if address:
        subscribe_by_keyboard_and_confirm(page, base, smtp[1], "phone@example.org", "agents")
        page.get_by_role("link", name="Manage your subscription").click()
    else:
        page.goto(base + "/")
    box = page.get_by_label("Profile 1 keywords" if address else "Keywords")
    box.fill("agents, memory")
    said = page.get_by_text("From 30 papers of the last 7 days, this profile would have sent 10 papers:")
    expect(said).to_have_count(2)           # the preview came
    assert any(in_view(page, said.nth(i)) for i in range(2))
    page.get_by_role("link", name="see them").click()
    expect(page.get_by_role("heading", name="What you would have got")).to_be_in_viewport()


def in_view(page, element) -> bool:
    """Is all of ``element`` on screen as the page stands, readable (not a 1 px box for screen readers)?"""
    box, view = element.bounding_box(), page.viewport_size
    return box["height"] > 10 and box["y"] >= 0 and box["y"] + box["height"] <= view["height"]


@pytest.mark.parametrize("typed, said", [('"speculative', 'Close the phrase with " to see what it finds.'),
                                         ("-diffusion", "Add a term to look for, too.")],
                         ids=["a phrase", "an exclusion first"])
def test_a_profile_being_typed_is_said_to_be_unfinished_politely_not_as_an_alert(site, browser, typed, said):
    """Each pause while typing a phrase ('"speculative' before its closing quote) put an alert in the
    preview: a screen reader broke off to read "unbalanced quote" over the person typing; an
    exclusion typed first ("-diffusion") was "profile has only exclusions" in red."""
    from playwright.sync_api import expect

    base, *_ = site
    page = browser.new_page()
    page.goto(base + "/")
    page.get_by_label("Keywords").fill(typed)
    expect(page.locator("#tester-status")).to_have_text(said)
    assert page.get_by_role("alert").count() == 0 and page.locator("#tester .error").count() == 0
    assert page.locator("p.help:has(#tester-status)").evaluate("p => !p.classList.contains('error')")


@pytest.mark.parametrize("typed, mailed", [("user@bücher.example", "user@xn--bcher-kva.example"),
                                           ("usér@example.org", "usér@example.org")])
def test_an_internationalised_address_typed_in_the_form_is_mailed_and_named_as_typed(site, smtp, browser, typed,
                                                                                     mailed):
    """Chromium's e-mail field hands a domain over in its ASCII form: "Check your inbox" named
    user@xn--bcher-kva.example, an address the visitor never typed."""
    base, *_ = site
    page = browser.new_page()
    sign_up(page, base, typed)
    page.get_by_text(f"We sent a message to {typed}.").wait_for()
    page.goto(link_in(mail_to(smtp[1], mailed, "Confirm").get_content(), "confirm"))
    page.get_by_text(f"Start sending paper digests to {typed}?").wait_for()


def test_coming_back_to_the_form_with_the_back_button_previews_the_keywords_it_still_holds(site, browser):
    """The browser refills the form on the way back (a paper's page opened from the tester, then
    Back), but the tester said "Type a few keywords" beside the keywords typed."""
    base, *_ = site
    page = browser.new_page()
    page.goto(base + "/")
    page.get_by_label("Keywords").fill("agents, memory")
    page.locator("#tester").get_by_role("link", name=re.compile("^EvoArena")).wait_for()
    page.goto(base + "/healthz")
    page.go_back()
    assert page.get_by_label("Keywords").input_value() == "agents, memory"
    page.locator("#tester").get_by_role("link", name=re.compile("^EvoArena")).wait_for()


def test_the_slider_is_named_in_words_a_screen_reader_can_say(site, smtp, browser):
    """Its label "Fewer ↔ more papers" was read out as "fewer left right arrow more papers"."""
    base, *_ = site
    page = browser.new_page()
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_role("heading", name="Your subscription").wait_for()          # count() does not wait for the page
    assert page.get_by_role("slider", name="Fewer or more papers", exact=True).count() == 1
    assert "↔" in page.locator("label[for=more]").inner_text()             # what a sighted person sees stays



@pytest.mark.parametrize("host", ["127.0.0.1", "lan.test"], ids=["localhost", "plain-http-lan-host"])
def test_a_form_refused_by_its_check_comes_back_as_typed_only_when_sent_from_this_site(site, browser, host):
    """The browser's own word tells a stale form of this site from one another site posts: the first
    comes back as typed; the second came back as this site's form, filled with the other site's
    address ("What you typed is still below: Subscribe again"). On a plain-http LAN host the browser
    sends no Sec-Fetch-Site, and the stale form got the plain refusal: its Origin says it instead."""
    base = site[0].replace("127.0.0.1", host)
    context = browser.new_context()
    page = context.new_page()
    sign_up(page, base, "ada@example.org", send=False)
    context.clear_cookies()                                  # a browser restart with the page open
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_text("What you typed is still below").wait_for()
    assert page.get_by_label("Email").input_value() == "ada@example.org"
    evil = "http://phish.example/"
    page.route(evil, lambda route: route.fulfill(content_type="text/html", body=f"""
        <form method="post" action="{base}/"><input name="email" value="attacker@example.net">
        <input name="keywords" value="Your account is locked"><button>Go</button></form>"""))
    page.goto(evil)
    page.get_by_role("button", name="Go").click()
    page.get_by_text("It was sent from another website, so nothing was done").wait_for()
    assert "attacker@" not in page.content() and page.get_by_label("Email").count() == 0


def test_the_back_button_returns_to_the_page_after_each_form(site, smtp, browser):
    """The pages after Confirm, Save, Pause, a vote and Unsubscribe answered the POST themselves:
    Back to them (from the page they link to) showed Chrome's "Confirm Form Resubmission"
    (ERR_CACHE_MISS), and a reload sent the form again."""
    from playwright.sync_api import expect

    base, _, _, db = site
    page = browser.new_page(viewport={"width": 375, "height": 800})
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    page.get_by_role("link", name="Manage your subscription").click()
    page.go_back()
    assert page.title() == "You are subscribed · Paper digests"
    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_label("Profile 1 keywords").fill("robots")
    for button, title in (("Save", "Saved: Your subscription"), ("Pause digests", "Paused: Your subscription")):
        page.get_by_role("button", name=button).click()
        expect(page).to_have_title(f"{title} · Paper digests")
        expect(page).to_have_url(re.compile(r"/manage/[^?]+$"))      # "Saved." is said once
        page.get_by_role("link", name="Unsubscribe").click()
        page.wait_for_url("**/unsubscribe/**")
        page.go_back()                          # the page as stored
        assert page.title() == "Your subscription · Paper digests"
        page.reload()
        assert page.title() == "Your subscription · Paper digests"
    assert page.get_by_label("Profile 1 keywords").input_value() == "robots"
    unsubscribe = page.get_by_role("link", name="Unsubscribe").get_attribute("href")
    store = Store(db)
    vote = Signer(SECRET).sign(Token("vote", store.find_subscriber("ada@example.org").id, "2606.12243", 1))
    store.close()
    for link, button, title, onward in ((f"{base}/vote/{vote}", "More like this", "Thank you", "See all your votes"),
                                        (unsubscribe, "Unsubscribe", "You are unsubscribed", "Start page")):
        page.goto(link)
        page.get_by_role("button", name=button).click()
        expect(page).to_have_title(f"{title} · Paper digests")
        page.get_by_role("link", name=onward).click()
        page.go_back()
        assert page.title() == f"{title} · Paper digests"


def test_the_saved_notice_shows_once_and_leaves_no_done_in_the_address_bar(site, smtp, browser):
    """`?done=save` stayed in the address bar: a reload said "Saved." again, and so did a bookmark
    or a link copied from there, days later."""
    from playwright.sync_api import expect

    base, *_ = site
    page = browser.new_page()
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    page.get_by_role("link", name="Manage your subscription").click()
    page.get_by_label("Profile 1 keywords").fill("robots")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text("Saved.")
    expect(page).to_have_title("Saved: Your subscription · Paper digests")
    expect(page).to_have_url(re.compile(r"/manage/[^?]+$"))
    page.reload()
    expect(page).to_have_title("Your subscription · Paper digests")
    assert page.locator(".notice").count() == 0 and page.get_by_label("Profile 1 keywords").input_value() == "robots"


def test_with_javascript_off_back_to_a_preview_shows_it_again_without_resending_the_form(site, browser):
    """The Preview button without JavaScript is a POST whose page was no-store: Back to it from the
    next page was Chrome's "Confirm Form Resubmission" (ERR_CACHE_MISS)."""
    base, *_ = site
    page = browser.new_context(java_script_enabled=False).new_page()
    sign_up(page, base, "ada@example.org", send=False)
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    page.go_back()
    assert page.get_by_label("Keywords").input_value() == "agents"
    assert page.get_by_label("Email").input_value() == "ada@example.org"


def test_back_to_a_refused_form_from_the_next_page_shows_it_again_with_its_errors(site, browser):
    """A refused form was a page no browser kept: Back to it from a paper opened from its preview
    was Chrome's "Confirm Form Resubmission" (ERR_CACHE_MISS), the errors and what was typed gone."""
    base, *_ = site
    page = browser.new_page()
    sign_up(page, base, "ada")
    page.get_by_role("heading", name="There is a problem").wait_for()
    page.goto(base + "/healthz")
    page.go_back()
    page.get_by_role("heading", name="There is a problem").wait_for()
    assert page.get_by_label("Email").input_value() == "ada"


def test_on_a_phone_the_preview_button_shows_the_papers_not_the_top_of_the_same_form(site, browser):
    """Without JavaScript, Preview on a 375 px phone reloaded the page at its top: the papers were
    a screen and more below the buttons, and the button seemed to do nothing."""
    from playwright.sync_api import expect

    base, *_ = site
    page = browser.new_context(java_script_enabled=False, viewport={"width": 375, "height": 800}).new_page()
    page.goto(base + "/")
    page.get_by_label("Keywords").fill("agents")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="What you would have got")).to_be_in_viewport()
    assert page.get_by_role("link", name=re.compile("Agents")).count() > 0


def test_a_keyboard_user_skips_the_preview_papers_to_reach_unsubscribe(site, smtp, browser):
    """From Pause, Tab went through every paper link of the preview (up to 10) before Unsubscribe."""
    base, *_ = site
    page = browser.new_page()
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    page.get_by_role("link", name="Manage your subscription").click()
    assert page.locator("#tester").get_by_role("link").count() >= 3
    page.get_by_role("button", name="Pause digests").focus()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip the papers")
    assert page.evaluate("document.activeElement.textContent") == skip.inner_text()
    assert skip.bounding_box()["width"] > 20                  # seen once it has the focus, hidden otherwise
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.textContent") == "Papers you voted on"    # read out
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Unsubscribe"
    page.keyboard.press("Shift+Tab")                         # the focus gone, hidden again
    assert skip.bounding_box()["width"] <= 1


@pytest.mark.parametrize("way", ["javascript", "no javascript", "after back and forward"])
def test_a_mistyped_address_is_corrected_from_check_your_inbox_with_the_form_as_typed(site, browser, way):
    """"Check your inbox" named the wrong address and offered no way back but the Back button; then
    its "Correct it" opened a blank form with JavaScript off, and after Back then Forward."""
    from playwright.sync_api import expect
    base, *_ = site
    page = browser.new_context(java_script_enabled=way != "no javascript", timezone_id="America/New_York").new_page()
    sign_up(page, base, "ada@exmaple.org", '"kv cache", agents', zone="Europe/Paris", send=False)
    page.get_by_label("How often").select_option(label="Weekly on Friday")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    if way == "after back and forward":
        page.go_back()
        page.go_forward()
    correct = page.get_by_role("link", name="Wrong address? Correct it")
    assert re.fullmatch(r"/sent/[\w-]+/correct", correct.get_attribute("href"))    # no address or keywords in it
    correct.click()
    page.get_by_role("heading", name=re.compile("^Papers that match")).wait_for()
    assert page.get_by_label("Email").input_value() == "ada@exmaple.org"
    assert page.get_by_label("Keywords").input_value() == '"kv cache", agents'
    assert page.get_by_label("How often").input_value() == "weekly:fri"
    assert page.get_by_label("Time zone").input_value() == "Europe/Paris"      # not the browser's again
    expect(page.get_by_label("Email")).to_be_focused()        # autofocus lands a moment after the page
    page.get_by_role("button", name="Preview").click()
    page.locator("#tester").get_by_role("link", name=re.compile("Agents")).first.wait_for()
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_text("We sent a message to ada@example.org").wait_for()
    page.goto(base + "/")                                        # the form itself stays blank
    assert page.get_by_label("Email").input_value() == ""


def test_a_screen_reader_hears_why_the_corrected_form_has_no_keywords_where_the_cursor_starts(site, browser):
    """Keywords too long for the page's cookie: the refilled form says to type them again, above the
    Email field where the cursor starts; a screen reader read out the field alone, and the next
    thing heard was "type at least one term" after Subscribe."""
    from playwright.sync_api import expect

    base, *_ = site
    page = browser.new_page()
    rng = random.Random(7)
    words = ", ".join("".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(3)) for _ in range(380))
    sign_up(page, base, "ada@exmaple.org", words)
    page.get_by_role("link", name="Wrong address? Correct it").click()
    email = page.get_by_label("Email")
    expect(email).to_be_focused()
    expect(email).to_have_accessible_description(re.compile("^Your keywords were too long to keep for this page"))


def test_a_tab_left_on_check_your_inbox_says_subscribed_once_confirmed_in_another(site, smtp, browser):
    """Confirmed from the mail in another tab, the first still said "Check your inbox" and offered to
    correct the address until it was reloaded."""
    from playwright.sync_api import expect

    base, *_ = site
    context = browser.new_context()
    first = context.new_page()
    sign_up(first, base, "ada@example.org")
    first.get_by_role("heading", name="Check your inbox").wait_for()
    mail = context.new_page()
    mail.goto(link_in(mail_to(smtp[1], "ada@example.org", "Confirm").get_content(), "confirm"))
    mail.get_by_role("button", name="Confirm subscription").click()
    mail.get_by_role("heading", name="You are subscribed").wait_for()
    first.bring_to_front()            # headless chromium keeps every tab in view: it says so itself
    first.evaluate("dispatchEvent(new FocusEvent('focus'))")
    expect(first.get_by_role("heading", name="You are subscribed")).to_be_visible()
    assert first.get_by_role("link", name="Wrong address? Correct it").count() == 0


def contrast(page, selector: str) -> float:
    """WCAG's contrast ratio of an element's text colour on its background colour (both opaque)."""
    def luminance(css: str) -> float:
        rgb = [int(c) / 255 for c in re.findall(r"\d+", css)[:3]]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    fg, bg = page.locator(selector).first.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    light, dark = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_words_highlighted_in_the_preview_are_readable_in_light_and_dark(site, browser, scheme):
    """In the dark scheme the highlighted words of a snippet were grey on dark yellow, 3.5:1 (WCAG AA: 4.5)."""
    base, *_ = site
    page = browser.new_page(color_scheme=scheme)
    page.goto(base + "/")
    page.get_by_label("Keywords").fill("agents")
    page.locator("#tester .snippet mark").first.wait_for()
    assert contrast(page, "#tester .snippet mark") >= 4.5


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no javascript"])
@pytest.mark.parametrize("way", ["manage page", "refused form"])
def test_a_page_that_loads_with_keywords_says_what_they_would_have_sent_under_them(site, smtp, browser, way,
                                                                                    javascript):
    """The line under the keywords filled only at the first edit: the manage page, and a form sent
    back refused, loaded with keywords and papers below, and nothing said under the box."""
    base, *_ = site
    page = browser.new_context(java_script_enabled=javascript, viewport={"width": 375, "height": 900}).new_page()
    if way == "manage page":
        subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents, memory")
        page.get_by_role("link", name="Manage your subscription").click()
    else:
        sign_up(page, base, "ada@example.org", "agents, memory", zone="Mars/Olympus")
        page.get_by_role("heading", name="There is a problem").wait_for()
    said = "From 30 papers of the last 7 days, this profile would have sent 10 papers:"
    assert page.locator("#tester-status").inner_text() == said
    assert page.locator("#tester-jump").is_visible()


def gap(page, upper: str, lower: str) -> float:
    """The space in px between the bottom of ``upper`` and the top of ``lower`` (CSS selectors)."""
    return page.evaluate("([u, l]) => document.querySelector(l).getBoundingClientRect().top"
                         " - document.querySelector(u).getBoundingClientRect().bottom", [upper, lower])


def open_form(page, base, recorder, address: str) -> None:
    """The sign-up form, or (``address`` "manage") the manage page of a new subscriber."""
    if address:
        subscribe_by_keyboard_and_confirm(page, base, recorder, "ada@example.org", "agents")
        page.get_by_role("link", name="Manage your subscription").click()
    else:
        page.goto(base + "/")
    page.get_by_role("heading", level=1).wait_for()


GROUPS = {"": ["email", "keywords", "time", "timezone", "frequency", ""],     # "": the buttons
          "manage": ["keywords-1", "keywords-2", "time", "timezone", "frequency", "max_items", "more", ""]}
SIDE_BY_SIDE = [{"time", "timezone"}, {"max_items", "more"}]      # in a row on a wide screen


@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("address", ["", "manage"], ids=["sign-up", "manage"])
def test_the_groups_of_a_form_are_evenly_spaced(site, smtp, browser, width, address):
    """On the manage page "Delivery time" sat right under the line that ends the keywords (0 px, less
    than between a label and its box: it read as part of them), the second profile 23 px under the
    first, and the group after a row of two 32 px under it; the others are 16 px apart."""
    base, *_ = site
    page = browser.new_page(viewport={"width": width, "height": 900})
    open_form(page, base, smtp[1], address)
    groups = GROUPS[address]
    gaps = {f"{upper} / {lower}": gap(page, f".field:has(#{upper})", f"label[for={lower}]" if lower else ".actions")
            for upper, lower in zip(groups, groups[1:]) if {upper, lower} not in SIDE_BY_SIDE}
    assert gaps == dict.fromkeys(gaps, 16)


SEEN_ORDER = """p => { const out = [], walker = document.createTreeWalker(p, NodeFilter.SHOW_TEXT); let n;
  while ((n = walker.nextNode())) for (let i = 0; i < n.length; i++) {
    const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
    const box = r.getBoundingClientRect(); out.push([box.top, box.left, n.data[i]]); }
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(c => c[2]).join(''); }"""


def test_a_right_to_left_address_reads_in_the_sentences_naming_it_as_in_the_box_it_was_typed_in(site, smtp, browser):
    """Guard: each address the pages name is isolated, left to right as in its e-mail box (a <bdi>
    of the address's own direction showed 'דנה@example.org' as 'example.org@דנה'), and the
    sentence's words stay in their places around it."""
    base, *_ = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_up(page, base, "דנה@example.org")
    sentence = page.locator("p", has_text="We sent a message to")
    assert sentence.evaluate(SEEN_ORDER).startswith("We sent a message to הנד@example.org. Follow the link")
    page.goto(link_in(mail_to(smtp[1], "דנה@example.org", "Confirm").get_content(), "confirm"))
    start = page.locator("p", has_text="Start sending")
    assert start.evaluate(SEEN_ORDER) == "Start sending paper digests to הנד@example.org?"


@pytest.mark.parametrize("address", ["", "manage"], ids=["sign-up", "manage"])
def test_on_a_phone_every_control_of_the_form_is_a_finger_high(site, smtp, browser, address):
    """The "Fewer or more papers" slider was 16 px tall, hard to catch with a finger, and the
    "How often" list 41 px beside boxes of 44."""
    base, *_ = site
    page = browser.new_page(viewport={"width": 375, "height": 800})
    open_form(page, base, smtp[1], address)
    heights = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll(
        'form input:not([type=hidden]), form select, form button'))
        .map(e => [e.id || e.textContent, e.getBoundingClientRect().height]))""")
    assert {name: h for name, h in heights.items() if h < 44} == {}


def test_see_them_is_offered_only_where_the_papers_are_below_the_form(site, smtp, browser):
    """At 1280 px the papers are beside the form, and "see them" wrapped onto a line of its own
    under the line saying how many there are."""
    base, *_ = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    open_form(page, base, smtp[1], "manage")
    assert page.locator("#tester-status").is_visible() and not page.locator("#tester-jump").is_visible()
    page.set_viewport_size({"width": 375, "height": 900})
    assert page.locator("#tester-jump").is_visible()


def test_on_a_phone_the_buttons_removing_a_vote_are_a_finger_high(site, smtp, browser):
    """They were 27 px tall beside controls of 44."""
    base, _, _, db = site
    page = browser.new_page(viewport={"width": 375, "height": 800})
    subscribe_by_keyboard_and_confirm(page, base, smtp[1], "ada@example.org", "agents")
    store = Store(db)
    store.set_vote(store.find_subscriber("ada@example.org").id, "2606.12243", 1)
    store.close()
    page.get_by_role("link", name="Manage your subscription").click()
    assert page.get_by_role("button", name=re.compile("^Remove vote on")).bounding_box()["height"] >= 44


# ----------------------------------------------------------------------------- a sent digest as a web page
HOSTILE_TITLE = '<img src=x onerror="window.hit=1"> Agents that read <b>untrusted</b> titles'
LONG_WORD = "Agents" + "Supercalifragilistic" * 5       # a title word wider than a phone


def long_agent_papers(n: int) -> list:
    """``n`` papers about agents with long titles and abstracts: a digest of them is longer than
    Gmail shows (100 KB), so its email leaves the weakest out and links to its page for them."""
    from notifier.models import Paper

    words = "agents plan tool use over long horizons with memory and reflection " * 12
    return [Paper(arxiv_id=f"2606.9{k:04d}", title=f"Agents at scale, part {k}: " + "long-horizon planning " * 12,
                  abstract=f"We study agents. {words} Agents {k}.", authors=[f"Author {k}", "A. Nother"])
            for k in range(n)]


def sent_digest_page(site, smtp, browser, address="ada@example.org", width=1280):
    """A digest sent by `notifier run` to a subscriber whose papers are more than its email holds,
    among them one with markup in its title and one with a word wider than a phone: (its email's
    HTML, a browser page on its "View this digest in your browser" link, the store)."""
    from notifier.models import Paper

    base, cfg, env, db = site
    store = Store(db)
    store.ingest([*long_agent_papers(60), Paper("2606.99990", HOSTILE_TITLE, "Agents, escaped."),
                  Paper("2606.99991", f"{LONG_WORD} in small windows", "Agents on phones.")],
                 source="hf_daily", digest_day="2026-06-12")
    notifier = [sys.executable, "-m", "notifier", "-c", str(cfg)]
    for argv in (["subscribe", address, "-k", "agents", "--max-items", "100", "--threshold", "0.05"], ["run", "--all"]):
        done = subprocess.run(notifier + argv, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    html = mail_to(smtp[1], address, "papers").get_body(("html",)).get_content()
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(re.search(r'<a href="([^"]+)"[^>]*>View this digest in your browser</a>', html).group(1))
    return html, page, store


def test_a_digest_cut_for_size_is_whole_on_its_page_each_paper_with_why_it_matched_titles_as_text(
        site, smtp, browser):
    """One sent digest for what its page must show (each digest takes seconds to send)."""
    html, page, store = sent_digest_page(site, smtp, browser)
    cut = re.search(r"(\d+) more papers, the weakest, were left out: Gmail cuts longer emails short\. "
                    r'<a href="([^"]+)"[^>]*>See all (\d+) in your browser\.</a>', html)
    assert cut, "the email was not cut for size: the test needs longer papers"
    total = int(cut.group(3))
    papers = page.locator("main li")
    assert papers.count() == total == html.count('class="title"') + int(cut.group(1))
    emailed = re.findall(r'class="title"[^>]*>([^<]+)</a>', html)
    on_page = papers.locator("a.paper").all_inner_texts()
    assert on_page[:len(emailed)] == [t.strip() for t in emailed]          # the email's papers first, in its order
    for k in range(total):
        assert "agents" in papers.nth(k).locator(".why").first.inner_text()
    assert page.get_by_role("link", name=HOSTILE_TITLE).count() == 1       # a title with markup: text
    assert page.locator("main img, main b").count() == 0 and page.evaluate("window.hit") is None
    page.goto(cut.group(2))                                                 # "See all 62": the same page
    assert page.locator("main li").count() == total
    for width in (375, 320):        # a title with a word wider than the screen, 62 papers' links and why lines wrap
        page.set_viewport_size({"width": width, "height": 900})
        assert page.get_by_role("link", name=re.compile(LONG_WORD)).is_visible()
        assert fits(page, width), width
    shoot(page, "digest")
    store.close()


def test_votes_from_the_digest_page_are_recorded_and_said(site, smtp, browser):
    _, page, store = sent_digest_page(site, smtp, browser)
    page_url, voted = page.url, {}
    for k, label in [(1, "More like this"), (2, "Not for me")]:
        paper = page.locator("main li").nth(k)
        title = paper.locator("a.paper").inner_text()
        paper.get_by_role("link", name=label).click()
        page.get_by_role("button", name=label).click()
        page.get_by_role("heading", name="Thank you").wait_for()
        assert "Noted. Your next digests take it into account." in page.inner_text("main")
        assert title in page.inner_text("main")
        voted[title[:40]] = 1 if label == "More like this" else -1
        page.goto(page_url)                                   # back to the digest: the vote is shown there
        assert f"You said: {label}." in page.locator("main li").nth(k).inner_text()
    assert "You said" not in page.locator("main li").nth(0).inner_text()
    votes = store.votes(store.find_subscriber("ada@example.org").id)
    papers = store.get_papers([paper_id for paper_id, _ in votes])
    assert {papers[paper_id].title[:40]: vote for paper_id, vote in votes} == voted
    store.close()


def emailed(html: str) -> list[str]:
    """A digest email's day headings and paper titles, top to bottom."""
    return [h or t.strip() for h, t in re.findall(r'class="day"[^>]*>([^<]+)<|class="title"[^>]*>([^<]+)</a>', html)]


def test_a_weekly_subscribers_live_preview_lists_papers_as_their_weekly_email_does(site, browser):
    """The manage page ranked the week's papers best first, whatever their day; the weekly email
    lists them under the day they were listed, newest day first, the week's three best first."""
    from notifier.models import Paper

    base, cfg, env, db = site
    store = Store(db)
    for day, k in [("2026-06-10", 1), ("2026-06-10", 2), ("2026-06-11", 3)]:      # the week's best, days before
        store.ingest([Paper(f"2606.9000{k}", f"Agents, agents and more agents {k}", "Agents for agents.")],
                     source="hf_daily", digest_day=day)
    store.ingest([Paper("2606.90004", "Planning in warehouses", "Robots plan routes; agents too.")],
                 source="hf_daily", digest_day="2026-06-10")                 # weaker than Friday's best
    notifier = [sys.executable, "-m", "notifier", "-c", str(cfg)]
    subscribe = subprocess.run(notifier + ["subscribe", "ada@example.org", "-k", "agents", "--frequency", "weekly:fri",
                                          "--max-items", "40"],
                               env=env, capture_output=True, text=True, timeout=60)
    assert subscribe.returncode == 0, subscribe.stderr
    email = subprocess.run(notifier + ["preview", "ada@example.org", "--format", "html"], env=env,
                           capture_output=True, text=True, timeout=60).stdout
    order = emailed(email)
    assert order[:4] == ["The week's best", *(f"Agents, agents and more agents {k}" for k in (1, 2, 3))]
    assert order.index("Friday 12 June") < order.index("Wednesday 10 June") < order.index("Planning in warehouses")
    page = browser.new_page()
    page.goto(f"{base}/manage/{Signer(SECRET).sign(Token('manage', store.find_subscriber('ada@example.org').id))}")
    tester = page.locator("#tester")
    shown = tester.locator("h3, li > a").all_inner_texts()
    assert [t.strip() for t in shown] == order
    page.get_by_label("How often").select_option("daily")                   # as the form says, not as stored
    tester.locator("h3").first.wait_for(state="detached")
    store.close()
