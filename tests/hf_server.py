"""A stand-in for Hugging Face Daily Papers on 127.0.0.1, driven by the production fetcher.

``days[D]`` holds the items of day D: ``/api/daily_papers?date=D&limit=N&p=K`` answers them a page
at a time, and the HTML day page ``/papers/date/D`` carries the same items in its DailyPapers
hydration data. With ``down`` set every request gets 503. ``paths`` records what was asked.
"""
import json
import threading
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class HFStandIn:
    def __init__(self):
        self.days: dict[str, list] = {}
        self.down = False
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
                self.send_response(200)
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
        if url.path.startswith("/api/"):
            limit, page = int(query.get("limit", ["100"])[0]), int(query.get("p", ["0"])[0])
            items = self.items_of(query.get("date", [""])[0])
            return json.dumps(items[page * limit:(page + 1) * limit]), "application/json"
        props = escape(json.dumps({"dailyPapers": self.items_of(url.path.rsplit("/", 1)[-1])}))
        return f'<html><body><div data-target="DailyPapers" data-props="{props}"></div></body></html>', "text/html"

    def items_of(self, day: str) -> list:
        """The items served for ``day`` (a subclass may serve every day)."""
        return self.days.get(day, [])

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
