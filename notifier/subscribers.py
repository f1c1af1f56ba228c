"""Subscriber input: validate an address or Slack target, keyword profiles, time and zone.

Every check raises ``InputError`` with one line naming the bad value, before anything is stored.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection

from notifier.alerts import is_webhook_url, operator_name
from notifier.config import MAX_ITEMS_RANGE, TIME_RE, check_threshold, check_timezone, read_secret
from notifier.errors import InputError, ProfileError, refusing
from notifier.store import Subscriber

# the domain as its ASCII form (ascii_domain); the part before the @ may have letters and digits beyond
# ASCII ('usér'), which the email channel sends with SMTPUTF8 to a server that offers it (RFC 6531)
EMAIL_RE = re.compile(r"^(?:[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]|[^\W_])+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
SLACK_FORMS = [
    (re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$"), "channel name"),
    (re.compile(r"^[CG][A-Z0-9]{8,}$"), "channel id"),
    (re.compile(r"^@?[UW][A-Z0-9]{8,}$"), "user id"),
    (re.compile(r"^https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+$"), "incoming webhook"),
    (re.compile(r"^webhook:[A-Z_][A-Z0-9_]*$"), "webhook from a secret"),
]
MAX_ADDRESS = 254         # characters in an e-mail address (RFC 5321); no Slack target is longer
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def channel_of(address: str) -> str:
    """'email' or 'slack' for a valid address; InputError naming the value otherwise."""
    from notifier.profile import shown

    if any(c in address for c in "\r\n"):
        raise InputError("address must be a single line")
    if len(address) > MAX_ADDRESS:
        raise InputError(f"address: {len(address)} characters, at most {MAX_ADDRESS}")
    if "@" in address and not address.startswith("@"):
        if not EMAIL_RE.match(ascii_domain(address)):
            raise InputError(f"'{shown(address)}' is not a valid e-mail address")
        return "email"
    if any(pattern.match(address) for pattern, _ in SLACK_FORMS):
        return "slack"
    raise InputError(f"'{shown(address)}' is neither an e-mail address nor a Slack target "
                     "(#channel, channel id C…, user id U… or @U…, https://hooks.slack.com/… or webhook:ENV_NAME)")


def channel_as_typed(address: str) -> str:
    """``channel_of`` an address as a person types it: a Slack channel name in any case (#Papers
    is #papers, ``canonical_address``); an e-mail address as typed, so that an error quotes it so."""
    return channel_of(address if "@" in address else canonical_address(address))


def ascii_domain(address: str) -> str:
    """An e-mail address whose domain is internationalised (bücher.example) with the domain's
    ASCII form (xn--bcher-kva.example, IDNA 2008 as browsers map it): the same mailbox, which any
    mail server delivers to, where the Unicode form needs one that offers SMTPUTF8. Any other
    address (an ASCII domain, or one that is no domain name) as given."""
    import idna

    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except (idna.IDNAError, UnicodeError):
        return address


def canonical_address(address: str) -> str:
    """One person, one subscriber: e-mail addresses in lower case (B8@EXAMPLE.ORG is
    b8@example.org; only ASCII letters: 'İ' lower-cased is two characters) with the domain in its
    ASCII form (ascii_domain: user@bücher.example is user@xn--bcher-kva.example), Slack user ids
    without '@' (@U12345678 is U12345678), Slack channel names in lower case, as Slack has them
    (#General is #general). Anything else as given.

    The whole e-mail address, not only its domain: RFC 5321 lets a server tell Ada@ from ada@,
    but no mail provider does, and people type their address in either case; the store's
    uniqueness is on this form, so what one lookup finds is what another cannot add twice."""
    address = address.strip()
    if "@" in address and not address.startswith("@"):
        return "".join(c.lower() if c.isascii() else c for c in ascii_domain(address))
    if re.match(r"^@[UW][A-Z0-9]{8,}$", address):
        return address[1:]
    return address.lower() if address.startswith("#") else address


def missing_webhook_secret(address: str, env: dict | None = None) -> str | None:
    """For ``webhook:NAME`` whose secret is not set here: NAME; else None."""
    name = address.removeprefix("webhook:")
    return name if address.startswith("webhook:") and not read_secret(name, env) else None


def check_profiles(keywords: list[str], kept: Collection[str] = (), what: str = "keywords") -> list[str]:
    """The profiles, each once, checked as typed text but those ``kept`` as stored (``check_typed``).
    ``what``: where they were given, named in the error when there is none ('--keywords', 'profiles')."""
    from notifier.profile import check_typed, shown

    texts = list(dict.fromkeys(k.strip() for k in keywords if k and k.strip()))   # each once: in order
    if not texts:
        raise InputError(f"a keyword profile is required: {what} is empty")
    bad = []
    for text in texts:
        try:
            check_typed(text, kept)
        except ProfileError as err:
            bad.append(f"profile '{shown(text)}': {err}")
    if bad:                 # every one: a file of subscribers is fixed in one pass
        raise InputError("; ".join(bad))
    return texts


MAX_NAME = 200        # a display name, in listings and greetings


def check_name(name: str, what: str = "name") -> None:
    """A display name is one line of visible text (it is shown in terminals and digests)."""
    from notifier.profile import invisible_at

    bad = invisible_at(name) or next((f"U+{ord(c):04X} at position {i + 1}" for i, c in enumerate(name)
                                      if c in "\t\r\n"), None)
    if bad:
        raise InputError(f"{what}: control character {bad}: a name is one line of visible text")
    if len(name) > MAX_NAME:
        raise InputError(f"{what}: {len(name)} characters, at most {MAX_NAME}")


def parse_frequency(frequency: str, what: str = "frequency") -> tuple[str, str | None]:
    """'daily' | 'weekly' | 'weekly:mon' -> (frequency, weekday)."""
    kind, colon, day = frequency.lower().partition(":")
    if kind == "daily" and not colon:
        return "daily", None
    if kind == "weekly" and ((not colon) or day in WEEKDAYS or day in WEEKDAY_NAMES):
        return "weekly", (day[:3] or "mon")
    raise InputError(f"{what} '{frequency}' must be daily, weekly or weekly:DAY (mon..sun)")


def zero_padded(time: str) -> str:
    """'7:30' as '07:30': spreadsheets drop the leading zero when they save a CSV, and people type it so."""
    return "0" + time if len(time) == 4 and time[0].isdigit() and time[1] == ":" else time


def new_subscriber(*, address: str, keywords: list[str], name: str = "", timezone: str = "UTC",
                   time: str | None = None, frequency: str = "daily", max_items: int | None = None,
                   threshold: float | None = None, origin: str = "cli", kept: Collection[str] = (),
                   named: Callable[[str], str] = str) -> Subscriber:
    """``time`` None: 07:30 (an empty one is refused: `edit --time ''` set 07:30 unasked). ``kept``:
    the profiles stored already (``check_profiles``). ``named``: a setting's key ('max_items') ->
    its name in the errors, as the user typed it (a CLI's '--max-items'; by default the key, as
    the config file and an imported file's columns have it)."""
    address = address.strip()
    with refusing("address"):      # an e-mail address as typed, in the error; a Slack one as Slack has it
        channel = channel_as_typed(address)
    address = canonical_address(address)
    name = own_name(name.strip())       # '  ' greeted nobody; spaces around a name are a typing slip
    with refusing("name"):
        check_name(name, named("name"))
    with refusing("keywords"):
        profiles = check_profiles(keywords, kept, named("keywords"))
    time = zero_padded("07:30" if time is None else time)
    if not TIME_RE.match(time):
        raise InputError.about("time", f"{named('time')} {time!r} must be HH:MM (24-hour)")
    low, high = MAX_ITEMS_RANGE
    if max_items is not None and not low <= max_items <= high:
        raise InputError.about("max_items", f"{named('max_items')} {max_items} must be between {low} and {high}")
    with refusing("timezone"):
        check_timezone(timezone, named("timezone"))
    with refusing("threshold"):
        check_threshold(threshold, named("threshold"))
    with refusing("frequency"):
        freq, weekday = parse_frequency(frequency, named("frequency"))
    return Subscriber(name=name or own_name(address), channel=channel, address=address, profile=json.dumps(profiles),
                      timezone=timezone, delivery_time=time, frequency=freq, weekday=weekday,
                      max_items=max_items, threshold=threshold, origin=origin)


def own_name(name: str) -> str:
    """``name`` as a subscriber's name: none when it is a webhook URL. Before session 31 a webhook
    subscriber's name was its URL by default, so a stored name may still be one."""
    return "" if is_webhook_url(name) else name


def stored_profiles(sub: Subscriber | None) -> list[str]:
    """A subscriber's stored profiles, as ``new_subscriber`` stored them (none for nobody: a visitor
    signing up, an address not stored yet). Passed on as ``kept``, they are read as they are,
    unchecked as typed text: a profile stored by an older version or another way in (the command
    line, the web page, a file) never stops a change to the subscriber's other settings."""
    return json.loads(sub.profile) if sub is not None else []


def shown_name(sub) -> str:
    """The subscriber's name as texts show it (a digest's "Sent ... to", listings): their own name,
    else their address, but a webhook subscriber by id (``alerts.operator_name``)."""
    return own_name(sub.name) or operator_name(sub.address, sub.id)


# What a subscriber chooses (the address aside): the columns subscribe, edit, import, the config
# file and the web page write.
SETTINGS = ("name", "channel", "profile", "timezone", "delivery_time", "frequency", "weekday", "max_items",
            "threshold")


def settings_of(sub: Subscriber, *, without: tuple[str, ...] = ()) -> dict:
    """The subscriber's SETTINGS as keyword arguments for ``Store.update_subscriber``."""
    return {k: getattr(sub, k) for k in SETTINGS if k not in without}


# What ``Store.upsert_subscribers`` writes of a subscriber (import, the config file): active and
# paused None mean "as stored" (a new one is active and not paused).
WRITTEN = ("address", *SETTINGS, "origin", "active", "paused")


def written(sub: Subscriber, **changes) -> dict:
    """A checked subscriber as the plain values ``Store.upsert_subscribers`` takes, with ``changes``:
    an import of 100,000 rows held a Subscriber object for each (3 KB), and plain values a third."""
    return {k: getattr(sub, k) for k in WRITTEN} | changes


def in_files(key: str) -> str:
    """A setting's key as the config file's [[subscribers]] and an imported file name it: the
    profiles are 'profiles' there (a config entry's 'keywords', when given, is never empty)."""
    return "profiles" if key == "keywords" else key


def spec_subscriber(spec, default_timezone: str) -> Subscriber:
    """A ``[[subscribers]]`` entry of the config file, through the same checks as the CLI. Its
    ``active`` is None: applying the file adds it (active) or sets its settings, but never undoes an
    unsubscribe (a digest's one-click link, the web page, `notifier unsubscribe`): the person asked
    to stop, and `notifier subscribe` or the web sign-up brings them back."""
    sub = new_subscriber(address=spec.email or spec.slack, keywords=spec.texts(), name=spec.name,
                         timezone=spec.timezone or default_timezone, time=spec.time or None, frequency=spec.frequency,
                         max_items=spec.max_items, threshold=spec.threshold, origin="config", named=in_files)
    sub.active = sub.paused = None          # as they are: the file has neither
    if sub.channel != ("email" if spec.email else "slack"):
        raise InputError.about("address", f"'{sub.address}' is not {'an e-mail address' if spec.email else 'a Slack target'}")
    return sub
