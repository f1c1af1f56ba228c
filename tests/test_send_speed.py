"""Sending fast (issue 13). A big batch's emails are rendered in a second process (the other core) while the first one
claims, sends and records (``sending.emails_ahead``, ``channels.PreparedAhead``): what reaches the
subscribers must be exactly what one process would send, in the same order, and a crash must
still re-send only the message in flight, with the same Message-ID. And a message's bytes are
written directly (``channels.email.wire_bytes``): exactly those the email package would write."""
from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from datetime import datetime, timezone
from email.headerregistry import Address
from pathlib import Path
from types import SimpleNamespace

import pytest

import notifier.channels.email as email_channel
from notifier import channels, sending
from notifier.channels import PreparedAhead
from notifier.models import DigestLinks
from notifier.context import open_context
from notifier.sending import deliver
from notifier.subscribers import new_subscriber
from test_faults import SMTPServer, kill_while_held, prepared, states, wait_for
from test_pipeline import ingest_sample

KEYWORDS = ["agents", "reasoning", "diffusion", "attention", "language models, benchmark"]


def send_batch(config, port: int, ahead: bool, monkeypatch) -> int:
    """Ten subscribers' digests of the sample day, prepared ahead or in line -> how many
    messages this process rendered itself."""
    config.email.host, config.email.port, config.email.security = "127.0.0.1", port, "none"
    config.email.from_ = "Digest <digest@example.org>"
    monkeypatch.setattr(sending, "PREPARE_AHEAD_MIN", 1 if ahead else 10**9)
    rendered_here = []
    render = email_channel._message_parts
    monkeypatch.setattr(email_channel, "_message_parts", lambda *a, **kw: rendered_here.append(1) or render(*a, **kw))
    with open_context(config) as ctx:
        for i in range(10):
            ctx.store.add_subscriber(new_subscriber(address=f"reader{i}@example.org", name=f"Reader {i}",
                                                    keywords=[KEYWORDS[i % len(KEYWORDS)]]))
        ingest_sample(ctx.store)
        assert {r.state for r in deliver(ctx)} == {"sent"}
    return len(rendered_here)


def as_received(messages) -> list[tuple]:
    """What a recipient sees, less the instant its digest was planned (in its Message-ID: two databases)."""
    return [(m["To"], m["Subject"], re.sub(r"\.[0-9a-f]+@", "@", m["Message-ID"]), m["List-Unsubscribe"],
             m.get_body(("plain",)).get_content(), m.get_body(("html",)).get_content()) for m in messages]


