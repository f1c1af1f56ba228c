"""A stand-in for Hugging Face Daily Papers on 127.0.0.1, driven by the production fetcher.

``days[D]`` holds the items of day D: ``/api/daily_papers?date=D&limit=N&p=K`` answers them a page
at a time, and the HTML day page ``/papers/date/D`` carries the same items in its DailyPapers
hydration data. ``rss[C]`` is the current arXiv RSS listing of category C at ``/rss/C``, with an
ETag (its SHA-256, as arXiv's) and a 304 for an ``If-None-Match`` naming it (as arXiv's CDN may).
With ``down`` set every request gets 503. With ``clamp`` set a day without items is answered with
the newest day that has some, as HF answers a day it has not published. ``paths`` records what was asked.

``fail`` names another way a real server fails, for every request until it is set back to None
(``FAILURES``): ``500``; ``429`` with a Retry-After of an hour; ``hang`` (the request is read and
never answered, until ``close``); ``truncated`` (the connection closes halfway through the body);
``cut json`` (a complete response whose JSON stops halfway, as a proxy's broken cache serves it);
``html 200`` (a maintenance page with status 200); ``empty`` (every day answered with no items);
``another day`` (every day answered with the items of ``days``' newest day).
"""
import hashlib
import json
import sys
import threading
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

FAILURES = ("500", "429", "hang", "truncated", "cut json", "html 200", "empty", "another day")
MAINTENANCE = "<!DOCTYPE html><html><head><title>Hugging Face is down for maintenance</title></head></html>"


class QuietServer(ThreadingHTTPServer):
    """A client that hangs up (a fetcher that stopped reading at its size limit) is no error of
    the stand-in's: its traceback on stderr broke a test reading the command's stderr."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class HFStandIn:
    def __init__(self):
        self.days: dict[str, list] = {}
        self.rss: dict[str, str] = {}
        self.down = False
        self.clamp = False
        self.fail: str | None = None
        self.paths: list[str] = []
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                if outer.down or outer.fail in ("500", "429"):
                    status = {"429": 429, "500": 500}.get(outer.fail, 503)
                    self.bodiless(status, {"Retry-After": "3600"} if status == 429 else {})
                elif outer.fail == "hang":
                    outer.closing.wait(10)
                    self.close_connection = True
                else:
                    body, ctype = (MAINTENANCE, "text/html") if outer.fail == "html 200" else outer.answer(self.path)
                    self.reply(body.encode(), ctype)

            def bodiless(self, status: int, headers: dict) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def reply(self, data: bytes, ctype: str) -> None:
                """200 with ``data``, cut halfway when ``fail`` says so; an RSS listing with its
                ETag, or 304 for an If-None-Match naming it."""
                etag = f'"{hashlib.sha256(data).hexdigest()}"' if self.path.startswith("/rss/") else None
                if etag and self.headers.get("If-None-Match") == etag:
                    return self.bodiless(304, {"ETag": etag})
                cut = outer.fail in ("truncated", "cut json")
                self.send_response(200)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data) // 2 if outer.fail == "cut json" else len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2] if cut else data)
                self.close_connection = cut

            def log_message(self, *args):
                pass

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, path: str) -> tuple[str, str]:
        url = urlparse(path)
        query = parse_qs(url.query)
        if url.path.startswith("/rss/"):
            return self.rss[url.path.rsplit("/", 1)[-1]], "application/rss+xml"
        if url.path.startswith("/api/"):
            limit, page = int(query.get("limit", ["100"])[0]), int(query.get("p", ["0"])[0])
            items = self.items_of(query.get("date", [""])[0])
            return json.dumps(items[page * limit:(page + 1) * limit]), "application/json"
        props = escape(json.dumps({"dailyPapers": self.items_of(url.path.rsplit("/", 1)[-1])}))
        return f'<html><body><div data-target="DailyPapers" data-props="{props}"></div></body></html>', "text/html"

    def items_of(self, day: str) -> list:
        """The items served for ``day`` (a subclass may serve every day)."""
        published = [d for d, items in self.days.items() if items]
        if self.fail == "empty":
            return []
        if self.fail == "another day" and published:
            return self.days[max(published)]
        if self.clamp and day not in published and published:
            return self.days[max(published)]
        return self.days.get(day, [])

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def rss_listing(*ids: str, announce: str = "new", version: str = "v1") -> str:
    """An arXiv RSS listing (docs/SOURCES.md) of papers with these ids, for ``rss``: new ones, or
    of another ``announce`` type (cross, replace, ...)."""
    items = "".join(f"<item><title>Paper {i}</title><link>https://arxiv.org/abs/{i}</link>"
                    f"<description>arXiv:{i}{version} Announce Type: {announce} \nAbstract: A study.</description>"
                    f"<guid>oai:arXiv.org:{i}{version}</guid><arxiv:announce_type>{announce}</arxiv:announce_type>"
                    f"<dc:creator>A B</dc:creator></item>" for i in ids)
    return ('<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            f'version="2.0"><channel><title>cs.LG updates on arXiv.org</title>{items}</channel></rss>')
