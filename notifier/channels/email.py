"""Email: build one multipart/alternative message per digest and send it over SMTP, one
connection per batch (every email subscriber of the batch shares it)."""
from __future__ import annotations

import binascii
import email.policy
import functools
import random
import re
import smtplib
import ssl
import sys
import unicodedata
from dataclasses import dataclass
from email.headerregistry import Address, HeaderRegistry, UniqueUnstructuredHeader, UnstructuredHeader
from email.message import EmailMessage
from email.parser import HeaderParser
from email.utils import format_datetime, formatdate, getaddresses, make_msgid, parseaddr
from datetime import datetime

from notifier.channels.base import Channel, SendResult
from notifier.models import Digest
from notifier.outbox import State


def _clean(s: str) -> str:
    """No CR/LF (or other control characters) ever reaches a header; an invisible one (a bidi
    isolate around a profile's right-to-left term, an emoji's joiner) is left out, not made a space
    ("on ذاكرة , MoE")."""
    return " ".join("".join(c if c.isprintable() else "" if unicodedata.category(c) == "Cf" else " "
                            for c in (s or "")).split())


def message_id(delivery_key: str, domain: str) -> str:
    key = "".join(c if c.isalnum() or c in ".-_" else "." for c in delivery_key) or "digest"
    return f"<{key}@{domain}>"


def sender_problem(from_addr: str) -> str | None:
    """Why no message can be sent from this address (a configuration problem), else None."""
    if "@" not in parseaddr(_clean(from_addr))[1]:
        return f"[email] from: {from_addr!r} is not an email address"
    return None


def build_message(digest: Digest, *, from_addr: str, unsubscribe_mailto: str | None = None,
                  unsubscribe_url: str | None = None, template_dir: str | None = None,
                  now: datetime | None = None) -> EmailMessage:
    """Raises ValueError naming the address when the sender or recipient is not one address."""
    return _assemble(*_message_parts(digest, from_addr=from_addr, unsubscribe_mailto=unsubscribe_mailto,
                                     unsubscribe_url=unsubscribe_url, template_dir=template_dir, now=now))


def _message_parts(digest: Digest, *, from_addr: str, unsubscribe_mailto: str | None = None,
                   unsubscribe_url: str | None = None, template_dir: str | None = None,
                   now: datetime | None = None) -> tuple[list[tuple[str, object]], object]:
    """-> (the headers in order, the rendered text and html). ValueError: see build_message."""
    from notifier.render import render_email

    problem = sender_problem(from_addr)
    if problem:
        raise ValueError(problem)
    name, addr = parseaddr(_clean(from_addr))
    to_addr = _clean(digest.recipient.address)
    parsed = getaddresses([to_addr])     # [('', '')] on 3.13 for what 3.11 splits in two
    if "@" not in to_addr or len(parsed) != 1 or not parsed[0][1] or any(c in to_addr for c in ",;<> "):
        raise ValueError(f"not a single email address: {to_addr!r}")
    if digest.links:        # `notifier web` is set up: its one-click link (RFC 8058)
        unsubscribe_url = digest.links.unsubscribe
    rendered = render_email(digest, from_name=name or "digest-notifier", unsubscribe_mailto=unsubscribe_mailto,
                            unsubscribe_url=unsubscribe_url, template_dir=template_dir)
    domain = addr.rpartition("@")[2]
    user, _, host = to_addr.rpartition("@")
    headers: list[tuple[str, object]] = [
        ("Subject", _clean(rendered.subject)), ("From", Address(display_name=_clean(name), addr_spec=addr)),
        ("To", Address(username=user, domain=host)),     # not addr_spec=: it refuses 'usér@…' (SMTPUTF8 sends it)
        ("Date", format_datetime(now) if now else formatdate(localtime=False, usegmt=True)),
        ("Message-ID", message_id(digest.delivery_key or f"{digest.recipient.id}.{digest.day}", domain)),
        ("List-Id", f"Paper digest <digest.{domain}>")]
    unsub = []
    if unsubscribe_url:
        unsub.append(f"<{_clean(unsubscribe_url)}>")
    if unsubscribe_mailto:
        unsub.append(f"<mailto:{_clean(unsubscribe_mailto)}?subject=unsubscribe>")
    if unsub:
        headers.append(("List-Unsubscribe", ", ".join(unsub)))
    if one_click(unsubscribe_url):
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    headers.append(("Auto-Submitted", "auto-generated"))
    return headers, rendered


