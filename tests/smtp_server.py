"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 recording what reaches DATA."""
import asyncio
import email
import socket
import threading
from email import policy


def free_port() -> int:
    # aiosmtpd's Controller cannot bind port 0 (aio-libs/aiosmtpd#388)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """Keeps every message that reached DATA, then waits ``delay`` before answering 250. With
    ``hold_at=n`` the n-th message's answer waits until ``release`` is set, so a kill lands
    exactly while that message is in flight: received by the server, not yet acknowledged."""

    def __init__(self, delay: float = 0.0, hold_at: int = 0):
        self.delay, self.hold_at = delay, hold_at
        self.held, self.release = threading.Event(), threading.Event()
        self.messages = []
        self.raw = []               # the bytes of each, as they came over the wire
        self.rcpt_replies = {}      # address -> list of replies to give, in order
        self.lock = threading.Lock()
        self.sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        queue = self.rcpt_replies.get(address)
        if queue:
            return queue.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
            self.raw.append(envelope.original_content or envelope.content)
            hold = len(self.messages) == self.hold_at
        if hold:
            self.held.set()
            for _ in range(1000):
                if self.release.is_set():
                    break
                await asyncio.sleep(0.01)
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 OK queued"

    def snapshot(self) -> list:
        with self.lock:
            return list(self.messages)

    def per_recipient(self) -> dict[str, set[str]]:
        ids: dict[str, set[str]] = {}
        for m in self.snapshot():
            ids.setdefault(m["To"], set()).add(m["Message-ID"])
        return ids
