"""Form fields -> checked subscriber settings, one message per field (shown beside it).

The checks are the CLI's (notifier.subscribers), so the web accepts exactly what
`notifier subscribe` accepts; a Slack target must also be one the operator allows."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from notifier.config import ANY_SLACK_USER, DEFAULT_THRESHOLD, MAX_ITEMS_RANGE, THRESHOLD_RANGE, TIME_RE, check_timezone
from notifier.errors import NotifierError, visible
from notifier.subscribers import WEEKDAYS, canonical_address, channel_as_typed, stored_profiles
from notifier.web.tester import profile_error_at

QUOTED = re.compile(r"((?<!\w)'.+?'(?!\w)|“.+?”|\(-[^()]+\))")   # a value a message quotes: 'term', “é”,
                                                                   # (-term): "profile has only exclusions (-moe)"


def quotes_isolated(message: str) -> Markup:
    """``message`` as HTML, each value it quotes in a <bdi>: a Hebrew or Arabic term quoted in an
    error took the sentence's direction, so the quote mark or minus typed at its start showed at
    its end (the left), unlike in the right-to-left box it was typed in."""
    parts = QUOTED.split(message)        # odd ones are the quoted values, with their quote marks
    return Markup("").join(Markup("{}<bdi>{}</bdi>{}").format(p[0], p[1:-1], p[-1]) if i % 2 else escape(p)
                           for i, p in enumerate(parts))


def readable_address(address: str) -> Markup:
    """An address as its owner typed it (``as_typed``), as HTML isolated from the sentence naming it,
    as every untrusted text the pages show: a number or a mark after a right-to-left address would
    join it. Left to right, as in the e-mail box it was typed in: a <bdi> of its own direction showed
    'דנה@example.org' as 'example.org@דנה'."""
    return Markup('<bdi dir="ltr">{}</bdi>').format(as_typed(address))


def as_typed(address: str) -> str:
    """A domain stored in its ASCII form (xn--bcher-kva.example) in Unicode (bücher.example);
    anything else as stored."""
    import idna

    local, at, domain = address.rpartition("@")
    if not at or "xn--" not in domain:
        return address
    try:
        return f"{local}@{idna.decode(domain)}"
    except (idna.IDNAError, UnicodeError):
        return address


def readable_title(paper) -> str:
    """A paper's title as its digest shows it: on one line, cut after a whole word at the digest's
    length, its TeX as text ("$\\alpha$" -> "α"). The vote page read "$\\alpha$-Flow" for the
    "α-Flow" just clicked in the digest, and a Slack vote reply carried a title of any length."""
    from notifier.render import MAX_TITLE_CHARS, one_line
    from notifier.tex import readable_tex

    return readable_tex(one_line(paper.title, MAX_TITLE_CHARS)) or paper.arxiv_id


def default_more(threshold: float | None) -> int:
    """The "fewer <-> more papers" slider (threshold = 1 - more/100) at the configured
    threshold, else the matcher's."""
    return round(100 - 100 * (DEFAULT_THRESHOLD if threshold is None else threshold))


@dataclass
class Fields:
    """What a subscribe or manage form says, as typed (so a refused form comes back filled in)."""

    email: str = ""
    keywords: list[str] = field(default_factory=lambda: [""])
    time: str = "07:30"
    timezone: str = ""
    frequency: str = "daily"
    weekday: str = "mon"
    max_items: str = ""
    more: str = ""                     # the slider; "" or its default position: the configured threshold
    default_more: int = 60
    version: str = ""                  # the manage form: the stored settings it was filled from (fingerprint)

    @classmethod
    def from_form(cls, form, default_more: int) -> "Fields":
        keywords = [k.replace("\r\n", "\n") for k in form.getlist("keywords") if k.strip()] or [""]   # a textarea sends CRLF
        frequency, _, day = form.get("frequency", "daily").partition(":")     # the list's "weekly:fri"
        return cls(email=form.get("email", "").strip(), keywords=keywords, time=form.get("time", "07:30").strip(),
                   timezone=form.get("timezone", "").strip(), frequency=frequency,
                   weekday=day or form.get("weekday", "mon"), max_items=form.get("max_items", "").strip(),
                   more=form.get("more", "").strip(), default_more=default_more, version=form.get("version", ""))

    @classmethod
    def of_subscriber(cls, sub, default_more: int) -> "Fields":
        more = "" if sub.threshold is None else str(round(100 - sub.threshold * 100))
        f = cls(email=sub.address, keywords=stored_profiles(sub) + [""], time=sub.delivery_time,
                timezone=sub.timezone, frequency=sub.frequency, weekday=sub.weekday or "mon",
                max_items=str(sub.max_items or ""), more=more, default_more=default_more)
        f.version = f.fingerprint()
        return f

    def threshold(self) -> float | None:
        """None (follow the configured threshold) when the slider is untouched or at its default."""
        if not self.more.isdigit() or int(self.more) == self.default_more:
            return None
        more = int(self.more)
        low, high = THRESHOLD_RANGE
        return round(min(high, max(low, 1 - more / 100)), 2)

    def texts(self) -> list[str]:
        return [k.strip() for k in self.keywords if k.strip()]

    def settings(self) -> tuple:
        """What saving the form stores (blank boxes and untouched defaults aside)."""
        return (self.texts(), self.time, self.timezone, self.frequency, self.frequency == "weekly" and self.weekday,
                self.max_items, self.threshold())

    def same_settings(self, other: "Fields") -> bool:
        """Would saving one store what the other holds."""
        return self.settings() == other.settings()

    def fingerprint(self) -> str:
        """A short digest of ``settings()``: a manage form carries the one of the settings it was
        filled from, so a save can tell that they were changed elsewhere since (another tab)."""
        import hashlib

        return hashlib.sha256(repr(self.settings()).encode()).hexdigest()[:16]


