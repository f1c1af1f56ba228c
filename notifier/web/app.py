"""The Starlette app of `notifier web`. Every link a mail carries answers GET with a page and
changes nothing; the change is that page's POST (mail scanners and link previews follow links).
The one exception is RFC 8058: a POST of ``List-Unsubscribe=One-Click`` to the unsubscribe link
unsubscribes at once, with no cookie and no page.

Every store call (SQLite, PostgreSQL: blocking I/O) runs in the thread pool (``run_in_threadpool``),
as the tester does: on the event loop one slow query would stall every other request. A
``transaction()`` block runs whole in one pool call (its session belongs to the thread that opened it)."""
from __future__ import annotations

import calendar
import contextlib
import html
import json
import re
import secrets
import threading
import logging
from datetime import datetime
from typing import Callable
from urllib.parse import urlencode, urlsplit

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from notifier.clock import as_utc
from notifier.config import NO_FILE, Config, read_secret, setting
from notifier.errors import ConfigError, StoreBusy
from notifier.logs import event
from notifier.outbox import State
from notifier.subscribers import WEEKDAYS, canonical_address, stored_profiles
from notifier.web import inbox, security
from notifier.web.access import AccessLog, loggable
from notifier.web.forms import (Fields, address_errors, check, default_more, preview_settings, quotes_isolated,
                                readable_address, readable_title)
from notifier.web.links import digest_links, manage_url, unsubscribe_url, url
from notifier.web.ratelimit import MovingWindow
from notifier.web.tester import MAX_PROFILE_CHARS, Tester, TesterResult, still_typing
from notifier.store import BUSY_TIMEOUT_MS
from notifier.web.tokens import Signer, Token, TokenError

log = logging.getLogger("notifier.web")
UNSUBSCRIBE_DAYS = 365        # an unsubscribe link in an old mail keeps working for a year
TESTER_LIMIT = "120/minute"   # live previews per browser (one per pause in typing), and per client without a cookie
ROOM_LIMIT = "360/minute"     # live previews per client in all: a room behind one address (NAT) typing at once; a
                              # script taking a new cookie each time gets no more. 6 a second at 107 ms each (8,000
                              # papers, bench_web) leave the tester's one lock free a third of the time
RESENT_LIMIT = "1/minute"     # one mail per sign-up (address and settings) in this while
VOTE_LABELS = {True: "more like this", False: "not for me"}
FILE_OWNED = ("Your keywords and schedule are set in this service’s configuration, so they cannot be changed "
              "here: ask the person who runs it. Pausing, votes and unsubscribing work here.")
ELSEWHERE = ("Not saved: your subscription was changed elsewhere (in another tab, say) after this page was opened. "
             "What you typed is still below: Save again to store it instead, or open your link again to see what "
             "is stored now.")
UNCHECKED = {     # why the CSRF check refused a form, by whether the browser sent the form's cookie
    True: "this form came from an older page (one opened before the service restarted, say), so it could not "
          "be checked",
    False: "your browser sent the form without this site’s cookie, which it needs (cleared since the page was "
           "opened, or blocked: then allow cookies for this site)"}
CSRF_REFUSED_SCOPE = "notifier.csrf_refused"     # set on a form the CSRF check refused (create_app)
REFILLED_FORMS = re.compile(r"/|/manage/[^/]+")  # forms that come back as typed when it refuses them
SLACK_HOOKS = "https://hooks.slack.com"     # where Slack's response_url points
LOCK_TIMEOUT_MS = BUSY_TIMEOUT_MS   # PostgreSQL: a page's write waits for a row another process holds as long as on SQLite
BUSY_RETRY_SECONDS = 10       # Retry-After when another process held the database past its busy timeout
SLACK_BUSY = "the service is busy for a moment; click the button again in a few seconds"
SWITCHED = {"pause": "Paused: no digests until you resume.", "resume": "Resumed.",   # manage actions that
            "clear_vote": "Vote removed."}                                                # save nothing typed
DONE = {"save": "Saved.", **SWITCHED}       # what the page after a manage action says (?done=)
ICON_CACHE_SECONDS = 7 * 86400   # how long a browser keeps /favicon.ico before asking again
NOT_KEPT = {     # what the refilled form says of what the "Check your inbox" cookie could not hold (inbox.Sent)
    "keywords": "Your keywords were too long to keep for this page: type them again, or go back to the form you "
                "sent, which holds them.",
    "settings": "This page is from before this service was updated, so it kept only your address: type your "
                "keywords again, and check the settings below."}
SENT_UNKNOWN = ("This page names the address we mailed only in the browser that subscribed, for {hours} hours. If "
                "you subscribed, look in your inbox for our message and follow its link to confirm.")


class Gone(Exception):
    """A link for a subscriber who has unsubscribed, or a confirmation already used."""


class PaperGone(Gone):
    """A vote link for a paper this service no longer stores."""


class Confirmed(Exception):
    """A confirmation link used already, opened again by someone still subscribed (the back
    button, or the mail's link clicked again before any digest came); its argument is that subscriber."""


