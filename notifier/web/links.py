"""The links a digest carries: manage page, one-click unsubscribe, per-paper votes, the digest as a
web page (named by its subscriber and digest day: its delivery's key). Pure: the
base URL and the signing key come in; nothing is read or written. No base URL or no key: no
links (the digest then falls back to the mailto unsubscribe, if configured)."""
from __future__ import annotations

from notifier.models import DigestLinks
from notifier.web.tokens import Signer, Token


def url(base: str, path: str, token: str) -> str:
    return f"{base.rstrip('/')}/{path}/{token}"


def manage_url(base: str, signer: Signer, subscriber_id: int) -> str:
    return url(base, "manage", signer.sign(Token("manage", subscriber_id)))


def unsubscribe_url(base: str, signer: Signer, subscriber_id: int) -> str:
    return url(base, "unsubscribe", signer.sign(Token("unsubscribe", subscriber_id)))


def vote_url(base: str, signer: Signer, subscriber_id: int, paper_id: str, vote: int) -> str:
    return url(base, "vote", signer.sign(Token("vote", subscriber_id, paper_id, vote)))


def browser_url(base: str, signer: Signer, subscriber_id: int, day: str) -> str:
    return url(base, "digest", signer.sign(Token("digest", subscriber_id, day=day)))


def digest_links(base: str, secret: str | None, subscriber_id: int, paper_ids: list[str],
                 day: str | None = None) -> DigestLinks | None:
    """``day``: the digest day of the delivery, for its web page ("View this digest in your browser")."""
    if not base or not secret:
        return None
    signer = Signer(secret)
    votes = {p: (vote_url(base, signer, subscriber_id, p, 1), vote_url(base, signer, subscriber_id, p, -1))
             for p in paper_ids}
    return DigestLinks(manage=manage_url(base, signer, subscriber_id),
                       unsubscribe=unsubscribe_url(base, signer, subscriber_id), votes=votes,
                       browser=browser_url(base, signer, subscriber_id, day) if day else "")


def links_for(config, subscriber_id: int, paper_ids: list[str], env: dict | None = None,
              day: str | None = None) -> DigestLinks | None:
    """The configured base URL and key (``[web] public_url``, ``secret_env``) -> the links, or None."""
    from notifier.config import read_secret

    base = config.web.public_url or config.general.public_url
    return digest_links(base, read_secret(config.web.secret_env, env), subscriber_id, paper_ids, day)
