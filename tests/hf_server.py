"""A stand-in for Hugging Face Daily Papers on 127.0.0.1, driven by the production fetcher.

``days[D]`` holds the items of day D: ``/api/daily_papers?date=D&limit=N&p=K`` answers them a page
at a time, and the HTML day page ``/papers/date/D`` carries the same items in its DailyPapers
hydration data. ``rss[C]`` is the current arXiv RSS listing of category C at ``/rss/C``, with an
ETag (its SHA-256, as arXiv's) and a 304 for an ``If-None-Match`` naming it (as arXiv's CDN may).
With ``down`` set every request gets 503. With ``clamp`` set a day without items is answered with
the newest day that has some, as HF answers a day it has not published. ``paths`` records what was asked.
"""
import hashlib
import json
import threading
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class HFStandIn:
    def __init__(self):
        self.days: dict[str, list] = {}
        self.rss: dict[str, str] = {}
        self.down = False
        self.clamp = False
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.paths.append(self.path)
                if outer.down:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, ctype = outer.answer(self.path)
                data = body.encode()
                etag = f'"{hashlib.sha256(data).hexdigest()}"' if self.path.startswith("/rss/") else None
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
        if self.clamp and day not in published and published:
            return self.days[max(published)]
        return self.days.get(day, [])

    def close(self) -> None:
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