class WebApp:
    def __init__(self, config: Config, env: dict | None = None, clock: Callable[[], datetime] | None = None):
        from notifier.context import Context
        from notifier.render import _env
        from notifier.store import Store

        secret = read_secret(config.web.secret_env, env)
        if not secret:
            raise ConfigError(f"{setting(config, 'web.secret_env')}: the signing key ${config.web.secret_env} is not set "
                              f"(environment or systemd credential): `export {config.web.secret_env}=$(openssl rand -hex 32)`")
        self.config, self.env, self.secret = config, env, secret
        self.signer = Signer(secret)
        self.base = (config.web.public_url or config.general.public_url).rstrip("/")
        self.root = urlsplit(self.base).path      # "/digests" for a public_url under a path; '' at the host's root
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base))      # what browsers send as Origin
        self.https = self.base.startswith("https://")     # cookies only over TLS, and HSTS
        if not self.base:       # a mailed '/confirm/…' has no host: nobody could ever confirm
            raise ConfigError(f"{setting(config, 'web.public_url')} is not set: every link the pages "
                              "mail starts with it, e.g. \"https://papers.example.org\" (\"http://127.0.0.1:8080\" "
                              f"to try them on this machine){'' if config.path else '; ' + NO_FILE}")
        self.store = Store(config.database_url, lock_timeout_ms=LOCK_TIMEOUT_MS)
        self.ctx = Context(config=config, store=self.store)
        if clock:
            self.ctx.clock = clock
        self.tester = Tester(self.ctx)
        self.limiter = MovingWindow(lambda: self.ctx.now().timestamp())
        self.templates = _env(config.general.template_dir or None)
        self.templates.filters["quotes_isolated"] = quotes_isolated     # every error message the pages show
        self.templates.filters["readable_title"] = readable_title       # every paper title the pages show
        self.slack_secret = read_secret(config.web.slack_signing_secret_env, env)
        api = urlsplit(config.slack.api_url)
        self.slack_reply_origins = {SLACK_HOOKS, f"{api.scheme}://{api.netloc}"}
        self.default_more = default_more(config.matching.threshold)

    def close(self) -> None:
        self.store.close()

    # -- pages ------------------------------------------------------------------------------
    def page(self, request: Request, name: str, status: int = 200, **values) -> HTMLResponse:
        token = request.scope.get("csrftoken")
        text = self.templates.get_template(f"web/{name}.html.j2").render(
            csrftoken=token() if token else "", root=self.root, request_path=self.root + request.url.path, **values)
        page = HTMLResponse(text, status_code=status)
        return kept_for_back(page) if request.method == "POST" else page

    def message(self, request: Request, title: str, text: str, status: int = 200, **values) -> HTMLResponse:
        return self.page(request, "message", status, title=title, text=text, **values)

    def link(self, path: str, token: Token) -> str:
        return url(self.base, path, self.signer.sign(token))

    def allowed(self, limit: str, *keys: str) -> bool:
        return self.limiter.hit(limit, *keys)

    def too_many(self, request: Request, limit: str, *keys: str) -> Response:
        """429 saying when a request is allowed again (the oldest in the moving window leaves it)."""
        import math

        wait = max(1, math.ceil(self.limiter.retry_after(limit, *keys)))
        when = f"{wait} seconds" if wait < 90 else f"{math.ceil(wait / 60)} minutes"
        page = self.message(request, "Too many requests", f"Please try again in {when}.", 429)
        page.headers["Retry-After"] = str(wait)
        return page

    def counted_as(self, request: Request, mails: bool) -> list[tuple[str, ...]]:
        """The per-client limits a request counts against, each (limit, *key): ``limit_per_client``
        for a form that mails; one that comes back on the page (a Preview, a form refused for a typo)
        mails nothing and counts among the live previews, which still slow a script that sends bad
        forms without end. Refused forms counted against the 20 an hour: a room on one network,
        signing up after a talk and fixing a typo or two each, was told to wait an hour."""
        if mails:
            return [(self.config.web.limit_per_client, "client", self.client(request))]
        return self.previews_of(request)

    def previews_of(self, request: Request) -> list[tuple[str, ...]]:
        """The live-preview limits: TESTER_LIMIT for each browser (its CSRF cookie; the requests
        without one share their address's), within ROOM_LIMIT for its address. Counted by address
        alone, one person typing fast behind a university's NAT used up the room's 120 a minute."""
        client = self.client(request)
        return [(TESTER_LIMIT, "tester", client, request.cookies.get(security.CSRF_COOKIE, "")),
                (ROOM_LIMIT, "tester", client)]

    def over_limit(self, limits: list[tuple[str, ...]]) -> tuple[str, ...] | None:
        """Counts a request against each of ``limits`` ((limit, *key)), if all allow it now; else
        counts it against none and gives the first that refused it."""
        for at, (limit, *key) in enumerate(limits):
            if not self.allowed(limit, *key):
                for counted in limits[:at]:
                    self.limiter.forget(*counted)
                return (limit, *key)
        return None

    def client(self, request: Request) -> str:
        return request.client.host if request.client else "unknown"

    async def run_tester(self, f: Fields, sub=None) -> TesterResult:
        """What ``f``'s profiles would send; for a subscriber (the manage page) with their votes
        applied, as their digest applies them. A setting Save refuses is said instead."""
        settings, refused = preview_settings(f)
        if refused:
            return TesterResult(error=refused, ran=True)
        return await run_in_threadpool(self.tester.run, f.texts(), subscriber_id=sub.id if sub else 0,
                                       kept=stored_profiles(sub), weekly=f.frequency == "weekly", **settings)

    async def tester_for_refused(self, f: Fields, errors: dict, sub=None) -> TesterResult:
        """The tester beside a refused form: the profile's error, else what it would send (a
        wrong time takes nothing from the preview)."""
        if "keywords" in errors:
            return TesterResult(error=errors["keywords"], ran=True)
        return await self.run_tester(f, sub)

    # -- tokens -----------------------------------------------------------------------------
    def verify(self, purpose: str, token: str, days: float):
        return self.signer.verify(purpose, token, int(days * 86400))

    def subscriber_for(self, purpose: str, token: str, days: float | None = None):
        """The subscriber a manage/vote link is for; Gone once they unsubscribed, and for good: a
        link from before an unsubscribe does not open the subscription started after it (the
        store restarts ``created_at`` then), whose digests carry links of their own."""
        t = self.verify(purpose, token, days or self.config.web.link_days)
        sub = self.store.find_subscriber(t.subject)
        if sub is None or not sub.active:
            raise Gone("you have unsubscribed, so this link no longer works")
        if t.issued < as_utc(sub.created_at).replace(microsecond=0):      # signed in whole seconds
            raise Gone("this link is from before you unsubscribed, so it no longer works for the subscription "
                       "you started again since; the links in your new digests do")
        return sub, t

    # -- subscribe ----------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        return self.page(request, "subscribe", fields=self.blank(), errors={}, result=TesterResult(),
                         browser_zone=True, **self.choices())

    def blank(self) -> Fields:
        """The sign-up form as it first shows (the page's script puts the browser's zone in it)."""
        return Fields(timezone=self.config.schedule.timezone, default_more=self.default_more)

    def choices(self) -> dict:
        import calendar

        from notifier.subscribers import WEEKDAYS

        days = dict(zip(WEEKDAYS, calendar.day_name))        # {"mon": "Monday", ...}
        return {"weekdays": days, "slack": bool(self.config.web.slack_targets), "max_chars": MAX_PROFILE_CHARS}

    async def subscribe(self, request: Request) -> Response:
        form = await request.form()
        f = request.state.typed = Fields.from_form(form, self.default_more)     # for the error page, should it fail
        refused = request.scope.get(CSRF_REFUSED_SCOPE)
        preview = form.get("action") == "preview" or refused      # a refused form shows, as a preview does
        settings, errors = ({}, {}) if preview else check(f, self.config.web.slack_targets)
        over = self.over_limit(self.counted_as(request, mails=not (preview or errors)))
        if over:
            return self.too_many(request, *over)
        if preview:
            return self.page(request, "subscribe", 403 if refused else 200, fields=f, errors={},
                             notice=unchecked(request, "Not sent", "Subscribe") if refused else "",
                             result=await self.run_tester(f), **self.choices())
        if errors:
            return self.page(request, "subscribe", 400, fields=f, errors=errors,
                             result=await self.tester_for_refused(f, errors), **self.choices())
        return await self.mail_signup(request, f, settings)

    async def mail_signup(self, request: Request, f: Fields, settings: dict) -> Response:
        """Mails a checked sign-up once: the same one sent again while its mail is fresh (a double
        click, a re-sent form; JavaScript stops these in the browser, this without it) is answered
        "Check your inbox" with nothing mailed and no count against the address's limit, nor the
        client's (``subscribe`` counted it there as a mail). The same settings after the address was
        confirmed (or unsubscribed) are a new mail."""
        limit, address = self.config.web.limit_per_address, canonical_address(f.email)
        known = await run_in_threadpool(self.store.find_subscriber, address)
        subscriber = known if known is not None and known.active else None
        resent = ("mailed", address, str(subscriber is not None), json.dumps(settings, sort_keys=True))
        if not self.allowed(RESENT_LIMIT, *resent):
            self.limiter.forget(*self.counted_as(request, mails=True)[0])
            return self.to_sent(f, subscriber is not None)
        if not self.allowed(limit, "address", address):
            self.limiter.forget(RESENT_LIMIT, *resent)
            return self.too_many(request, limit, "address", address)
        failed = await run_in_threadpool(self.start_signup, f.email, settings, subscriber)
        if failed is not None:
            self.limiter.forget(RESENT_LIMIT, *resent)       # not mailed: Subscribe again tries again
            return await self.not_sent(request, f, failed)
        return self.to_sent(f, subscriber is not None)

    def to_sent(self, f: Fields, subscribed: bool) -> Response:
        """The redirect to "Check your inbox": its URL is a random name for this sign-up, carrying no
        address; the sign-up as typed goes signed in a cookie sent to that URL (and the correction
        page under it) alone, so two sign-ups in two tabs each keep their own."""
        where = f"{self.root}/sent/{secrets.token_urlsafe(16)}"
        answer = RedirectResponse(where, status_code=303)
        answer.set_cookie(inbox.COOKIE, inbox.cookie(self.signer, f, subscribed), path=where, secure=self.https,
                          max_age=self.config.web.confirm_hours * 3600, httponly=True, samesite="lax")
        return answer

    async def not_sent(self, request: Request, f: Fields, error: str) -> Response:
        """The mail server did not take the sign-up's mail: the form back as typed, with the address
        refused when the server cannot send to such an address at all (SMTPUTF8 for 'usér@…'), else
        "try again in a while" above it."""
        beyond = next((c for c in canonical_address(f.email) if not c.isascii()), "")
        if beyond and "SMTPUTF8" in error:          # the email channel's reason, as smtplib gives it
            errors = {"email": f"this service’s mail server cannot send to an address with letters such as "
                               f"“{beyond}” before the @; use another address"}
            return self.page(request, "subscribe", 400, fields=f, errors=errors, result=await self.run_tester(f),
                             **self.choices())
        notice = Markup("Not sent: we could not send a message to {} just now, so there is no link to follow yet. "
                        "Check the address, or Subscribe again in a while: what you typed is still below."
                        ).format(readable_address(f.email))
        return self.page(request, "subscribe", 503, fields=f, errors={}, notice=notice,
                         result=await self.run_tester(f), **self.choices())

    def signed_up(self, request: Request) -> inbox.Sent | None:
        """The sign-up "Check your inbox" answers, from the cookie ``to_sent`` set; None without
        it (another browser, a link from before the cookie, one past its hours, a forged one)."""
        try:
            return inbox.read(self.signer, request.cookies.get(inbox.COOKIE, ""), self.config.web.confirm_hours * 3600,
                              self.blank())
        except TokenError:
            return None

    def confirmed_since(self, signup: inbox.Sent):
        """The subscriber a sign-up that mailed a link to confirm (the address was not subscribed
        then) became since, in another tab or on a phone (then there is nothing to correct); else None."""
        if signup.subscribed:
            return None
        sub = self.store.find_subscriber(canonical_address(signup.fields.email))
        return sub if sub is not None and sub.active else None

    def first_digest(self, sub) -> str:
        """When a new subscriber's first digest comes, in their settings. "At your delivery time"
        left someone whose keywords matched nothing that day waiting for a mail that never came, and
        wondering whether the sign-up worked: a day with nothing that matches sends nothing."""
        weekly = sub.frequency == "weekly"
        day = calendar.day_name[WEEKDAYS.index(sub.weekday or "mon")]       # no weekday: Monday, as schedule.py reads it
        days = f" on {day}s" if weekly else ""
        quiet = "" if self.config.general.send_empty else (
            f" if new papers match your keywords; a {'week' if weekly else 'day'} without any sends nothing")
        return f"Your first digest comes at {sub.delivery_time} ({sub.timezone}){days}{quiet}."

    async def sent(self, request: Request) -> Response:
        """The answer to a sign-up, a page of its own (POST-redirect-GET): a reload, or going back
        to it, shows it again and mails nothing. It names the address from its cookie (signed: nobody
        can make this site say it mailed an address of their choosing), and says so once the address
        is confirmed (inbox.js asks again when the tab is back in view). Its link to correct the form
        carries neither the address nor the keywords: the form is refilled from the cookie."""
        hours, signup = self.config.web.confirm_hours, self.signed_up(request)
        if signup is None:
            return self.message(request, "Check your inbox", SENT_UNKNOWN.format(hours=hours), link=f"{self.root}/",
                                link_text="Start page")
        address = readable_address(signup.fields.email)
        sub = await run_in_threadpool(self.confirmed_since, signup)
        if sub is not None:
            confirmed = Markup("{} is confirmed. {} Every digest links to a page where you change your keywords or "
                               "unsubscribe.").format(address, self.first_digest(sub))
            return self.message(request, "You are subscribed", confirmed)
        return self.message(request, "Check your inbox",
                            Markup("We sent a message to {}. Follow the link in it to confirm; nothing is sent to you "
                                   "before that. The link works for {} hours.").format(address, hours), rechecks=True,
                            link=f"{self.root}{request.url.path}/correct", link_text="Wrong address? Correct it")

    async def correct(self, request: Request) -> Response:
        """The sign-up form as "Check your inbox" sent it, to correct and send again; in another
        browser (no cookie) the blank form, and once the address is confirmed its page that says so."""
        signup, sent_page = self.signed_up(request), self.root + request.url.path.removesuffix("/correct")
        if signup is None:
            return RedirectResponse(f"{self.root}/", status_code=303)
        if await run_in_threadpool(self.confirmed_since, signup) is not None:
            return RedirectResponse(sent_page, status_code=303)
        return self.page(request, "subscribe", fields=signup.fields, errors={}, correcting=True,
                         notice=NOT_KEPT.get(signup.lost, ""), browser_zone=signup.lost == "settings",
                         result=await self.run_tester(signup.fields), **self.choices())

    def start_signup(self, address: str, settings: dict, subscriber) -> str | None:
        """A confirmation link for a new (or unsubscribed) address; for one already subscribed
        (``subscriber``, the address's active one), a note with their manage link. The visitor sees
        the same answer either way. -> None when the message was sent, else why not (the mail server
        refused or was down; the visitor is told)."""
        if subscriber is not None:
            return self.send(address, "You are already subscribed to paper digests",
                             "Someone (probably you) asked to subscribe this address, which is already subscribed.\n\n"
                             f"Change your keywords, time or frequency here:\n{manage_url(self.base, self.signer, subscriber.id)}\n\n"
                             "If it was not you, ignore this message.")
        signup_id = self.store.add_signup(address, settings)
        link = self.link("confirm", Token("confirm", signup_id))
        return self.send(address, "Confirm your paper digest subscription",
                         f"Confirm your subscription to personalised paper digests:\n{link}\n\n"
                         f"The link works once, for {self.config.web.confirm_hours} hours. "
                         "If you did not ask for this, ignore this message: nothing will be sent.")

    def send(self, address: str, subject: str, text: str) -> str | None:
        """Mails ``address`` (an internationalised domain as its ASCII form, which any mail server
        takes). -> None when sent, else why not."""
        from notifier.channels import send_text

        result = send_text(self.config, canonical_address(address), subject, text, self.env)
        level = logging.INFO if result.state == State.SENT else logging.ERROR
        event(log, f"web mail {result.state}", level, to=address, subject=subject, error=result.error)
        return None if result.state == State.SENT else result.error or result.state

    # -- a new link to one's settings ------------------------------------------------------------
    async def link_page(self, request: Request) -> Response:
        return self.page(request, "link", fields=Fields(), errors={}, slack=bool(self.config.web.slack_targets))

    async def send_link(self, request: Request) -> Response:
        """Mails a subscriber their manage link (theirs expired with their last digest, say after
        a long pause). The same answer whether the address is subscribed or not; nothing is sent
        to one that is not."""
        f = Fields.from_form(await request.form(), self.default_more)
        errors = address_errors(f.email, self.config.web.slack_targets)
        limits = self.counted_as(request, mails=not errors)
        limits += [] if errors else [(self.config.web.limit_per_address, "address", canonical_address(f.email))]
        over = self.over_limit(limits)
        if over:
            return self.too_many(request, *over)
        if errors:
            return self.page(request, "link", 400, fields=f, errors=errors, slack=bool(self.config.web.slack_targets))
        failed = await run_in_threadpool(self.mail_link, f.email)
        if failed is not None:
            return await self.not_sent(request, f, failed)
        return self.message(request, "Check your inbox", Markup("If {} is subscribed here, we sent it a link to your "
                            "settings. The link works for {} days.").format(readable_address(f.email),
                                                                            self.config.web.link_days))

    def mail_link(self, address: str) -> str | None:
        """The manage link to a subscriber; nothing to anyone else. -> None, or why it was not sent."""
        sub = self.store.find_subscriber(canonical_address(address))
        if sub is None or not sub.active:
            return None
        return self.send(address, "Your paper digest settings",
                         "Someone (probably you) asked for a link to the settings of your paper digests:\n"
                         f"{manage_url(self.base, self.signer, sub.id)}\n\nIf it was not you, ignore this message.")

    # -- confirm ------------------------------------------------------------------------------
    def signup_for(self, token: str):
        t = self.verify("confirm", token, self.config.web.confirm_hours / 24)
        signup = self.store.get_signup(t.subject)
        if signup is None:
            raise TokenError("this confirmation link is not valid")
        if signup.confirmed_at is not None:
            raise self.used_up(signup.address)
        return signup

    def used_up(self, address: str) -> Exception:
        sub = self.store.find_subscriber(canonical_address(address))
        if sub is not None and sub.active:
            return Confirmed(sub)
        return Gone("this confirmation link was used already; to subscribe again, use the start page")

    async def confirm_page(self, request: Request) -> Response:
        signup = await run_in_threadpool(self.signup_for, request.path_params["token"])
        return self.page(request, "action", title="Confirm your subscription",
                         text=Markup("Start sending paper digests to {}?").format(readable_address(signup.address)),
                         button="Confirm subscription")

    async def confirm(self, request: Request) -> Response:
        """Confirmed: the page saying so is a GET of its own (post/redirect/get), so that Back from
        the manage page it links to returns to it, where Chrome said "Confirm Form Resubmission"."""
        sub = await run_in_threadpool(self.confirm_signup, request.path_params["token"])
        return RedirectResponse(f"{self.root}/subscribed/{self.signer.sign(Token('manage', sub.id))}", status_code=303)

    async def subscribed(self, request: Request) -> Response:
        sub, _ = await run_in_threadpool(self.subscriber_for, "manage", request.path_params["token"])
        return self.message(request, "You are subscribed",
                            f"{self.first_digest(sub)} Every digest links to a page where you change your "
                            "keywords or unsubscribe.",
                            link=manage_url(self.base, self.signer, sub.id), link_text="Manage your subscription")

    def confirm_signup(self, token: str):
        signup = self.signup_for(token)
        with self.store.transaction():      # the link is used up only if the subscriber is there
            if self.store.confirm_signup(signup.id) is None:
                raise Gone("this confirmation link was used already")
            sub = self.activate(json.loads(signup.settings))
        event(log, "web subscribed", subscriber=sub.address)
        return sub

    def activate(self, settings: dict):
        from notifier.subscribers import new_subscriber, settings_of

        wanted = new_subscriber(origin="web", **settings)
        existing = self.store.find_subscriber(wanted.address)
        if existing is None:
            return self.store.add_subscriber(wanted)
        return self.store.update_subscriber(existing.id, active=True, paused=False,
                                            **settings_of(wanted, without=("name",)))

    # -- manage -------------------------------------------------------------------------------
    async def manage_page(self, request: Request) -> Response:
        sub, _ = await run_in_threadpool(self.subscriber_for, "manage", request.path_params["token"])
        f = Fields.of_subscriber(sub, self.default_more)
        request.state.changed = DONE.get(request.query_params.get("done", ""), "")    # the change just made,
        votes = await run_in_threadpool(self.store.votes, sub.id)     # should the database be busy now
        request.state.changed = done_notice(request.query_params, sub, dict(votes))    # as long as it holds
        return await self.manage_view(request, sub, f, {}, await self.run_tester(f, sub),
                                      notice=request.state.changed, votes=votes)

    async def manage_view(self, request: Request, sub, f: Fields, errors: dict, result: TesterResult,
                          status: int = 200, notice: str = "", votes: list | None = None) -> Response:
        """The manage page; ``votes``: the subscriber's (``Store.votes``), when read already."""
        voted = await run_in_threadpool(self.voted, sub.id, votes)
        return self.page(request, "manage", status, sub=sub, address=readable_address(sub.address), fields=f,
                         errors=errors, result=result, voted=voted, notice=notice, outcome=outcome(notice),
                         stored=stored_profiles(sub),
                         file_owned=FILE_OWNED if sub.origin == "config" and notice != FILE_OWNED else "",
                         unsubscribe=unsubscribe_url(self.base, self.signer, sub.id), **self.choices())

    def voted(self, subscriber_id: int, votes: list | None = None) -> list:
        """(paper, vote) of the subscriber's votes (read here unless given) on papers still stored."""
        votes = self.store.votes(subscriber_id) if votes is None else votes
        papers = self.store.get_papers(p for p, _ in votes)
        return [(papers[p], v) for p, v in votes if p in papers]

    async def manage(self, request: Request) -> Response:
        form = await request.form()
        request.state.typed = Fields.from_form(form, self.default_more)   # for the error page, should the link fail
        sub, _ = await run_in_threadpool(self.subscriber_for, "manage", request.path_params["token"])
        if request.scope.get(CSRF_REFUSED_SCOPE):
            return await self.refused(request, sub, form)
        action = "clear_vote" if form.get("clear_vote") else form.get("action", "save")
        if action in SWITCHED:
            sub = await run_in_threadpool(self.switch, sub, action, form.get("clear_vote", ""))
            request.state.changed = SWITCHED[action]      # told so, should the page after it find the database busy
            f = self.edits(form, sub)
            unsaved = self.unsaved(f, sub)
            if not unsaved:                     # nothing typed to keep: the page after it is a GET
                return self.done(request, action, form.get("clear_vote", ""))
            return await self.manage_view(request, sub, f, {}, await self.run_tester(f, sub),
                                          notice=SWITCHED[action] + unsaved)
        f = self.typed(form, sub)
        if action == "preview":
            return await self.manage_view(request, sub, f, {}, await self.run_tester(f, sub))
        if sub.origin == "config":          # the file wins at the next start: a save here would not last
            return await self.manage_view(request, sub, f, {}, await self.run_tester(f, sub), 409, notice=FILE_OWNED)
        if self.changed_elsewhere(f, sub):
            f.version = Fields.of_subscriber(sub, self.default_more).version      # a second Save is on purpose
            return await self.manage_view(request, sub, f, {}, await self.run_tester(f, sub), 409, notice=ELSEWHERE)
        settings, errors = check(f, self.config.web.slack_targets, with_address=False, kept=stored_profiles(sub))
        if errors:
            return await self.manage_view(request, sub, f, errors, await self.tester_for_refused(f, errors, sub), 400)
        await run_in_threadpool(self.save, sub, settings)
        return self.done(request, "save")

    def done(self, request: Request, action: str, paper: str = "") -> Response:
        """A change made: its page is a GET (post/redirect/get) that says what was done (to which
        ``paper``'s vote), so that a reload shows it again and the back button returns to it; a page
        answering the POST itself was Chrome's "Confirm Form Resubmission" on the way back from the
        Unsubscribe page."""
        query = urlencode({"done": action, **({"paper": paper} if paper else {})})
        return RedirectResponse(f"{self.root}{request.url.path}?{query}", status_code=303)

    async def refused(self, request: Request, sub, form) -> Response:
        """A manage form the CSRF check refused: the page again as typed, with a new token and
        nothing stored or switched, saying why and to save again."""
        f = self.edits(form, sub)
        return await self.manage_view(request, sub, f, {}, await self.run_tester(f, sub), 403,
                                      notice=unchecked(request, "Not saved", "Save"))

    def changed_elsewhere(self, f: Fields, sub) -> bool:
        """Were the stored settings changed after ``f``'s form was filled (another tab), to other
        settings than ``f`` holds? A form without a fingerprint (a script) is not checked."""
        stored = Fields.of_subscriber(sub, self.default_more)
        return bool(f.version) and f.version != stored.version and not f.same_settings(stored)

    def edits(self, form, sub) -> Fields:
        """The manage form as sent with Pause, Resume or Remove (they submit it too, so what was
        typed stays in it); a POST without the form's fields (a script) shows what is stored."""
        if "keywords" not in form:
            return Fields.of_subscriber(sub, self.default_more)
        return self.typed(form, sub)

    def typed(self, form, sub) -> Fields:
        """The manage form as sent, with the blank box to add a profile the page had: without it, a
        refused Save or a Preview labelled the last profile typed "Add another profile"."""
        f = Fields.from_form(form, self.default_more)
        f.email, f.keywords = sub.address, [k for k in f.keywords if k.strip()] + [""]
        return f

    def unsaved(self, f: Fields, sub) -> str:
        """The note after Pause, Resume or Remove when the form holds changes not saved yet."""
        if sub.origin == "config" or f.same_settings(Fields.of_subscriber(sub, self.default_more)):
            return ""
        return " Your changes in the form are not saved yet: Save keeps them."

    def switch(self, sub, action: str, paper: str):
        """Pause, resume, or clear the vote on ``paper``: the subscriber as it is afterwards."""
        if action == "clear_vote":
            self.store.set_vote(sub.id, paper, 0)
            return sub
        return self.store.set_paused(sub.id, paused=action == "pause")

    def save(self, sub, settings: dict):
        from notifier.subscribers import new_subscriber, settings_of

        wanted = new_subscriber(address=sub.address, origin=sub.origin, kept=stored_profiles(sub), **settings)
        event(log, "web profile saved", subscriber=sub.address)
        return self.store.update_subscriber(sub.id, **settings_of(wanted, without=("name", "channel")))

    # -- a sent digest as a web page ---------------------------------------------------------------
    def sent_digest(self, token: str):
        """The digest a "View this digest in your browser" link names (its subscriber and digest day:
        its delivery's key), every paper of it, with vote links signed here, and the subscriber's
        votes (paper id -> +1 / -1); Gone when none is stored."""
        from notifier.planning import build_digest
        from notifier.store.tables import delivery_key

        sub, t = self.subscriber_for("digest", token)
        d = self.store.delivery_by_key(delivery_key(sub.id, t.day))
        if d is None:
            raise Gone("this digest is not stored here (it was not sent, or it was removed since)")
        digest = build_digest(self.ctx, d, sub)
        digest.links = digest_links(self.base, self.secret, sub.id, [i.paper.arxiv_id for i in digest.items], t.day)
        return digest, dict(self.store.votes(sub.id))

    async def digest_page(self, request: Request) -> Response:
        """The page of a sent digest; a paper the subscriber voted on says which way (they come
        back to it from the vote's "Noted" page), its links still change it."""
        from notifier import render

        digest, votes = await run_in_threadpool(self.sent_digest, request.path_params["token"])
        views = render.by_day(render.with_votes([render.item_view(i) for i in digest.items], digest), digest)
        for v in views:
            vote = votes.get(v["arxiv_id"])
            v["voted"] = VOTE_LABELS[vote > 0].capitalize() if vote else None
        return self.page(request, "digest", title=render.subject(digest), counts=render.status_line(digest),
                         items=views, more_line=render.left_out_line(digest) if views else "",
                         nothing=render.nothing_line(digest.weaker_count, digest.stats.failed_sources) if not views else "",
                         ask_more=render.ASK_MORE if digest.weaker_count else "", manage=digest.links.manage)

    # -- unsubscribe (RFC 8058) -----------------------------------------------------------------
    async def unsubscribe_page(self, request: Request) -> Response:
        t = self.verify("unsubscribe", request.path_params["token"], UNSUBSCRIBE_DAYS)
        sub = await run_in_threadpool(self.store.find_subscriber, t.subject)
        if sub is None or not sub.active:
            return self.message(request, "You are unsubscribed", "No more digests will be sent to this address. "
                                "Changed your mind? Subscribe again from the start page.", link=f"{self.root}/",
                                link_text="Start page")
        return self.page(request, "action", title="Unsubscribe",
                         text=Markup("Stop sending paper digests to {}?").format(readable_address(sub.address)),
                         button="Unsubscribe")

    async def unsubscribe(self, request: Request) -> Response:
        t = self.verify("unsubscribe", request.path_params["token"], UNSUBSCRIBE_DAYS)
        form = await request.form()
        await run_in_threadpool(self.remove, t.subject, one_click=form.get("List-Unsubscribe") == "One-Click")
        if form.get("List-Unsubscribe") == "One-Click":
            return PlainTextResponse("unsubscribed\n")
        return self.again(request)

    def again(self, request: Request) -> Response:
        """The page after a done unsubscribe or vote is its link's page, which now says it is done:
        a GET (post/redirect/get), so that Back to it from the page it links to does not end in
        Chrome's "Confirm Form Resubmission"."""
        return RedirectResponse(self.root + request.url.path, status_code=303)

    def remove(self, subject: int, one_click: bool) -> None:
        sub = self.store.find_subscriber(subject)
        if sub is not None and sub.active:
            self.store.remove_subscriber(sub.id)
            event(log, "web unsubscribed", subscriber=sub.address, one_click=one_click)

    # -- votes ----------------------------------------------------------------------------------
    def vote_for(self, token: str):
        sub, t = self.subscriber_for("vote", token)
        paper = self.store.get_papers([t.paper]).get(t.paper)
        if paper is None:
            raise PaperGone("this paper is no longer stored")
        return sub, t, paper

    async def vote_page(self, request: Request) -> Response:
        sub, t, paper = await run_in_threadpool(self.vote_for, request.path_params["token"])
        if (paper.arxiv_id, t.vote) in await run_in_threadpool(self.store.votes, sub.id):
            return self.message(request, "Thank you", "Noted. Your next digests take it into account.", paper=paper,
                                link=manage_url(self.base, self.signer, sub.id), link_text="See all your votes")
        label = VOTE_LABELS[t.vote > 0].capitalize()
        return self.page(request, "action", title=label, text=f"Record “{label.lower()}” for this paper?",
                         paper=paper, button=label)

    async def vote(self, request: Request) -> Response:
        await run_in_threadpool(self.record_vote, request.path_params["token"])
        return self.again(request)

    def record_vote(self, token: str, via: str | None = None):
        """Stores the vote a link or a Slack button carries: (subscriber, token, paper)."""
        sub, t, paper = self.vote_for(token)
        self.store.set_vote(sub.id, paper.arxiv_id, t.vote)
        event(log, "vote", subscriber=sub.address, paper=paper.arxiv_id, vote=t.vote, via=via)
        return sub, t, paper

    async def slack_actions(self, request: Request) -> Response:
        """Slack's interactivity endpoint: vote buttons. Verified with Slack's request signature.
        Slack is answered at once (it waits 3 s); the acknowledgement the user sees is posted
        afterwards to the payload's ``response_url``."""
        from urllib.parse import parse_qs

        from slack_sdk.signature import SignatureVerifier

        body = await request.body()
        if not self.slack_secret:
            raise HTTPException(404)
        if not SignatureVerifier(self.slack_secret).is_valid_request(body, dict(request.headers)):
            return PlainTextResponse("invalid signature\n", status_code=401)
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
            values = [a["value"] for a in payload.get("actions", []) if a.get("action_id", "").startswith("vote")]
            reply_to = str(payload.get("response_url") or "")
        except (KeyError, ValueError, TypeError, AttributeError):
            return PlainTextResponse("malformed payload\n", status_code=400)
        noted = await run_in_threadpool(lambda: [self.slack_vote(value) for value in values])   # the store blocks
        ack = BackgroundTask(self.acknowledge, reply_to, "\n".join(noted)) if noted and reply_to else None
        return Response(status_code=200, background=ack)

    def slack_vote(self, token: str) -> str:
        """Stores the vote a Slack button carries; the line that acknowledges it (mrkdwn), or says
        why it was not recorded (unsubscribed, an expired button, a paper no longer stored, the
        database busy): Slack is answered 200 either way, or it shows the user a warning sign and
        nothing more (and never sends the click again)."""
        from notifier.render import mrkdwn_escape
        from notifier.untrusted import isolated

        try:
            _, t, paper = self.record_vote(token, via="slack")
        except (TokenError, Gone, StoreBusy) as err:
            why = SLACK_BUSY if isinstance(err, StoreBusy) else str(err)
            event(log, "slack vote refused", logging.INFO, reason=str(err))
            return f"Not recorded: {mrkdwn_escape(why)}"
        return f"Noted: {VOTE_LABELS[t.vote > 0]} — {mrkdwn_escape(isolated(readable_title(paper)))}"

    def acknowledge(self, response_url: str, text: str) -> None:
        """Posts ``text`` to a click's ``response_url``, seen by the clicking user alone; only to
        Slack's hooks host or the configured ``[slack] api_url``'s (the payload names the URL:
        posting anywhere else would let it aim the server at any address)."""
        from notifier.channels.slack import webhook_client

        parts = urlsplit(response_url)
        if f"{parts.scheme}://{parts.netloc}" not in self.slack_reply_origins:
            event(log, "slack acknowledgement refused", logging.WARNING, host=parts.netloc, reason="not a Slack host")
            return
        try:
            status, error = webhook_client()(response_url, timeout=10).send(
                text=text, response_type="ephemeral", replace_original=False).status_code, None
        except OSError as e:          # slack.Redirected carries the 3xx status
            status, error = getattr(e, "status", type(e).__name__), str(e)
        if status != 200:
            event(log, "slack acknowledgement failed", logging.WARNING, host=parts.netloc, status=status, error=error)

    # -- the tester fragment (progressive enhancement) -------------------------------------------
    async def tester_fragment(self, request: Request) -> Response:
        """The live preview beside the sign-up form; beside the manage form (``/manage/{token}/tester``)
        with the subscriber's votes applied. A POST of the form's fields: a stored profile may be
        longer than a URL can carry (uvicorn refuses a request head over 16 KB)."""
        if self.over_limit(self.previews_of(request)):
            return HTMLResponse("<p>Too many previews; wait a moment.</p>", status_code=429)
        token = request.path_params.get("token")
        try:
            sub = (await run_in_threadpool(self.subscriber_for, "manage", token))[0] if token else None
        except (TokenError, Gone) as err:
            return self.fragment_gone(err)
        form = await request.form()
        f = Fields(keywords=form.getlist("keywords") or [""], more=form.get("more", ""), max_items=form.get("max_items", ""),
                   frequency=form.get("frequency", "daily").partition(":")[0], default_more=self.default_more)
        result = await self.run_tester(f, sub)
        hint = still_typing(f.keywords, stored_profiles(sub)) if result.error else ""
        if hint:
            result = TesterResult(hint=hint, ran=True)
        text = self.templates.get_template("web/_tester.html.j2").render(result=result, sub=sub)
        return HTMLResponse(text)

    def fragment_gone(self, err: Exception) -> HTMLResponse:
        """The live preview of a manage page whose link expired, or of someone who unsubscribed
        since (another tab): one line for the box, where a whole error page does not fit (410)."""
        way = " Open the link in your latest digest." if isinstance(err, TokenError) else ""
        return HTMLResponse(f'<p class="error" role="alert">{html.escape(str(err).capitalize())}.{way}</p>',
                            status_code=410)


