"""Signed, expiring tokens for links: each is bound to one subscriber (or sign-up), one purpose
and an age limit. itsdangerous signs them (HMAC-SHA1 over the payload and a timestamp); the
purpose is the salt, so a token made for one purpose never verifies for another."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

PURPOSES = ("confirm", "manage", "unsubscribe", "vote", "sent", "digest")     # "sent": the address a sign-up mailed (a cookie)


class TokenError(Exception):
    """A token that does not verify: ``expired`` tells an old link from a tampered one."""

    def __init__(self, message: str, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class Token:
    purpose: str
    subject: int                 # subscriber id (sign-up id for "confirm")
    paper: str | None = None     # votes: the paper
    vote: int = 0                # votes: +1 / -1
    day: str | None = None       # digest: its digest day, YYYY-MM-DD (with the subscriber, its delivery's key)
    issued: datetime | None = field(default=None, compare=False)   # when it was signed (verify sets it), whole seconds


class Signer:
    def __init__(self, secret: str):
        if not secret:
            raise ValueError("an empty signing key")
        self._secret = secret

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        return URLSafeTimedSerializer(self._secret, salt=f"notifier.{purpose}")

    def sign(self, token: Token) -> str:
        payload = [token.subject] + {"vote": [token.paper, token.vote], "digest": [token.day]}.get(token.purpose, [])
        return self._serializer(token.purpose).dumps(payload)

    def sign_sent(self, signup: dict) -> str:
        """The "Check your inbox" page's cookie (never its URL): the sign-up it answers (web/inbox.py)."""
        return self._serializer("sent").dumps(signup)

    def verify_sent(self, text: str, max_age_seconds: int) -> dict | str:
        """The sign-up; an older version's cookie held the address alone (a str)."""
        signup = self._loads("sent", text, max_age_seconds)[0]
        if not isinstance(signup, (dict, str)):
            raise TokenError("this page's cookie is not a sign-up")
        return signup

    def _loads(self, purpose: str, text: str, max_age_seconds: int) -> tuple[object, datetime]:
        """-> (payload, when it was signed)."""
        try:
            return self._serializer(purpose).loads(text, max_age=max_age_seconds, return_timestamp=True)
        except SignatureExpired:
            raise TokenError("this link has expired", expired=True) from None
        except BadSignature:
            raise TokenError("this link is not valid (it was changed or cut short)") from None

    def verify(self, purpose: str, text: str, max_age_seconds: int) -> Token:
        payload, issued = self._loads(purpose, text, max_age_seconds)
        if purpose == "vote":
            subject, paper, vote = payload
            return Token(purpose, int(subject), str(paper), int(vote), issued=issued)
        if purpose == "digest":
            return Token(purpose, int(payload[0]), day=str(payload[1]), issued=issued)
        return Token(purpose, int(payload[0]), issued=issued)
