"""A stand-in for the Slack Web API and incoming webhooks on 127.0.0.1, recording every call."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakeSlack:
    """A stand-in for the Slack Web API and a webhook endpoint on 127.0.0.1."""

    def __init__(self):
        self.calls = []            # (path, payload)
        self.replies = {}          # path -> list of (status, headers, body) to give first
        self.history = []
        self.channels = {}         # "#name" -> the id its posts answer with (conversations.list)
        self.threads = {}          # summary ts -> its replies, as conversations.replies lists them
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
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST           # a redirected POST arrives as a GET: recorded all the same

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path, payload):
        if path.endswith("/conversations.open"):
            return {"ok": True, "channel": {"id": "D" + payload["users"]}}
        if path.endswith("/chat.postMessage"):
            ts, channel = f"1700000000.{len(self.calls):06d}", payload["channel"]
            if channel.startswith("#"):
                channel = self.channels.setdefault(channel, "C" + channel.lstrip("#").upper()[:8])
            if "thread_ts" in payload:
                self.threads.setdefault(payload["thread_ts"], []).append(
                    {"ts": ts, "thread_ts": payload["thread_ts"], "metadata": payload.get("metadata")})
            return {"ok": True, "channel": channel, "ts": ts}
        if path.endswith("/conversations.list"):
            return {"ok": True, "channels": [{"id": i, "name": n[1:]} for n, i in self.channels.items()]}
        if path.endswith("/conversations.history"):        # as Slack: an id, never a "#name"
            if payload["channel"].startswith("#"):
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "messages": self.history}
        if path.endswith("/conversations.replies"):
            return {"ok": True, "messages": [{"ts": payload["ts"]}, *self.threads.get(payload["ts"], [])]}
        if path.startswith("/hook") or path.startswith("/actions/"):     # webhooks, a click's response_url
            return "ok"
        return {"ok": False, "error": "unknown_method"}

    def posts(self):
        return [p for path, p in self.calls if path.endswith("/chat.postMessage")]

    def hooks(self, path: str) -> list[dict]:
        """What reached one webhook URL path, in order."""
        return [p for where, p in self.calls if where == path]

    def accepted(self) -> list[tuple[str, dict]]:
        """(destination, payload) of every message Slack took: the webhook path, or the
        chat.postMessage channel."""
        return [(p["channel"] if path.endswith("/chat.postMessage") else path, p) for path, p in self.calls
                if p["_status"] == 200 and (path.endswith("/chat.postMessage") or path.startswith("/hook"))]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