def one_click(unsubscribe_url: str | None) -> bool:
    """Whether a digest offers RFC 8058's one-click unsubscribe (List-Unsubscribe-Post): only at an
    https link, which the RFC requires of it. At an http link (``public_url`` http://...) a digest
    keeps that link and the mailto in List-Unsubscribe, for a person to follow, and `notifier
    config`, `run` and `serve` warn (``config.warn_unsubscribe_missing``)."""
    return bool(unsubscribe_url) and unsubscribe_url.lower().startswith("https://")


class ListUnsubscribe(UnstructuredHeader):
    """RFC 2369's list of <URI>s, written one a line and never encoded. The email package writes
    a line it cannot fold (a one-click link is ~80 characters) as RFC 2047 encoded-words,
    "=?utf-8?q?=3Chttps=3A//...", where no mail provider looks for a URI: Gmail's and Yahoo's
    one-click unsubscribe (RFC 8058) then found none. Lines stay far below RFC 5322's 998."""

    def fold(self, *, policy) -> str:
        value = str(self)
        uris = re.findall(r"<[^<>\s]*>", value)
        if not value.isascii() or not uris or ", ".join(uris) != value:
            return super().fold(policy=policy)
        return f"{self.name}: " + f",{policy.linesep} ".join(uris) + policy.linesep


_SPACE_AFTER_FOLD = re.compile(r"(\r?\n )=\?utf-8\?q\?_\?=")     # a space, encoded, just after a fold


class Subject(UniqueUnstructuredHeader):
    """A subject folded before an encoded word ("distillation —") keeps the space before the fold
    and gets the folding one too, which a mail client unfolds as two ("distillation  —"): Python
    3.11 leaves it at the end of the line, 3.13 encodes it after the fold ("=?utf-8?q?_?=").
    A subject with single spaces (every ``_clean`` one) keeps only the folding space, when the
    header then reads as the subject."""

    def fold(self, *, policy) -> str:
        folded = super().fold(policy=policy)
        if "  " in str(self):
            return folded
        once = _SPACE_AFTER_FOLD.sub(r"\1", folded.replace(f" {policy.linesep} ", f"{policy.linesep} "))
        return once if HeaderParser(policy=email.policy.default).parsestr(once)[self.name] == str(self) else folded


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("list-unsubscribe", ListUnsubscribe)
_HEADERS.map_to_type("subject", Subject)
_POLICY = email.policy.default.clone(header_factory=_HEADERS)


def _assemble(headers: list[tuple[str, object]], rendered) -> EmailMessage:
    msg = EmailMessage(policy=_POLICY)
    for name, value in headers:
        msg[name] = value
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


@dataclass
class Outgoing:
    """A message ready for the wire: its envelope and exactly the bytes to send. Plain data, so
    a big batch can have it made ahead in another process (``prepare``)."""
    ref: str                           # its Message-ID
    sender: str
    rcpts: list[str]
    data: bytes
    options: tuple = ()


def prepare(digest: Digest, now: datetime | None = None, **settings) -> Outgoing:
    """Render and flatten one digest (pure): the bytes ``build_message`` flattens to, made without
    building it where ``wire_bytes`` can. ``settings``: ``EmailChannel.settings``. Raises
    ValueError naming the address when the sender or recipient is not one address."""
    headers, rendered = _message_parts(digest, now=now, **settings)
    data = wire_bytes(headers, rendered.text, rendered.html)
    if data is None:
        return outgoing(_assemble(headers, rendered))
    fields = dict(headers)
    return Outgoing(fields["Message-ID"], fields["From"].addr_spec, [fields["To"].addr_spec], data)


# The email package builds a message as parsed header objects and re-encodes it when flattened:
# ~4 ms of a digest's 5.5 (rendering is 1.4). wire_bytes writes the same bytes directly.
_WIRE = _POLICY.clone(linesep="\r\n")
_AS_GIVEN = {"To": re.compile(r"[A-Za-z0-9._%+-]{1,40}@[A-Za-z0-9.-]{1,30}"),     # unique to each message, and
             "Message-ID": re.compile(r"<[A-Za-z0-9._-]{1,40}@[A-Za-z0-9.-]{1,20}>")}   # this plain: one line as given
