"""A stand-in for the Slack Web API and incoming webhooks on 127.0.0.1, recording every call.

Like Slack it keeps what it is sent: each ``chat.postMessage`` goes into its channel's history
(``conversations.history``: top-level messages only, newest first, none older than ``oldest``,
``limit`` of them a page, the next page at the ``cursor`` it names, metadata only with
``include_all_metadata``), a reply into its thread (``conversations.replies``: the
parent, then the replies oldest first). So a sender that looks for what it posted finds it.
With ``hold_at`` = N the N-th message it takes (a post or a webhook's) is kept, but its answer
held until ``release`` is set: Slack has the message, the sender has no answer yet.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakeSlack:
    """A stand-in for the Slack Web API and a webhook endpoint on 127.0.0.1."""

    def __init__(self, hold_at: int = 0):
        self.calls = []            # (path, payload)
        self.replies = {}          # path -> list of (status, headers, body) to give first
        self.history = {}          # channel id -> its top-level messages, newest first
        self.channels = {}         # "#name" -> the id its posts answer with (conversations.list)
        self.threads = {}          # summary ts -> its replies, oldest first
        self.hold_at, self.taken = hold_at, 0
        self.held, self.release = threading.Event(), threading.Event()
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    payload = json.loads(raw or "{}")
                else:
                    payload = {k: v[0] for k, v in parse_qs(raw).items()}
                payload["_auth"] = self.headers.get("Authorization")
                fake.calls.append((self.path, payload))
                queue = fake.replies.get(self.path)
                if queue:
                    status, headers, body = queue.pop(0)
                else:
                    status, headers, body = 200, {}, fake.answer(self.path, payload)
                payload["_status"] = status
                if status == 200 and _message(self.path):
                    fake.hold_if_due()
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass                   # the sender was killed while its answer was held

            do_GET = do_POST           # a redirected POST arrives as a GET: recorded all the same

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path, payload):
        if path.endswith("/conversations.open"):
            return {"ok": True, "channel": {"id": "D" + payload["users"]}}
        if path.endswith("/chat.postMessage"):
            return self.post(payload)
        if path.endswith("/conversations.list"):
            return {"ok": True, "channels": [{"id": i, "name": n[1:]} for n, i in self.channels.items()]}
        if path.endswith("/conversations.history"):        # as Slack: an id, never a "#name"
            if payload["channel"].startswith("#"):
                return {"ok": False, "error": "channel_not_found"}
            messages, start = self.history.get(payload["channel"], []), int(payload.get("cursor") or 0)
            messages = [m for m in messages if float(m["ts"]) >= float(payload.get("oldest") or 0)]
            end = start + int(payload.get("limit", 100))
            more = {"response_metadata": {"next_cursor": str(end)}} if len(messages) > end else {}
            return {"ok": True, "messages": _shown(messages[start:end], payload), "has_more": bool(more), **more}
        if path.endswith("/conversations.replies"):
            parent = next((m for m in self.history.get(payload["channel"], []) if m["ts"] == payload["ts"]), None)
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            return {"ok": True, "messages": _shown([parent, *self.threads.get(payload["ts"], [])], payload)}
        if path.startswith("/hook") or path.startswith("/actions/"):     # webhooks, a click's response_url
            return "ok"
        return {"ok": False, "error": "unknown_method"}

    def post(self, payload: dict) -> dict:
        """Keep a chat.postMessage as Slack does: in its channel's history, or a reply in its thread."""
        ts, channel = f"{int(time.time())}.{len(self.calls):06d}", payload["channel"]     # Slack's clock: now
        if channel.startswith("#"):
            channel = self.channels.setdefault(channel, "C" + channel.lstrip("#").upper()[:8])
        message = {"type": "message", "ts": ts, "text": payload.get("text"), "blocks": payload.get("blocks"),
                   "metadata": payload.get("metadata")}
        if "thread_ts" in payload:
            self.threads.setdefault(payload["thread_ts"], []).append({**message, "thread_ts": payload["thread_ts"]})
        else:
            self.history.setdefault(channel, []).insert(0, message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def hold_if_due(self) -> None:
        """Hold the answer to the ``hold_at``-th message taken until ``release``."""
        self.taken += 1
        if self.taken == self.hold_at:
            self.held.set()
            self.release.wait(30)

    def posts(self):
        return [p for path, p in self.calls if path.endswith("/chat.postMessage")]

    def hooks(self, path: str) -> list[dict]:
        """What reached one webhook URL path, in order."""
        return [p for where, p in self.calls if where == path]

    def accepted(self) -> list[tuple[str, dict]]:
        """(destination, payload) of every message Slack took: the webhook path, or the
        chat.postMessage channel."""
        return [(p["channel"] if path.endswith("/chat.postMessage") else path, p) for path, p in self.calls
                if p["_status"] == 200 and _message(path)]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _message(path: str) -> bool:
    """Whether a call to ``path`` posts a message: chat.postMessage, or a webhook's."""
    return path.endswith("/chat.postMessage") or path.startswith("/hook")


def _shown(messages: list[dict], payload: dict) -> list[dict]:
    """Messages as Slack lists them: their metadata only when asked for (``include_all_metadata``)."""
    if payload.get("include_all_metadata") in ("1", "true", True):
        return messages
    return [{k: v for k, v in m.items() if k != "metadata"} for m in messages]