def test_a_batch_rendered_in_a_second_process_sends_what_one_process_sends_in_the_same_order(
        tmp_path, db_url, monkeypatch, config, smtp_recorder):
    from aiosmtpd.controller import Controller

    from notifier.config import Config
    from smtp_server import Recorder, free_port

    handler, port = smtp_recorder
    assert send_batch(config, port, ahead=True, monkeypatch=monkeypatch) == 0          # all rendered elsewhere
    alone_handler = Recorder()
    ctl = Controller(alone_handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        alone = Config()
        alone.general.state_dir, alone.general.outbox_dir = str(tmp_path / "b"), str(tmp_path / "b" / "outbox")
        alone.database.url, alone.slack.token_env = f"sqlite:///{tmp_path / 'alone.sqlite'}", ""
        assert send_batch(alone, ctl.port, ahead=False, monkeypatch=monkeypatch) == 10
    finally:
        ctl.stop()
    assert len(handler.messages) == 10
    assert as_received(handler.messages) == as_received(alone_handler.messages)


def build_job(job: int) -> SimpleNamespace:
    if job == 3:
        raise ValueError("cannot build this one")
    if job == 6:
        os._exit(1)                          # the second process dies
    return SimpleNamespace(job=job, items=[job])


def made(digest: SimpleNamespace, suffix: str) -> str:
    return f"message {digest.job}{suffix}"


def test_messages_the_second_process_cannot_prepare_are_left_to_be_prepared_in_line(monkeypatch):
    monkeypatch.setattr(channels, "AHEAD_CHUNK", 2)
    jobs = {i: (i,) for i in range(12)}
    with PreparedAhead(build_job, made, {"suffix": "!"}, jobs) as ahead:
        got = {i: ahead.take(i) for i in (0, 1, 2, 3, 4, 7, 11)}          # 5 and 6 skipped by the caller
    assert got[0] == ("message 0!", 1) and got[2] == ("message 2!", 1) and got[4] == ("message 4!", 1)
    assert got[3] is None                                                 # failed there: made here
    assert got[7] is None and got[11] is None                             # after the process died


def test_a_job_not_prepared_ahead_is_none_and_an_empty_ahead_prepares_nothing():
    with PreparedAhead(build_job, made, {"suffix": ""}, {1: (1,), 2: (2,)}) as ahead:
        assert ahead.take(2) == ("message 2", 1)
        assert ahead.take(5) is None
    assert PreparedAhead.none().take(1) is None


def processes_in_group(pgid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.timeout(300)
def test_a_run_killed_while_messages_are_rendered_ahead_resends_only_the_one_in_flight(tmp_path, db_url):
    server = SMTPServer(hold_at=3).start()
    try:
        addresses = [f"ahead{i}@example.org" for i in range(6)]
        config, url, env = prepared(tmp_path, server, addresses, db_url)
        script = ("import sys, notifier.sending as p; p.PREPARE_AHEAD_MIN = 2; from notifier.cli import main; "
                  f"sys.exit(main(['--config', {config!r}, 'run', '--all']))")
        with open(tmp_path / "run.log", "wb") as log:
            first = subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
            kill_while_held(first, server, "message 3")
        assert sum("sending" in v for v in states(url).values()) == 1
        wait_for(lambda: not processes_in_group(first.pid), 30, "the second process to end with its parent", poll=0.2)
        again = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=120)
        assert again.returncode == 0, again.stderr.decode()
        assert all(v == ["sent"] for v in states(url).values()) and len(states(url)) == 6
        ids = server.handler.per_recipient()
        assert sorted(ids) == addresses and all(len(v) == 1 for v in ids.values())
        assert len(server.handler.snapshot()) == 7          # the one in flight arrived twice, same Message-ID
    finally:
        server.handler.release.set()
        server.stop()


# ----------------------------------------------------------------------------- the message's bytes, written directly
NOW = datetime(2026, 7, 29, 6, 0, tzinfo=timezone.utc)
SENDERS = [dict(from_addr="Paper digest <digest@example.org>"),
           dict(from_addr="digest@example.org", unsubscribe_mailto="unsubscribe@example.org"),
           dict(from_addr='"Dr. Ünï, Digest" <digest@example.org>', unsubscribe_url="https://example.org/u")]


def sample_digests() -> list:
    from digests import NASTY_TITLES, digest, paper

    cases = [digest(3, papers=[paper(0, title=t), paper(1)]) for t in NASTY_TITLES.values()]
    cases += [digest(0), digest(1, weaker=0), digest(4, failed=["arXiv cs.LG"]), digest(30),
              digest(2, name="Zoë «Ünïcode» Name"), digest(2, address="first.last+tag@example.org")]
    linked = digest(3)
    linked.links = DigestLinks(manage="https://example.org/manage/abc", unsubscribe="https://example.org/u/" + "t" * 120,
                               votes={linked.items[0].paper.arxiv_id: ("https://example.org/v/1", "https://example.org/v/2")})
    return cases + [linked]


def same_but_boundary(data: bytes) -> bytes:
    for boundary in re.findall(rb'boundary="([^"]+)"', data):
        data = data.replace(boundary, b"BOUNDARY")
    return data


@pytest.mark.parametrize("sender", range(len(SENDERS)))
def test_a_message_written_directly_is_byte_for_byte_what_the_email_package_writes(sender):
    for d in sample_digests():
        package = email_channel.outgoing(email_channel.build_message(d, now=NOW, **SENDERS[sender]))
        direct = email_channel.prepare(d, now=NOW, **SENDERS[sender])
        assert same_but_boundary(direct.data) == same_but_boundary(package.data), d.items[0].paper.title if d.items else d
        assert (direct.ref, direct.sender, direct.rcpts, direct.options) == \
            (package.ref, package.sender, package.rcpts, package.options)


@pytest.mark.parametrize("text, html, encoding", [
    ("Short plain lines.\nNothing else.\n", "<p>short</p>\n", "7bit"),
    ("Short lines — with a dash.\n", "<p>é</p>\n", "8bit"),
    ("A long line " * 20 + "\n= sign\ttab \n" * 12, "<p style=\"x\">" + "é" * 5 + "a" * 200 + "</p>", "quoted-printable"),
    ("日本語のテキスト" * 40, "<p>" + "日本語" * 60 + "</p>", "base64"),
])
def test_each_body_encoding_is_the_one_the_email_package_picks_with_the_same_bytes(text, html, encoding):
    headers = [("Subject", "Hi — there"), ("From", Address("Digest", addr_spec="d@example.org")),
               ("To", Address(addr_spec="ann@example.org")), ("Date", "Wed, 29 Jul 2026 06:00:00 +0000"),
               ("Message-ID", "<1.2026-07-29.1@example.org>")]
    package = email_channel._assemble(headers, SimpleNamespace(text=text, html=html))
    assert package.get_body(("plain",))["Content-Transfer-Encoding"] == encoding
    direct = email_channel.wire_bytes(headers, text, html)
    if encoding == "base64":
        assert direct is None                       # left to the email package
    else:
        assert same_but_boundary(direct) == same_but_boundary(email_channel.outgoing(package).data)


def test_quoted_printable_is_exactly_the_email_packages():
    from email import quoprimime

    rng = random.Random(13)
    alphabet = "ab =\t\r\n<>\"'é—·▲\x00\x1f~\x7f" + "x" * 20
    for _ in range(3000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300))).encode().decode("latin-1")
        for width in (76, 78, 10):
            assert email_channel._quoted_printable(body, width) == quoprimime.body_encode(body, width)


def test_addresses_and_message_ids_written_as_given_are_what_the_email_package_folds():
    import string

    rng = random.Random(3)
    for name, pattern in email_channel._AS_GIVEN.items():
        for _ in range(2000):
            local = "".join(rng.choice(string.ascii_letters + string.digits + "._%+-") for _ in range(rng.randint(1, 40)))
            domain = "".join(rng.choice(string.ascii_lowercase + string.digits + ".-") for _ in range(rng.randint(1, 20)))
            value = f"{local}@{domain}" if name == "To" else f"<{local}@{domain}>"
            if pattern.fullmatch(value):
                wire = email_channel._WIRE
                assert email_channel._folded(name, value) == wire.header_factory(name, value).fold(policy=wire)