CRLF = "\r\n"


def wire_bytes(headers: list[tuple[str, object]], text: str, html: str) -> bytes | None:
    """The bytes of an EmailMessage with these headers, ``set_content(text)`` and
    ``add_alternative(html, subtype="html")``, flattened with CRLF line ends (what SMTP sends)
    but for its random boundary. None when that message needs SMTPUTF8 (a non-ASCII address)
    or a body in base64 (mostly non-ASCII text): build it then. tests/test_send_speed.py compares both."""
    if not all(value.addr_spec.isascii() for name, value in headers if name in ("From", "To")):
        return None
    bodies = [_encoded(text), _encoded(html)]
    if None in bodies:
        return None
    boundary = _boundary(b"".join(payload for _, payload in bodies))
    out = ["".join(_folded(name, str(value)) for name, value in headers),
           f'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n']
    data = [("".join(out)).encode("ascii")]
    for i, (subtype, (cte, payload)) in enumerate(zip(("plain", "html"), bodies)):
        data.append(f'{"" if i == 0 else CRLF}--{boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
                    f"Content-Transfer-Encoding: {cte}\r\n{'' if i == 0 else 'MIME-Version: 1.0' + CRLF}\r\n"
                    .encode("ascii"))     # the alternative is a message of its own, with its MIME-Version
        data.append(payload)
    data.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return b"".join(data)


@functools.lru_cache(maxsize=4096)
def _folded(name: str, value: str) -> str:
    """One header line(s) as the email package folds it; a batch repeats most values (From, Date
    within a second, List-Id, subjects), so each is parsed once."""
    if name in _AS_GIVEN and _AS_GIVEN[name].fullmatch(value):
        return f"{name}: {value}\r\n"
    return _WIRE.header_factory(name, value).fold(policy=_WIRE)


def _encoded(body: str) -> tuple[str, bytes] | None:
    """(Content-Transfer-Encoding, the body's bytes with CRLF line ends) as ``set_content`` encodes
    a text part (email.contentmanager: 7bit, 8bit or quoted-printable); None for base64."""
    lines = body.encode("utf-8").splitlines()
    normal = b"\n".join(lines) + b"\n"
    limit = _WIRE.max_line_length
    if max((len(x) for x in lines), default=0) <= limit:
        return ("7bit" if normal.isascii() else "8bit"), normal.replace(b"\n", b"\r\n")
    head = b"\n".join(lines[:10]) + b"\n"
    sniff = _quoted_printable(head.decode("latin-1"), limit)
    if len(sniff) > len(binascii.b2a_base64(head)):
        return None
    payload = sniff if len(lines) <= 10 else _quoted_printable(normal.decode("latin-1"), limit)
    return "quoted-printable", payload.replace("\n", CRLF).encode("ascii")       # it has no other line ends


_QP_UNSAFE = re.compile(r"[^\t\r\n -~]+")         # with "=" (done first): what quoted-printable escapes
_QP_ESCAPES = {chr(i): f"={i:02X}" for i in range(256)}


def _quoted_printable(body: str, maxlinelen: int) -> str:
    """email.quoprimime.body_encode, line for line, but for its first step: it escapes with
    str.translate, a dictionary look-up per character (~1 ms for a digest's html). Here "=" is
    replaced in C and the few other characters to escape (non-ASCII, controls) one by one."""
    if not body:
        return body
    body = _QP_UNSAFE.sub(_qp_escape, body.replace("=", "=3D"))
    encoded: list[str] = []
    append = encoded.append
    for line in body.splitlines():
        start, laststart = 0, len(line) - 1 - maxlinelen
        while start <= laststart:                      # soft breaks, never inside an escape
            stop = start + maxlinelen - 1
            if line[stop - 2] == "=":
                append(line[start:stop - 1])
                start = stop - 2
            elif line[stop - 1] == "=":
                append(line[start:stop])
                start = stop - 1
            else:
                append(line[start:stop] + "=")
                start = stop
        if line and line[-1] in " \t":                  # whitespace at the end of a line is escaped
            room = start - laststart
            q = (_qp_escape_char(line[-1]) if room >= 3 else line[-1] + "=\n" if room == 2
                 else "=\n" + _qp_escape_char(line[-1]))
            append(line[start:-1] + q)
        else:
            append(line[start:])
    if body[-1] in "\r\n":
        append("")
    return "\n".join(encoded)


