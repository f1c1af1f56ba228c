"""What "Check your inbox" keeps of the sign-up it answers: the form as typed, and whether the
address was subscribed already (then it was mailed a note, not a link to confirm). It is signed into
a cookie sent to that page's URL alone (``WebApp.to_sent``), never put in a URL (URLs end up in the
history, logs, screenshots). The page names the address from it, and its "Wrong address? Correct
it" refills the form from it on the server, so with JavaScript off too, and in this browser alone.
Pure: the signer comes in."""
from __future__ import annotations

from dataclasses import dataclass, replace

from notifier.web.forms import Fields
from notifier.web.tokens import Signer

COOKIE = "sent"
MAX_BYTES = 3900      # a cookie's name, value and attributes: browsers keep 4,096 bytes of them (RFC 6265), drop more
TYPED = ("email", "keywords", "time", "timezone", "frequency", "weekday", "max_items", "more")   # Fields as typed


@dataclass(frozen=True)
class Sent:
    fields: Fields
    subscribed: bool          # the address was subscribed when it signed up
    lost: str = ""            # what the cookie could not hold: "keywords" (too long), "settings" (older())


def cookie(signer: Signer, f: Fields, subscribed: bool) -> str:
    """The signed cookie; without the keywords when they would make it longer than a browser keeps
    (some 1,600 characters of Chinese)."""
    typed = {name: getattr(f, name) for name in TYPED}
    value = signer.sign_sent({"typed": typed, "subscribed": subscribed})
    if len(COOKIE) + len(value) <= MAX_BYTES:
        return value
    return signer.sign_sent({"typed": {**typed, "keywords": [""]}, "subscribed": subscribed})


def read(signer: Signer, value: str, max_age_seconds: int, blank: Fields) -> Sent:
    """The sign-up a cookie holds, over the ``blank`` form's defaults; TokenError for one forged,
    expired or missing."""
    signup = signer.verify_sent(value, max_age_seconds)
    if isinstance(signup, str):
        return older(signup, blank)
    f = Fields(**signup["typed"], default_more=blank.default_more)
    return Sent(f, bool(signup["subscribed"]), lost="" if f.texts() else "keywords")


def older(address: str, blank: Fields) -> Sent:
    """The cookie of an older version, which held the address alone: set before an upgrade, it still
    comes for up to confirm_hours after it. Whether the address was subscribed then is unknown, so
    it is taken as subscribed: the page never turns to "confirmed", which would tell whoever typed
    the address that it is subscribed here."""
    return Sent(replace(blank, email=address), subscribed=True, lost="settings")