def kept_for_back(page: Response) -> Response:
    """A page answering a form's POST (a Preview's papers without JavaScript, a refused form as typed
    with its errors, "Check your inbox" for a new link) kept in the browser's own cache, never a shared
    one: Back to it shows it again. With no-store, Back had to send the POST again, and Chrome asked
    first ("Confirm Form Resubmission"). A GET would put the address typed in URLs and proxy logs."""
    page.headers["cache-control"] = "private, no-cache"
    return page


def refillable(web: WebApp, scope) -> bool:
    """A refused form comes back as typed only when the browser says it was sent from this site's
    own page: a form another site posts is never shown as this site's, filled with that site's
    address and words."""
    from_here = security.sent_from(scope, own_origins(web, scope)) == "here"
    return from_here and scope["method"] == "POST" and bool(REFILLED_FORMS.fullmatch(scope["path"]))


def own_origins(web: WebApp, scope) -> set[str]:
    """This site's origin as its public_url names it, and as the browser reached it (its Host)."""
    host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
    return {web.origin, f"{scope['scheme']}://{host}"}


def unchecked(request: Request, not_done: str, button: str) -> str:
    """The line above a form the CSRF check refused, shown again as typed: nothing was done, why,
    and which button sends it again (its page carries a new token)."""
    why = UNCHECKED[bool(request.cookies.get(security.CSRF_COOKIE))]
    return f"{not_done}: {why}. What you typed is still below: {button} again."