def _qp_escape(match: re.Match) -> str:
    return "".join(map(_QP_ESCAPES.__getitem__, match.group()))


def _qp_escape_char(c: str) -> str:
    return _QP_ESCAPES[c]


def _boundary(payloads: bytes) -> str:
    """A random boundary found in no body (as the email package's generator picks one)."""
    while True:
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="
        if f"--{boundary}".encode() not in payloads:
            return boundary


def outgoing(msg: EmailMessage) -> Outgoing:
    """The message's bytes exactly as the outbox copy has them. smtplib's send_message flattens
    with a generator that rewrites body lines starting "From " to ">From "."""
    sender = msg["From"].addresses[0].addr_spec
    rcpts = [a.addr_spec for a in msg["To"].addresses]
    utf8 = not all(a.isascii() for a in (sender, *rcpts))
    data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n", utf8=utf8))
    return Outgoing(msg["Message-ID"], sender, rcpts, data, ("SMTPUTF8", "BODY=8BITMIME") if utf8 else ())


def seven_bit(data: bytes) -> bytes:
    """A message (headers in ASCII, as without SMTPUTF8) with each 8-bit part re-encoded as
    quoted-printable, the email package's encoding of that text; anything else as it was."""
    msg = email.message_from_bytes(data, policy=_WIRE)
    for part in msg.walk():
        if part.get("Content-Transfer-Encoding") == "8bit":
            body = part.get_payload(decode=True).decode("latin-1")
            part.replace_header("Content-Transfer-Encoding", "quoted-printable")
            part.set_payload(_quoted_printable(body, _WIRE.max_line_length))
    return msg.as_bytes()


