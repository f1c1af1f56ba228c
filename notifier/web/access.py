"""The access log of `notifier web`: one line per request (method, path, status, time taken),
through the project's handler like every other line (notifier/logs.py). A link's token is a key
to someone's subscription, so it never reaches the log. `notifier web --no-access-log` leaves it out."""
from __future__ import annotations

import logging
import re
import time

from notifier.logs import event

log = logging.getLogger("notifier.web.access")
TOKEN_IN_PATH = re.compile(r"^(/(?:sent|confirm|subscribed|manage|unsubscribe|vote)/)[^/]+")    # the routes with a token


def loggable(path: str) -> str:
    """A path for the log: a link's token is a key to someone's subscription, so it is left out."""
    return TOKEN_IN_PATH.sub(r"\1…", path)


class AccessLog:
    def __init__(self, app):
        self.app = app

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
            event(log, "request", method=scope["method"], path=loggable(scope["path"]), status=answer.get("status"),
                  ms=round((time.perf_counter() - started) * 1000))
