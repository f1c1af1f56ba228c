"""ASGI middleware around the app: security headers, a request body limit, CSRF.

CSRF is asgi-csrf (double-submit cookie signed with itsdangerous, token checked in the form
body, so plain HTML forms work without JavaScript). Two routes are exempt by design: the
RFC 8058 one-click unsubscribe (a mail provider POSTs it with no cookie; the signed URL is the
authority) and Slack's interactivity endpoint (verified by Slack's request signature).
"""
from __future__ import annotations

from asgi_csrf import asgi_csrf

# Tokens live in URLs: a Referer never carries a path, only this site's origin (links to other
# sites say rel="noreferrer"). "no-referrer" also turned the Origin of this site's own forms into
# "null", which a plain-http host needs to tell them from another site's (sent_from).
REFERRER_POLICY = b"strict-origin"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", REFERRER_POLICY),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
CSRF_EXEMPT = ("/unsubscribe/", "/slack/")
CSRF_COOKIE = "csrftoken"      # asgi-csrf's cookie: one per browser, which the live previews' limit counts by
SLACK_BODY_BYTES = 1_000_000    # a Slack click carries the whole message clicked in: 50 blocks of papers, 25 KB and more


def exempt(path: str) -> bool:
    return path.startswith(CSRF_EXEMPT)


class Protected:
    """asgi-csrf skips requests without cookies unless their path is "in" always_protect: here
    every path is, except the exempt ones (a first-time visitor's forged POST is refused too)."""

    def __contains__(self, path: str) -> bool:
        return not exempt(path)


def with_csrf(app, secret: str, secure_cookie: bool, on_failure):
    """``on_failure(scope, send, reason)`` answers a refused request; ``scope[REPLAY]()`` gives it
    the body again (asgi-csrf has read it), so that a refused form can come back as typed."""
    return KeepBody(asgi_csrf(app, signing_secret=secret, signing_namespace="notifier.csrf",
                              always_protect=Protected(), skip_if_scope=lambda scope: exempt(scope["path"]),
                              cookie_name=CSRF_COOKIE, cookie_secure=secure_cookie, cookie_samesite="Strict",
                              send_csrf_failed=on_failure))


def sent_from(scope, own_origins: set[str]) -> str:
    """Where the browser says a form was sent from: "here" (a page of this site), "elsewhere", or ''
    when it does not say. Sec-Fetch-Site first (browsers send it over https and to localhost only);
    else Origin, which they send with every POST ("null" when a page's policy withholds it)."""
    headers = dict(scope["headers"])
    fetch_site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
    if fetch_site:
        return {"same-origin": "here", "same-site": "elsewhere", "cross-site": "elsewhere"}.get(fetch_site, "")
    origin = headers.get(b"origin", b"null").decode("latin-1")
    if origin == "null":
        return ""
    return "here" if origin in own_origins else "elsewhere"


REPLAY = "notifier.replay"      # scope key: -> a receive that hands the app the body read so far again


class KeepBody:
    """Keeps the request body as it is received (BodyLimit, outside, bounds it) and puts
    ``scope[REPLAY]`` in the scope: a receive that replays it, then receives on."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        kept: list[dict] = []

        async def keeping():
            message = await receive()
            kept.append(message)
            return message

        def replay():
            queue = list(kept)
            return lambda: _next(queue, receive)

        await self.app({**scope, REPLAY: replay}, keeping, send)


async def _next(queue: list[dict], receive) -> dict:
    return queue.pop(0) if queue else await receive()


class SecurityHeaders:
    def __init__(self, app, hsts: bool = False):
        self.app = app
        self.extra = HEADERS + ([(b"strict-transport-security", b"max-age=31536000")] if hsts else [])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.extra if k not in names]
                if not scope["path"].startswith("/static/") and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))     # pages carry tokens and CSRF cookies
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (413) before reading them; Slack's signed
    endpoint takes up to SLACK_BODY_BYTES. A body must declare its length (browsers, curl, mail
    providers and Slack do); uvicorn holds a client to what it declared, so the body can never
    grow past the check."""

    def __init__(self, app, limit: int, refuse):
        self.app, self.limit, self.refuse = app, limit, refuse

    def limit_for(self, path: str) -> int:
        return max(self.limit, SLACK_BODY_BYTES) if path.startswith("/slack/") else self.limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            length = dict(scope["headers"]).get(b"content-length")
            if length is None or not length.isdigit():
                return await self.refuse(scope, send, 411)
            if int(length) > self.limit_for(scope["path"]):
                return await self.refuse(scope, send, 413)
        await self.app(scope, receive, send)