class EmailChannel(Channel):
    name = "email"

    def __init__(self, *, host: str, port: int = 587, security: str = "starttls", username: str | None = None,
                 password: str | None = None, password_env: str = "NOTIFIER_SMTP_PASSWORD",
                 from_addr: str, timeout_seconds: float = 30.0,
                 ca_file: str | None = None, unsubscribe_mailto: str | None = None,
                 unsubscribe_url: str | None = None, template_dir: str | None = None):
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.password_env = username, password, password_env
        self.from_addr = from_addr
        self.timeout_seconds = timeout_seconds
        self.ca_file = ca_file
        self.unsubscribe_mailto, self.unsubscribe_url = unsubscribe_mailto, unsubscribe_url
        self.template_dir = template_dir
        self._smtp: smtplib.SMTP | None = None
        self.connections_opened = 0
        self.halted: str | None = sender_problem(from_addr)

    @property
    def label(self) -> str:
        return f"email via {self.host}:{self.port}"

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.ca_file:
            ctx.load_verify_locations(cafile=self.ca_file)
        return ctx

    def _dial(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_seconds, context=self._context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)

    def _greet(self, smtp: smtplib.SMTP) -> str | None:
        """EHLO, STARTTLS and login. -> why this server cannot be used as configured, else None."""
        smtp.ehlo()
        if self.security == "starttls":
            if not smtp.has_extn("starttls"):
                return f"[email] security = starttls but {self.host}:{self.port} does not offer STARTTLS"
            smtp.starttls(context=self._context())
            smtp.ehlo()
        if self.username:
            smtp.login(self.username, self.password or "")
        return None

    def _connect(self, ref: str) -> SendResult | None:
        """The batch's connection, opened on first use. -> a result when it cannot be had."""
        if self._smtp is not None:
            return None
        smtp = None
        try:
            smtp = self._dial()
            problem = self._greet(smtp)
        except smtplib.SMTPAuthenticationError as e:
            problem = (f"SMTP login refused ({e.smtp_code} {_text(e.smtp_error)}): check [email] username and "
                       f"the password in ${self.password_env} (or $CREDENTIALS_DIRECTORY/{self.password_env})")
        except smtplib.SMTPResponseException as e:
            if e.smtp_code != 530:
                return self._drop(smtp, SendResult(State.RETRY if e.smtp_code < 500 else State.FAILED, ref,
                                                   f"{e.smtp_code} {_text(e.smtp_error)}"))
            problem = f"SMTP server requires TLS/auth ({_text(e.smtp_error)}): check [email] security and username"
        except ssl.SSLError as e:
            problem = f"TLS with {self.host}:{self.port} failed: {e}; check [email] ca_file/security"
        except (smtplib.SMTPException, OSError) as e:
            return self._drop(smtp, SendResult(State.RETRY, ref, f"cannot connect to {self.host}:{self.port}: {e}"))
        if problem:
            return self._drop(smtp, self._halt(ref, problem))
        self._smtp = smtp
        self.connections_opened += 1
        return None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    @property
    def settings(self) -> dict:
        """What ``prepare`` needs besides the digest (plain data: it may run in another process)."""
        return dict(from_addr=self.from_addr, unsubscribe_mailto=self.unsubscribe_mailto,
                    unsubscribe_url=self.unsubscribe_url, template_dir=self.template_dir)

    def send(self, digest: Digest) -> SendResult:
        try:
            ready = prepare(digest, **self.settings)
        except ValueError as e:
            return SendResult(State.RETRY, error=self.halted) if self.halted else SendResult(State.FAILED, error=str(e))
        return self.send_prepared(ready)

    def send_text(self, address: str, subject: str, text: str) -> SendResult:
        """A plain operator message (alerts), through the same connection and error handling."""
        if self.halted:
            return SendResult(State.RETRY, error=self.halted)
        name, addr = parseaddr(_clean(self.from_addr))
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = _clean(subject), Address(_clean(name), addr_spec=addr), _clean(address)
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = make_msgid(domain=addr.rpartition("@")[2])
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text)
        return self.send_prepared(outgoing(msg))

    def send_prepared(self, ready: Outgoing) -> SendResult:
        """Send a message made by ``prepare`` (here or ahead, in another process)."""
        ref = ready.ref
        if self.halted:
            return SendResult(State.RETRY, ref, self.halted)
        problem = self._connect(ref)
        if problem is not None:
            return problem
        try:
            refused = self._smtp.sendmail(ready.sender, ready.rcpts, *self._for_server(ready))
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()))
            return _classify(code, text, ref)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
            if e.smtp_code in (530, 535):
                return self._halt(ref, f"SMTP server requires TLS/auth ({e.smtp_code} {_text(e.smtp_error)}): "
                                       "check [email] security and username")
            if e.smtp_code == 421:
                self._drop(self._smtp)
            return _classify(e.smtp_code, e.smtp_error, ref)
        except smtplib.SMTPNotSupportedError:       # an OSError too, yet raised before anything was sent
            return SendResult(State.FAILED, ref, "the mail server does not offer SMTPUTF8, which an address with "
                                                 "letters beyond ASCII before the @ needs")
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            self._drop(self._smtp)
            return SendResult(State.UNKNOWN, ref, f"connection lost while sending; it may have arrived: {e}")
        if refused:
            code, text = next(iter(refused.values()))
            return _classify(code, text, ref)
        return SendResult(State.SENT, ref)

    def _for_server(self, ready: Outgoing) -> tuple[bytes, tuple]:
        """The bytes and MAIL FROM's parameters for this server. A body of 8-bit text (a part with
        short lines and an accent or a dash goes as is, not quoted-printable) is declared
        BODY=8BITMIME to a server that offers it (RFC 6152), so no relay takes it for 7-bit and
        mangles it; a server that does not offer it must not be sent 8-bit data at all (RFC 6152):
        it gets those parts as quoted-printable."""
        if "BODY=8BITMIME" in ready.options or ready.data.isascii():
            return ready.data, ready.options
        if self._smtp.has_extn("8bitmime"):
            return ready.data, (*ready.options, "BODY=8BITMIME")
        return seven_bit(ready.data), ready.options

    def _halt(self, ref: str, reason: str) -> SendResult:
        """A configuration problem (login, TLS): every message would fail the same way. Stop the
        batch, keep the deliveries for a retry once the operator fixed it, and say so."""
        self.halted = reason
        return SendResult(State.RETRY, ref, reason)

    def _drop(self, smtp: smtplib.SMTP | None, result: SendResult | None = None) -> SendResult | None:
        if smtp is not None:
            smtp.close()
        if smtp is self._smtp:
            self._smtp = None
        return result


def _text(b) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def _classify(code: int, text, ref: str) -> SendResult:
    msg = f"{code} {_text(text)}"
    return SendResult(State.RETRY if 400 <= code < 500 else State.FAILED, ref, msg)