def done_notice(query, sub, votes: dict[str, int]) -> str:
    """What the page after a manage action (``?done=``, ``&paper=``) says was done, while it still
    holds (``votes``: the subscriber's, by paper): without JavaScript the address keeps ?done=
    (done.js), so Back to "Paused" after a Resume said "Paused: no digests until you resume" above a
    subscription that was running, and "Vote removed." above the paper voted on again."""
    done = query.get("done", "")
    holds = {"pause": sub.paused, "resume": not sub.paused,
             "clear_vote": query.get("paper", "") not in votes}.get(done, True)
    return DONE.get(done, "") if holds else ""


def outcome(notice: str) -> str:
    """A manage notice's first words when they name what happened ("Saved", "Paused", "Vote
    removed", "Not saved"), for the page title; '' for a notice that explains rather than reports."""
    first = notice.replace(":", ".").split(".")[0]
    return first if len(first.split()) <= 2 else ""


# ----------------------------------------------------------------------------- errors
ERROR_TITLES = {400: "This link is not valid", 403: "This form could not be checked", 404: "Not found", 405: "Not allowed",
                410: "This link no longer works", 411: "The form could not be read", 413: "Too much text",
                429: "Too many requests", 500: "Something went wrong", 503: "Busy for a moment"}

REFUSED_BODY = {      # BodyLimit's answers: the form was never read, so it cannot come back filled in; the
    # browser's Back button shows it as typed (a link to the form's page opened it blank, or as stored)
    411: "Your browser sent the form without saying how long it is, which this site needs. Go back with your "
         "browser’s Back button (the form is still there as you typed it) and send it again, or try another browser.",
    413: (f"What you sent is longer than this site takes. A profile takes at most {MAX_PROFILE_CHARS:,} "
          "characters: go back with your browser’s Back button (the form is still there as you typed it), keep the "
          "terms that tell your topic best, and send it again.")}

