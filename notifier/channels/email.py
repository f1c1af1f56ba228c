"""Email: build one multipart/alternative message per digest and send it over SMTP, one
connection per batch (every email subscriber of the batch shares it)."""
from __future__ import annotations

import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formatdate, getaddresses, make_msgid, parseaddr
from datetime import datetime

from notifier.channels.base import Channel, SendResult
from notifier.models import Digest
from notifier.outbox import State


def _clean(s: str) -> str:
    """No CR/LF (or other control characters) ever reaches a header."""
    return " ".join("".join(c if c.isprintable() else " " for c in (s or "")).split())


def _domain(from_addr: str) -> str:
    addr = parseaddr(_clean(from_addr))[1]
    return addr.rpartition("@")[2] or "localhost"


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
    from notifier.render import render_email

    problem = sender_problem(from_addr)
    if problem:
        raise ValueError(problem)
    name, addr = parseaddr(_clean(from_addr))
    to_addr = _clean(digest.recipient.address)
    if "@" not in to_addr or len(getaddresses([to_addr])) != 1 or any(c in to_addr for c in ",;<>"):
        raise ValueError(f"not a single email address: {to_addr!r}")
    if digest.links:        # `notifier web` is set up: its one-click link (RFC 8058)
        unsubscribe_url = digest.links.unsubscribe
    rendered = render_email(digest, from_name=name or "digest-notifier", unsubscribe_mailto=unsubscribe_mailto,
                            unsubscribe_url=unsubscribe_url, template_dir=template_dir)
    domain = addr.rpartition("@")[2]
    msg = EmailMessage()
    msg["Subject"] = _clean(rendered.subject)
    msg["From"] = Address(display_name=_clean(name), addr_spec=addr)
    msg["To"] = Address(addr_spec=to_addr)
    msg["Date"] = format_datetime(now) if now else formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(digest.delivery_key or f"{digest.recipient.id}.{digest.day}", domain)
    msg["List-Id"] = f"Paper digest <digest.{domain}>"
    unsub = []
    if unsubscribe_url:
        unsub.append(f"<{_clean(unsubscribe_url)}>")
    if unsubscribe_mailto:
        unsub.append(f"<mailto:{_clean(unsubscribe_mailto)}?subject=unsubscribe>")
    if unsub:
        msg["List-Unsubscribe"] = ", ".join(unsub)
    if unsubscribe_url:
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


class EmailChannel(Channel):
    name = "email"

    def __init__(self, *, host: str, port: int = 587, security: str = "starttls", username: str | None = None,
                 password: str | None = None, from_addr: str, timeout_seconds: float = 30.0,
                 ca_file: str | None = None, unsubscribe_mailto: str | None = None,
                 unsubscribe_url: str | None = None, template_dir: str | None = None):
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
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
            problem = (f"SMTP login refused ({e.smtp_code} {_text(e.smtp_error)}): "
                       "check [email] username and the password secret")
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

    def send(self, digest: Digest) -> SendResult:
        try:
            msg = build_message(digest, from_addr=self.from_addr, unsubscribe_mailto=self.unsubscribe_mailto,
                                unsubscribe_url=self.unsubscribe_url, template_dir=self.template_dir)
        except ValueError as e:
            return SendResult(State.RETRY, error=self.halted) if self.halted else SendResult(State.FAILED, error=str(e))
        return self.transmit(msg)

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
        return self.transmit(msg)

    def transmit(self, msg: EmailMessage) -> SendResult:
        ref = msg["Message-ID"]
        if self.halted:
            return SendResult(State.RETRY, ref, self.halted)
        problem = self._connect(ref)
        if problem is not None:
            return problem
        try:
            refused = self._send_wire(msg)
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
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            self._drop(self._smtp)
            return SendResult(State.UNKNOWN, ref, f"connection lost while sending; it may have arrived: {e}")
        if refused:
            code, text = next(iter(refused.values()))
            return _classify(code, text, ref)
        return SendResult(State.SENT, ref)

    def _send_wire(self, msg: EmailMessage) -> dict:
        """Send the message's bytes exactly as the outbox copy has them. smtplib's send_message
        flattens with a generator that rewrites body lines starting "From " to ">From "."""
        sender = msg["From"].addresses[0].addr_spec
        rcpts = [a.addr_spec for a in msg["To"].addresses]
        utf8 = not all(a.isascii() for a in (sender, *rcpts))
        data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n", utf8=utf8))
        return self._smtp.sendmail(sender, rcpts, data, ("SMTPUTF8", "BODY=8BITMIME") if utf8 else ())

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