def check(f: Fields, slack_targets: list[str], *, with_address: bool = True,
          kept: frozenset[str] = frozenset()) -> tuple[dict, dict[str, str]]:
    """-> (settings for new_subscriber, {field: error}). Settings are only complete when no error.
    ``kept``: the subscriber's stored profiles, not checked as typed text (``profile_error``)."""
    errors: dict[str, str] = {}
    settings: dict = {"keywords": f.texts(), "time": f.time, "timezone": f.timezone}
    if with_address:
        settings["address"] = f.email
        _field(errors, "email", lambda: _address(f.email, slack_targets))
    at, problem = profile_error_at(f.texts(), kept)
    if not f.texts():
        errors["keywords"] = "type at least one term, e.g. \"kv cache\", MoE"
    elif problem:
        errors["keywords"] = problem
        if at:
            errors["keywords_at"] = at           # which profile (the manage page has several); 0 otherwise
    if not f.time:              # a cleared time field: '' quoted read as a stray mark
        errors["time"] = "a delivery time is required, as HH:MM (24-hour)"
    elif not TIME_RE.match(f.time):
        errors["time"] = f"'{f.time}' is not a time as HH:MM (24-hour)"
    _field(errors, "timezone", lambda: check_timezone(f.timezone))     # shown under the "Time zone" field
    settings["frequency"] = _frequency(f, errors)
    settings["max_items"] = _max_items(f.max_items, errors)
    _more(f.more, errors)
    settings["threshold"] = f.threshold()
    return settings, errors


def preview_settings(f: Fields) -> tuple[dict, str]:
    """(the tester's settings, '') for what Save would take; else ({}, the line Save would say):
    a "Most papers per digest" of 0 previewed as no limit while Save refused it."""
    errors: dict[str, str] = {}
    max_items = _max_items(f.max_items, errors)
    if errors:
        return {}, f"Most papers per digest: {errors['max_items']}"
    return {"threshold": f.threshold(), "max_items": max_items}, ""


def address_errors(address: str, slack_targets: list[str]) -> dict[str, str]:
    """{'email': why} for an address the sign-up form would refuse; {} for a good one."""
    errors: dict[str, str] = {}
    _field(errors, "email", lambda: _address(address, slack_targets))
    return errors


def _field(errors: dict, name: str, check_fn) -> None:
    try:
        check_fn()
    except NotifierError as err:
        errors[name] = str(err)


def _address(address: str, slack_targets: list[str]) -> None:
    from notifier.errors import InputError

    if not address:
        raise InputError("an e-mail address is required")
    try:
        channel = channel_as_typed(address)
    except InputError as err:
        if "@" in address:          # "not a valid e-mail address": already the visitor's terms
            raise InputError(f"{err}{_slip(address)}") from None
        raise InputError(f"'{address}' is not an e-mail address" + _offered(slack_targets)) from None
    if channel == "slack" and not slack_allowed(address, slack_targets):
        raise InputError(f"'{address}' is not a Slack target this service delivers to; use an e-mail address")


def _slip(address: str) -> str:
    """What is wrong with an address pasted from a sentence or a list, which is hard to see in the
    quoted address: a space inside it, a full stop after it; '' for anything else."""
    if " " in address:
        return ": it has a space in it"
    if address.endswith("."):
        return ": it ends with a full stop, which no address does"
    return ""


def _offered(slack_targets: list[str]) -> str:
    """The Slack targets a visitor may subscribe, in their terms (not the command line's list of
    every kind of target), for an address that is none of them: '' when only e-mail is offered."""
    named = [t for t in slack_targets if t != ANY_SLACK_USER]
    if ANY_SLACK_USER in slack_targets:
        named.append("your Slack user id U…")
    return f" or one of the Slack targets this service offers ({', '.join(named)})" if named else ""


def slack_allowed(address: str, slack_targets: list[str]) -> bool:
    """An exact entry of [web] slack_targets; the entry "users" allows any Slack user id."""
    is_user = address.lstrip("@")[:1] in ("U", "W") and not address.startswith("#")
    return canonical_address(address) in slack_targets or (is_user and ANY_SLACK_USER in slack_targets)


def _frequency(f: Fields, errors: dict) -> str:
    """The radio buttons and the weekday list as parse_frequency takes them; a value no browser
    sends from them (a crafted or outdated form) is named beside the field, not read as weekly."""
    if f.frequency not in ("daily", "weekly"):
        errors["frequency"] = f"'{visible(f.frequency)}' is not one of the choices: pick Daily or Weekly"
    elif f.frequency == "weekly" and f.weekday not in WEEKDAYS:
        errors["frequency"] = f"'{visible(f.weekday)}' is not a day of the week: pick one from the list"
    return f.frequency if f.frequency != "weekly" else f"weekly:{f.weekday}"


def _more(text: str, errors: dict) -> None:
    """The slider's position: what the page offers, or blank (the configured threshold)."""
    low, high = (round(100 - 100 * t) for t in reversed(THRESHOLD_RANGE))
    if text and not (text.isdigit() and low <= int(text) <= high):
        errors["more"] = f"the slider goes from {low} to {high}"


def _max_items(text: str, errors: dict) -> int | None:
    if not text:
        return None
    low, high = MAX_ITEMS_RANGE
    if not text.isdigit() or not low <= int(text) <= high:
        errors["max_items"] = f"a number from {low} to {high}"
        return None
    return int(text)
