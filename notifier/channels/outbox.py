"""The local "delivery": .eml files (open in any mail client) and Slack payloads as .json in a
folder. Written atomically (temp file + rename); a digest's file name comes from the delivery key,
so sending the same delivery again overwrites instead of duplicating. Short plain messages
(operator alerts, the web's confirmation mails) are .txt files named after their subject."""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from notifier.channels.base import Channel, SendResult
from notifier.models import Digest
from notifier.outbox import State
from notifier.paths import file_in_the_way


MAX_NAME_WORDS = 60        # characters of a subject in a text message's file name


def safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") or "delivery"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def text_file_name(subject: str, stamp: str) -> str:
    """A short plain message's file, named after what it is: its subject's words and when
    ('confirm-your-paper-digest-subscription-<stamp>.txt', 'digest-notifier-needs-attention-<stamp>.txt'):
    all were 'alert-<stamp>.txt', a web visitor's confirmation mail too."""
    words = re.sub(r"[^a-z0-9]+", "-", subject.lower())[:MAX_NAME_WORDS].strip("-")
    return f"{words or 'message'}-{stamp}.txt"


def dangling_link(folder: Path) -> Path | None:
    """A symbolic link to nothing standing where ``folder``, or a folder above it, should be
    (creating it fails with a bare "File exists"); None when there is none."""
    return next((p for p in (folder, *folder.parents) if p.is_symlink() and not p.exists()), None)


def write_error(folder: Path, err: OSError) -> str:
    """Why the outbox ``folder`` could not be written, in one line."""
    link = dangling_link(folder)
    if link is not None:
        return (f"could not write to outbox {folder}: {'it' if link == folder else link} is a symbolic link to "
                f"{os.readlink(link)}, which does not exist: create that folder, or remove the link")
    there = file_in_the_way(folder)
    if there is not None:
        return f"could not write to outbox {folder}: {'it' if there == folder else there} is a file, not a folder"
    return f"could not write to outbox {folder}: {err}"


class OutboxChannel(Channel):
    name = "outbox"

    @property
    def label(self) -> str:
        return f"outbox {self.folder}"

    def __init__(self, *, folder: str | os.PathLike, kind: str = "email", from_addr: str = "digest-notifier <notifier@localhost>",
                 unsubscribe_mailto: str | None = None, unsubscribe_url: str | None = None,
                 template_dir: str | None = None):
        self.folder = Path(folder)
        self.kind = kind
        self.from_addr = from_addr
        self.unsubscribe_mailto = unsubscribe_mailto
        self.unsubscribe_url = unsubscribe_url
        self.template_dir = template_dir

    def send(self, digest: Digest) -> SendResult:
        key = digest.delivery_key or f"{digest.recipient.id}.{digest.day}"
        try:
            if self.kind == "slack" or digest.recipient.channel == "slack":
                from notifier.render import render_slack

                msg = render_slack(digest)
                path = self.folder / f"{safe_name(key)}.json"
                data = json.dumps({"channel": digest.recipient.address, "text": msg.text, "blocks": msg.blocks,
                                   "thread": msg.thread,
                                   "metadata": {"event_type": "notifier_digest", "event_payload": {"key": key}}},
                                  indent=2, ensure_ascii=False).encode("utf-8")
            else:
                from notifier.channels.email import build_message

                msg = build_message(digest, from_addr=self.from_addr, unsubscribe_mailto=self.unsubscribe_mailto,
                                    unsubscribe_url=self.unsubscribe_url, template_dir=self.template_dir)
                path = self.folder / f"{safe_name(key)}.eml"
                data = bytes(msg)
            write_atomic(path, data)
        except ValueError as e:        # not a single recipient address
            return SendResult(State.FAILED, error=str(e))
        except OSError as e:
            return SendResult(State.RETRY, error=write_error(self.folder, e))
        return SendResult(State.SENT, provider_ref=str(path))

    def send_text(self, address: str, subject: str, text: str) -> SendResult:
        from datetime import datetime, timezone

        path = self.folder / text_file_name(subject, datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f"))
        try:
            write_atomic(path, f"To: {address}\nSubject: {subject}\n\n{text}\n".encode("utf-8"))
        except OSError as e:
            return SendResult(State.RETRY, error=write_error(self.folder, e))
        return SendResult(State.SENT, provider_ref=str(path))
