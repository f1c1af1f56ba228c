"""Subscriber input: validate an address or Slack target, keyword profiles, time and zone.

Every check raises ``InputError`` with one line naming the bad value, before anything is stored.
"""
from __future__ import annotations

import json
import re

from notifier.config import TIME_RE, check_threshold, check_timezone
from notifier.errors import ConfigError, InputError, ProfileError
from notifier.store import Subscriber

EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
SLACK_FORMS = [
    (re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$"), "channel name"),
    (re.compile(r"^[CG][A-Z0-9]{8,}$"), "channel id"),
    (re.compile(r"^@?[UW][A-Z0-9]{8,}$"), "user id"),
    (re.compile(r"^https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+$"), "incoming webhook"),
    (re.compile(r"^webhook:[A-Z_][A-Z0-9_]*$"), "webhook from a secret"),
]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def channel_of(address: str) -> str:
    """'email' or 'slack' for a valid address; InputError naming the value otherwise."""
    if any(c in address for c in "\r\n"):
        raise InputError("address must be a single line")
    if "@" in address and not address.startswith("@"):
        if not EMAIL_RE.match(address):
            raise InputError(f"'{address}' is not a valid e-mail address")
        return "email"
    if any(pattern.match(address) for pattern, _ in SLACK_FORMS):
        return "slack"
    raise InputError(f"'{address}' is neither an e-mail address nor a Slack target "
                     "(#channel, channel id C…, user id U… or @U…, https://hooks.slack.com/… or webhook:ENV_NAME)")


def check_profiles(keywords: list[str]) -> list[str]:
    from notifier.profile import parse_profile

    texts = [k.strip() for k in keywords if k and k.strip()]
    if not texts:
        raise InputError("a keyword profile is required (--keywords TEXT)")
    for text in texts:
        try:
            parse_profile(text)
        except ProfileError as err:
            raise InputError(f"profile '{text}': {err}") from None
    return texts


def parse_frequency(frequency: str) -> tuple[str, str | None]:
    """'daily' | 'weekly' | 'weekly:mon' -> (frequency, weekday)."""
    kind, _, day = frequency.lower().partition(":")
    if kind == "daily" and not day:
        return "daily", None
    if kind == "weekly" and (not day or day[:3] in WEEKDAYS):
        return "weekly", (day[:3] or "mon")
    raise InputError(f"frequency '{frequency}' must be daily, weekly or weekly:DAY (mon..sun)")


def new_subscriber(*, address: str, keywords: list[str], name: str = "", timezone: str = "UTC",
                   time: str = "", frequency: str = "daily", max_items: int | None = None,
                   threshold: float | None = None, origin: str = "cli") -> Subscriber:
    address = address.strip()
    channel = channel_of(address)
    profiles = check_profiles(keywords)
    time = time or "07:30"
    if not TIME_RE.match(time):
        raise InputError(f"delivery time '{time}' must be HH:MM (24-hour)")
    try:
        check_timezone(timezone, "timezone")
    except ConfigError as err:
        raise InputError(str(err)) from None
    if max_items is not None and not 1 <= max_items <= 100:
        raise InputError(f"max items {max_items} must be between 1 and 100")
    try:
        check_threshold(threshold, "threshold")
    except ConfigError as err:
        raise InputError(str(err)) from None
    freq, weekday = parse_frequency(frequency)
    return Subscriber(name=name or address, channel=channel, address=address, profile=json.dumps(profiles),
                      timezone=timezone, delivery_time=time, frequency=freq, weekday=weekday,
                      max_items=max_items, threshold=threshold, origin=origin)
