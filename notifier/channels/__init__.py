"""Senders and the pool of one delivery batch.

A subscriber's destination decides the sender that serves them:

    email, [email] host set             -> EmailChannel (one SMTP connection shared by the batch)
    slack, webhook:NAME or https:// URL  -> SlackWebhook for that URL (NAME's secret must be set)
    slack, bot target with a token      -> SlackChannel (chat.postMessage; the target is the digest's)
    anything else                        -> OutboxChannel (files in the outbox folder)

``Senders`` keeps one sender per destination, keyed by everything the sender object holds
(settings, credential, URL), so a sender never carries one subscriber's destination while
serving another; it is opened and closed by one delivery batch (``with Senders(config) as s``).
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from typing import Callable

from notifier.batching import batched
from notifier.channels.base import Channel, SendResult, Unavailable
from notifier.config import read_secret
from notifier.logs import event

__all__ = ["Channel", "PreparedAhead", "SendResult", "Senders", "send_text", "sender_spec"]

log = logging.getLogger("notifier.channels")


def sender_spec(config, kind: str, address: str, env: dict | None = None) -> tuple[type, dict]:
    """-> (sender class, its constructor arguments) for one destination."""
    g, e = config.general, config.email
    if kind == "email" and e.host:
        from notifier.channels.email import EmailChannel

        return EmailChannel, dict(host=e.host, port=e.port, security=e.security, username=e.username or None,
                                  password=read_secret(e.password_env, env), password_env=e.password_env, from_addr=e.from_,
                                  timeout_seconds=e.timeout_seconds, ca_file=e.ca_file or None,
                                  unsubscribe_mailto=e.unsubscribe_mailto or None, template_dir=g.template_dir or None)
    if kind == "slack":
        spec = _slack_spec(config, address, env)
        if spec is not None:
            return spec
    from notifier.channels.outbox import OutboxChannel

    return OutboxChannel, dict(folder=config.outbox_dir, kind=kind, from_addr=e.from_,
                               unsubscribe_mailto=e.unsubscribe_mailto or None, template_dir=g.template_dir or None)


def _slack_spec(config, address: str, env: dict | None) -> tuple[type, dict] | None:
    from notifier.channels.slack import SlackChannel, SlackWebhook

    pace = config.slack.min_interval_seconds
    if address.startswith("webhook:"):
        # the webhook URL is a secret: it lives in the environment or a systemd credential
        name = address.split(":", 1)[1]
        url = read_secret(name, env)
        if not url:
            return Unavailable, dict(name="slack webhook", reason=f"Slack webhook secret {name} is not set: set the environment "
                                            f"variable {name} or a systemd credential named {name}")
        return SlackWebhook, dict(url=url, min_interval_seconds=pace)
    if address.startswith("https://"):
        return SlackWebhook, dict(url=address, min_interval_seconds=pace)
    token = read_secret(config.slack.token_env, env)
    if token:
        return SlackChannel, dict(token=token, api_url=config.slack.api_url, min_interval_seconds=pace)
    return None


class Senders:
    """The senders of one delivery batch, one per destination; ``close()`` closes them all."""

    def __init__(self, config, env: dict | None = None):
        self.config, self.env = config, env
        self._open: dict[tuple, Channel] = {}

    def get(self, kind: str, address: str) -> Channel:
        cls, kwargs = sender_spec(self.config, kind, address, self.env)
        key = (cls, *sorted(kwargs.items()))
        if key not in self._open:
            self._open[key] = cls(**kwargs)
        return self._open[key]

    def halted(self) -> list[tuple[str, str]]:
        """(sender label, why it stopped) for every sender that stopped this batch."""
        return [(s.label, s.halted) for s in self._open.values() if s.halted]

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()

    def __enter__(self) -> "Senders":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


def send_text(config, address: str, subject: str, text: str, env: dict | None = None) -> SendResult:
    """A short plain message to one address or Slack target (operator alerts, web mails)."""
    from notifier.subscribers import channel_of

    with Senders(config, env) as senders:
        return senders.get(channel_of(address), address).send_text(address, subject, text)


# ----------------------------------------------------------------------------- messages prepared ahead
AHEAD_CHUNK = 8            # messages per task handed to the preparing process
AHEAD_TASKS = 8            # tasks queued at once: at most 64 messages prepared and not yet sent
PARENT_POLL_SECONDS = 0.5  # the preparing process ends this soon after its parent died


class PreparedAhead:
    """The messages of one big batch, rendered and flattened in a second process (the machine's
    other core) in the batch's order, while this process claims, sends and records each one.
    Only pure work leaves this process: a message prepared ahead is sent only after its claim,
    exactly as one prepared in line (same bytes, same Message-ID), so a crash re-sends at most the
    one in flight. ``take(id)`` -> (message, number of papers) for that job, or None when it was
    not prepared ahead (not in the jobs, or the other process failed at it or died): the caller
    then prepares it in line, with its usual error handling. Jobs skipped by the caller are dropped.

    ``build(*job) -> Digest`` and ``prepare(digest, **settings) -> message`` run in the other
    process: they and their arguments must pickle (module-level functions, plain data)."""

    def __init__(self, build: Callable, prepare: Callable, settings: dict, jobs: dict):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the daemon has threads (scheduler, lease renewal) a fork would copy mid-way
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start_preparing, initargs=(os.getpid(), build, prepare, settings))
        self._chunks = batched(list(jobs.items()), AHEAD_CHUNK)      # jobs: id -> build's arguments
        self._queued: deque = deque()           # (ids, future) in job order
        self._ready: deque = deque()            # (id, prepared or None) of the oldest finished task
        self._fill()

    @classmethod
    def none(cls) -> "PreparedAhead":
        """Nothing prepared ahead: every message is prepared in line."""
        ahead = cls.__new__(cls)
        ahead._pool, ahead._queued, ahead._ready, ahead._chunks = None, deque(), deque(), iter(())
        return ahead

    def take(self, job_id) -> tuple | None:
        while self._ready or self._queued:
            if not self._ready:
                self._collect()
            elif self._ready[0][0] == job_id:
                return self._ready.popleft()[1]
            else:
                self._ready.popleft()
        return None

    def _collect(self) -> None:
        ids, future = self._queued.popleft()
        try:
            self._ready.extend(zip(ids, future.result()))
        except Exception as err:                # the process died: the rest is prepared in line
            self._stop(err)
        self._fill()

    def _fill(self) -> None:
        while len(self._queued) < AHEAD_TASKS:
            chunk = next(self._chunks, None)
            if chunk is None:
                return
            try:
                future = self._pool.submit(_prepare_chunk, [args for _, args in chunk])
            except Exception as err:            # the process cannot start
                return self._stop(err)
            self._queued.append(([i for i, _ in chunk], future))

    def _stop(self, err: Exception) -> None:
        event(log, "preparing messages ahead stopped, preparing them in line", logging.WARNING,
              error=f"{type(err).__name__}: {err}")
        self._queued.clear()
        self._chunks = iter(())

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "PreparedAhead":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


_preparing: dict = {}          # in the preparing process: what _start_preparing was given


def _start_preparing(parent: int, build: Callable, prepare: Callable, settings: dict) -> None:
    _preparing.update(build=build, prepare=prepare, settings=settings)
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the parent's to handle; it ends this process
    threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with(parent: int) -> None:
    """A parent killed mid-batch (SIGKILL, OOM) would leave this process waiting for work forever."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(0)


def _prepare_chunk(jobs: list[tuple]) -> list[tuple | None]:
    out = []
    for job in jobs:
        try:
            digest = _preparing["build"](*job)
            out.append((_preparing["prepare"](digest, **_preparing["settings"]), len(digest.items)))
        except Exception:      # prepared again in line, where its error is reported as usual
            out.append(None)
    return out
