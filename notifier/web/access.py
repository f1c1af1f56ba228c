"""The access log of `notifier web`: one line per request (method, path, status, time taken),
through the project's handler like every other line (notifier/logs.py). A link's token is a key
to someone's subscription, so it never reaches the log. `notifier web --no-access-log` leaves it out.
A monitor polls /healthz every few seconds: those lines are debug (`notifier -v web`) unless it failed."""
from __future__ import annotations

import logging
import re
import time

from notifier.logs import event

log = logging.getLogger("notifier.web.access")
TOKEN_IN_PATH = re.compile(r"^(/(?:sent|confirm|subscribed|manage|unsubscribe|vote|digest)/)[^/]+")    # the routes with a token


def loggable(path: str) -> str:
    """A path for the log: a link's token is a key to someone's subscription, so it is left out."""
    return TOKEN_IN_PATH.sub(r"\1…", path)


def level(path: str, status: int | None) -> int:
    """A /healthz that answered ok is a monitor's poll, routine; any other request, or a failed poll, is news."""
    return logging.DEBUG if path == "/healthz" and status == 200 else logging.INFO


class AccessLog:
    """Inside UnderRoot (app.py), so it sees the app's paths; ``root``, the path of public_url, goes
    back in front: the line shows what the visitor asked for, whether or not the proxy stripped it."""

    def __init__(self, app, root: str = ""):
        self.app, self.root = app, root

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, answer = time.perf_counter(), {}

        async def noting_status(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:        # status left out when no answer began (the client went away first)
            status = answer.get("status")
            event(log, "request", level(scope["path"], status), method=scope["method"],
                  path=self.root + loggable(scope["path"]), status=status, ms=round((time.perf_counter() - started) * 1000))