CSRF_REFUSED = {     # by whether the browser sent the form's cookie (the check's tokens never expire)
    True: "It came from an older page or another site. Reload the page and send it again.",
    False: "Your browser sent it without this site's cookie, which the form needs: are cookies blocked here? "
           "Allow them for this site (a form sent from another site gets this answer too). Reload the page and "
           "send it again."}

FROM_ELSEWHERE = ("It was sent from another website, so nothing was done. To change something here, use the forms "
                  "on this site: the start page, or the link in your latest digest.")


def csrf_refusal(web: WebApp, request: Request) -> Response:
    """The page for a form the CSRF check refused and that does not come back as typed."""
    if security.sent_from(request.scope, own_origins(web, request.scope)) == "elsewhere":
        return error_page(web, request, 403, FROM_ELSEWHERE, link=f"{web.root}/", link_text="Start page")
    return error_page(web, request, 403, CSRF_REFUSED[bool(request.cookies.get(security.CSRF_COOKIE))])


def error_page(web: WebApp, request: Request, status: int, text: str, **values) -> Response:
    return web.message(request, ERROR_TITLES.get(status, "Error"), text, status, typed=unstored(request), **values)


def unstored(request: Request) -> list[str]:
    """The profiles a sign-up or manage form carried when nothing was stored (its link expired,
    they unsubscribed in another tab, the database was busy or failed): the error page shows them
    to copy."""
    typed = getattr(request.state, "typed", None)
    return typed.texts() if typed and not getattr(request.state, "changed", "") else []


def way_on(path: str) -> str:
    """What to do about a link that does not work: someone confirming has no digest yet."""
    if path.startswith("/confirm/"):
        return "Subscribe again from the start page: we mail you a new link."
    return "Use the link in your latest digest, or ask for a new one: we mail it to you."


def busy_text(request: Request) -> str:
    """What a visitor reads when the database was busy (another process writing): what was kept."""
    changed = getattr(request.state, "changed", "")
    if changed:            # the change was committed; only the page after it could not be read
        return f"{changed} The page could not be shown just now: open your link again in a moment."
    again = "go back and send the form again" if request.method == "POST" else "reload this page"
    return (f"This service is busy for a moment (another task is writing to its database), so nothing was "
            f"changed. Please {again} in a few seconds.")


def exception_handlers(web: WebApp) -> dict:
    """What a visitor reads for each error: a page in their terms, never a trace."""
    async def on_token_error(request, err: TokenError):
        confirming = request.url.path.startswith("/confirm/")
        return error_page(web, request, 410 if err.expired else 400, f"{str(err).capitalize()}. "
                          f"{way_on(request.url.path)}", link=web.root + ("/" if confirming else "/link"),
                          link_text="Start page" if confirming else "Mail me a new link")

    async def on_gone(request, err: Gone):
        return error_page(web, request, 410, str(err).capitalize() + ".", link=f"{web.root}/", link_text="Start page")

    async def on_confirmed(request, err: Confirmed):
        return web.message(request, "You are subscribed", "This confirmation link was used already: your "
                           f"subscription is active. {web.first_digest(err.args[0])} To change something before "
                           "then, subscribe again with this address: we mail you the link.")

    async def on_paper_gone(request, err: PaperGone):
        return web.message(request, "This paper is no longer stored", "Your vote was not recorded: the paper it "
                           "was for has been removed from this service. Your other votes still count.", 410)

    async def on_http(request, err: HTTPException):
        text = {404: "There is no page here.", 405: "This page does not accept that request."}
        return error_page(web, request, err.status_code, text.get(err.status_code, err.detail or ""))

    async def on_busy(request, err: StoreBusy):
        event(log, "web database busy", logging.WARNING, path=loggable(request.url.path), error=str(err))
        page = error_page(web, request, 503, busy_text(request))
        page.headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
        return page

    async def on_crash(request, err: Exception):
        log.error("web request failed", exc_info=err, extra={"ctx": {"path": loggable(request.url.path),
                                                                      "error": repr(err)}})
        err.answered_by_web = True        # uvicorn logs it again when Starlette re-raises it (commands/web.py)
        return error_page(web, request, 500, "The problem was logged. Please try again later.")

    return {TokenError: on_token_error, Gone: on_gone, PaperGone: on_paper_gone, Confirmed: on_confirmed,
            HTTPException: on_http, StoreBusy: on_busy, Exception: on_crash}


class UnderRoot:
    """A public_url under a path ("https://host/digests"): its requests are served whether the proxy
    strips that path ("/manage/…") or passes it on ("/digests/manage/…"); the pages link within it."""

    def __init__(self, app, root: str):
        self.app, self.root = app, root

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if path == self.root or path.startswith(self.root + "/"):
            scope = {**scope, "path": path[len(self.root):] or "/"}
        await self.app(scope, receive, send)


def create_app(config: Config, env: dict | None = None, clock: Callable[[], datetime] | None = None,
               access_log: bool = False):
    """The ASGI app: routes, then CSRF, security headers, the body limit and the access log around them."""
    import importlib.resources

    web = WebApp(config, env, clock)
    static = importlib.resources.files("notifier.templates") / "web" / "static"
    icon = Response((static / "icon.svg").read_bytes(), media_type="image/svg+xml",   # every page asks for it
                    headers={"cache-control": f"public, max-age={ICON_CACHE_SECONDS}"})

    routes = [
        Route("/", web.home, methods=["GET"]), Route("/", web.subscribe, methods=["POST"]),
        Route("/sent/{token}", web.sent, methods=["GET"]),
        Route("/sent/{token}/correct", web.correct, methods=["GET"]),
        Route("/link", web.link_page, methods=["GET"]), Route("/link", web.send_link, methods=["POST"]),
        Route("/tester", web.tester_fragment, methods=["POST"]),
        Route("/confirm/{token}", web.confirm_page, methods=["GET"]),
        Route("/confirm/{token}", web.confirm, methods=["POST"]),
        Route("/subscribed/{token}", web.subscribed, methods=["GET"]),
        Route("/manage/{token}", web.manage_page, methods=["GET"]),
        Route("/manage/{token}", web.manage, methods=["POST"]),
        Route("/manage/{token}/tester", web.tester_fragment, methods=["POST"]),
        Route("/unsubscribe/{token}", web.unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", web.unsubscribe, methods=["POST"]),
        Route("/vote/{token}", web.vote_page, methods=["GET"]),
        Route("/vote/{token}", web.vote, methods=["POST"]),
        Route("/digest/{token}", web.digest_page, methods=["GET"]),
        Route("/slack/actions", web.slack_actions, methods=["POST"]),
        Route("/healthz", lambda request: PlainTextResponse("ok\n"), methods=["GET"]),
        Route("/favicon.ico", lambda request: icon, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        stop = threading.Event()
        warm = threading.Thread(target=web.tester.keep_warm, args=(stop,), name="tester-warmup", daemon=True)
        warm.start()
        yield
        stop.set()
        await run_in_threadpool(warm.join, 60)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=exception_handlers(web))

    async def csrf_failed(scope, send, _reason):
        if refillable(web, scope):                                   # back as typed, nothing done
            return await app({**scope, CSRF_REFUSED_SCOPE: True}, scope[security.REPLAY](), send)
        await csrf_refusal(web, Request(scope))(scope, None, send)

    async def refuse(scope, send, status):
        request = Request(scope)
        response = error_page(web, request, status, REFUSED_BODY[status])
        await response(scope, None, send)

    outer = security.with_csrf(app, web.secret, web.https, csrf_failed)
    outer = security.SecurityHeaders(security.BodyLimit(outer, config.web.max_body_bytes, refuse), hsts=web.https)
    outer = AccessLog(outer, web.root) if access_log else outer
    outer = UnderRoot(outer, web.root) if web.root else outer
    outer.web = web
    return outer
