
import email
import re
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from digests import NASTY_TITLES, digest, paper

from notifier.channels.email import EmailChannel, build_message, prepare
from smtp_server import Recorder as Handler, free_port


@pytest.fixture
def smtp(smtp_recorder):
    return smtp_recorder


def channel(port, **kw):
    opts = dict(host="127.0.0.1", port=port, security="none", from_addr="Paper digest <digest@example.org>",
                timeout_seconds=5, unsubscribe_mailto="unsubscribe@example.org")
    opts.update(kw)
    return EmailChannel(**opts)


def test_message_arrives_with_parts_headers_and_content(smtp):
    handler, port = smtp
    with channel(port, unsubscribe_url="https://digest.example.org/u/tok123") as ch:
        r = ch.send(digest(4))
    assert r.state == "sent" and r.provider_ref == "<7.2026-07-29.email.12@example.org>"
    (msg,) = handler.messages
    assert msg["Subject"] == "4 papers on kv cache, MoE — Wed 29 Jul"
    assert msg["To"] == "ann@example.org" and msg["From"] == "Paper digest <digest@example.org>"
    assert msg["Message-ID"] == "<7.2026-07-29.email.12@example.org>" and msg["Date"]
    assert msg["List-Id"] and msg["List-Unsubscribe"] == (
        "<https://digest.example.org/u/tok123>, <mailto:unsubscribe@example.org?subject=unsubscribe>")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert "Paper 3 on KV cache eviction" in text.get_content() and "Paper 3 on KV cache" in html.get_content()


@pytest.mark.parametrize("terms, failed, subject", [
    (["kv cache"], ["bioRxiv"],                                          # folds just before the dash
     "Nothing yet — Wed 29 Jul: bioRxiv could not be fetched — on kv cache"),
    (["speculative decoding", "sparse attention", "knowledge distillation"], [],
     "4 papers — Wed 29 Jul — on speculative decoding, sparse attention, knowledge distillation"),
    (["ذاكرة", "🚀 rockets", "kv cache"], [], "4 papers — Wed 29 Jul — on ذاكرة, 🚀 rockets, kv cache"),
], ids=["fold-before-dash", "fold-in-words", "encoded-terms"])
def test_a_folded_subject_reads_as_rendered_in_a_mail_client(smtp, terms, failed, subject):
    """Folded before its "—", the subject read "distillation  — Wed 29 Jul" (two spaces), as sent
    and in the outbox's copy."""
    handler, port = smtp
    d = digest(0 if failed else 4, failed=failed, weaker=0)
    d.recipient.profile_terms = terms
    with channel(port) as ch:
        ch.send(d)
    (msg,) = handler.messages
    copy = email.message_from_bytes(bytes(build_message(d, from_addr="digest@example.org")), policy=policy.default)
    assert msg["Subject"] == copy["Subject"] == subject


LONG_ONE_CLICK = "https://papers.example.org/unsubscribe/WzNd.aw5oRw.s0GBUa06mMDKPfOaWofnFpomrHs"   # a real link's length


def raw_list_unsubscribe(data: bytes) -> str:
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return re.search(r"^List-Unsubscribe: .*?(?=\r\n\S)", head, re.M | re.S).group(0)


def test_a_long_one_click_link_goes_on_the_wire_as_a_uri_not_an_encoded_word(smtp):
    """A header line the email package cannot fold it writes as RFC 2047 encoded-words
    ("=?utf-8?q?=3Chttps=3A//..."): no mail provider reads a URI there, so Gmail's and Yahoo's
    one-click unsubscribe found none. Every real link (public_url + /unsubscribe/ + token) is that long."""
    handler, port = smtp
    with channel(port, unsubscribe_url=LONG_ONE_CLICK) as ch:
        assert ch.send(digest(2)).state == "sent"
    written = build_message(digest(2), from_addr="Paper digest <digest@example.org>",
                            unsubscribe_mailto="unsubscribe@example.org", unsubscribe_url=LONG_ONE_CLICK)
    for data in (handler.raw[0], bytes(written).replace(b"\n", b"\r\n")):
        raw = raw_list_unsubscribe(data)
        assert "=?" not in raw and f"<{LONG_ONE_CLICK}>" in raw
        assert "<mailto:unsubscribe@example.org?subject=unsubscribe>" in raw
    assert handler.messages[0]["List-Unsubscribe"] == f"<{LONG_ONE_CLICK}>, <mailto:unsubscribe@example.org?subject=unsubscribe>"


def test_no_one_click_header_without_a_public_url(smtp):
    handler, port = smtp
    with channel(port) as ch:
        ch.send(digest(1))
    msg = handler.messages[0]
    assert msg["List-Unsubscribe"] == "<mailto:unsubscribe@example.org?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] is None


def test_an_http_unsubscribe_link_is_offered_to_follow_but_not_as_one_click(smtp):
    """RFC 8058 requires an https link for one-click; at an http one a person still has the link and the mailto."""
    handler, port = smtp
    with channel(port, unsubscribe_url="http://digest.example.org/u/tok123") as ch:
        ch.send(digest(1))
    msg = handler.messages[0]
    assert msg["List-Unsubscribe"] == ("<http://digest.example.org/u/tok123>, "
                                       "<mailto:unsubscribe@example.org?subject=unsubscribe>")
    assert msg["List-Unsubscribe-Post"] is None
    assert '<a href="http://digest.example.org/u/tok123"' in msg.get_body(("html",)).get_content()


def test_retry_keeps_the_same_message_id():
    a = build_message(digest(2), from_addr="d@example.org")
    b = build_message(digest(2), from_addr="d@example.org")
    assert a["Message-ID"] == b["Message-ID"] == "<7.2026-07-29.email.12@example.org>"


def test_one_connection_for_a_batch(smtp):
    handler, port = smtp
    with channel(port) as ch:
        results = [ch.send(digest(2, address=f"user{i}@example.org")) for i in range(5)]
    assert [r.state for r in results] == ["sent"] * 5
    assert len(handler.messages) == 5 and handler.sessions == 1 and ch.connections_opened == 1


def test_4xx_is_retried_then_sent_5xx_fails_with_server_text_and_batch_continues(smtp):
    handler, port = smtp
    handler.rcpt_replies = {"busy@example.org": ["451 4.3.0 Try again later"],
                            "gone@example.org": ["550 5.1.1 No such user here"]}
    with channel(port) as ch:
        busy = ch.send(digest(1, address="busy@example.org"))
        gone = ch.send(digest(1, address="gone@example.org"))
        ok = ch.send(digest(1, address="ok@example.org"))
        again = ch.send(digest(1, address="busy@example.org"))
    assert (busy.state, gone.state, ok.state, again.state) == ("retry", "failed", "sent", "sent")
    assert "451 4.3.0 Try again later" in busy.error
    assert "550 5.1.1 No such user here" in gone.error
    assert [m["To"] for m in handler.messages] == ["ok@example.org", "busy@example.org"]


@pytest.mark.parametrize("kind", sorted(NASTY_TITLES))
def test_untrusted_title_never_injects_a_header(smtp, kind):
    handler, port = smtp
    with channel(port) as ch:
        r = ch.send(digest(papers=[paper(0, title=NASTY_TITLES[kind])]))
    assert r.state == "sent"
    msg = handler.messages[0]
    assert msg["Bcc"] is None and "\n" not in msg["Subject"]
    assert msg["Subject"].startswith("1 paper on kv cache")


def test_a_subject_naming_a_right_to_left_term_reads_without_a_stray_space_or_a_bidi_control():
    """The term is isolated in the subject (FSI ... PDI); the header left each control as a space."""
    d = digest(1)
    d.recipient.profile_terms = ["ذاكرة", "\u202eMoE"]
    assert build_message(d, from_addr="d@example.org")["Subject"] == "1 paper on ذاكرة, MoE — Wed 29 Jul"


def test_recipient_address_with_injection_is_refused_not_sent(smtp):
    handler, port = smtp
    with channel(port) as ch:
        r = ch.send(digest(1, address="a@example.org\r\nBcc: victim@example.org"))
    assert r.state == "failed" and handler.messages == []


def test_unreachable_server_is_a_retry():
    r = channel(free_port(), timeout_seconds=2).send(digest(1))
    assert r.state == "retry" and "cannot connect" in r.error


def test_starttls_with_verified_certificate_and_auth(tmp_path):
    trustme = pytest.importorskip("trustme")

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"bot" and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)

    handler = Handler()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=server_ctx,
                     require_starttls=True, auth_required=True, authenticator=authenticator)
    ctl.start()
    try:
        good = channel(ctl.port, security="starttls", username="bot", password="s3cret", ca_file=str(ca_file))
        with good:
            assert good.send(digest(1)).state == "sent"
        bad = channel(ctl.port, security="starttls", username="bot", password="wrong", ca_file=str(ca_file),
                      password_env="SMTP_PW")
        r = bad.send(digest(1))
        # a configuration problem: kept for a retry after the fix, and the batch stops trying; it
        # names the variable the password was read from
        assert r.state == "retry" and "535" in r.error and "check [email] username" in r.error
        assert "$SMTP_PW" in r.error and "wrong" not in r.error
        assert bad.halted and bad.send(digest(2)).error == r.error and bad.connections_opened == 0
        untrusted = channel(ctl.port, security="starttls", username="bot", password="s3cret")
        r = untrusted.send(digest(1))
        assert r.state == "retry" and "TLS" in r.error and untrusted.halted
        plain = channel(ctl.port, security="none")
        r = plain.send(digest(1))
        assert r.state == "retry" and "530" in r.error and plain.halted
    finally:
        ctl.stop()
    assert len(handler.messages) == 1


def test_connection_lost_after_data_is_unknown_not_retried_blindly(smtp):
    handler, port = smtp

    async def drop(server, session, envelope):
        handler.messages.append(envelope.content)
        server.transport.close()
        return "250 OK"
    handler.handle_DATA = drop
    with channel(port) as ch:
        r = ch.send(digest(1))
        assert r.state == "unknown" and "may have arrived" in r.error
        handler.handle_DATA = Handler.handle_DATA.__get__(handler)
        assert ch.send(digest(1, address="next@example.org")).state == "sent"   # reconnects for the rest


@pytest.mark.parametrize("smtputf8", [True, False], ids=["server-offers-SMTPUTF8", "server-without-SMTPUTF8"])
def test_a_digest_to_an_address_with_letters_beyond_ascii_goes_out_where_the_server_can_take_it(smtputf8):
    handler = Handler()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8)
    ctl.start()
    try:
        with channel(ctl.port) as ch:
            first = ch.send(digest(1, address="usér@example.org"))
            assert ch.send(digest(1, address="next@example.org")).state == "sent"    # the batch goes on
    finally:
        ctl.stop()
    if smtputf8:
        assert first.state == "sent" and [m["To"] for m in handler.messages] == ["usér@example.org", "next@example.org"]
    else:                                # refused before anything was sent: failed, not "unknown, may have arrived"
        assert first.state == "failed" and "does not offer SMTPUTF8" in first.error
        assert [m["To"] for m in handler.messages] == ["next@example.org"]


def test_plain_text_lines_starting_with_from_arrive_unmangled(smtp):
    handler, port = smtp
    with channel(port) as ch:
        assert ch.send(digest(4)).state == "sent"
    text = handler.messages[0].get_body(("plain",)).get_content()
    assert "\nFrom 38 new papers on Hugging Face Daily Papers" in text and ">From" not in text


def test_a_body_of_8bit_text_is_declared_8bitmime_and_plain_ascii_is_not(smtp):
    handler, port = smtp
    declared = []

    async def handle_MAIL(server, session, envelope, address, mail_options):
        declared.append(mail_options)
        envelope.mail_from, envelope.mail_options = address, list(mail_options)
        return "250 OK"

    handler.handle_MAIL = handle_MAIL
    with channel(port) as ch:
        assert ch.send(digest(1)).state == "sent"
        assert ch.send_text("ops@example.org", "fetch failed", "HF API down").state == "sent"
    assert handler.messages[0].get_body(("plain",))["Content-Transfer-Encoding"] == "8bit"
    assert ["BODY=8BITMIME" in options for options in declared] == [True, False]


def test_a_server_without_8bitmime_gets_8bit_text_as_quoted_printable_that_reads_the_same(smtp):
    """RFC 6152: 8-bit data must not go to a server that does not offer 8BITMIME; it went as is."""
    handler, port = smtp
    declared = []

    async def handle_EHLO(server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [r for r in responses if "8BITMIME" not in r]

    async def handle_MAIL(server, session, envelope, address, mail_options):
        declared.append(mail_options)
        envelope.mail_from, envelope.mail_options = address, list(mail_options)
        return "250 OK"

    handler.handle_EHLO, handler.handle_MAIL = handle_EHLO, handle_MAIL
    d = digest(1, name="Zoë")
    with channel(port) as ch:
        assert ch.send(d).state == "sent"
        written = email.message_from_bytes(prepare(d, **ch.settings).data, policy=policy.default)   # as sent 8-bit
    (msg,), (raw,) = handler.messages, handler.raw
    assert raw.isascii() and not any("BODY" in o for o in declared[0])
    for kind in ("plain", "html"):
        assert msg.get_body((kind,))["Content-Transfer-Encoding"] == "quoted-printable"
        assert msg.get_body((kind,)).get_content() == written.get_body((kind,)).get_content()
    assert msg["Subject"] == written["Subject"] and msg["Message-ID"] == written["Message-ID"]


def test_a_bad_from_address_stops_the_sender_with_a_config_hint_instead_of_raising(smtp):
    handler, port = smtp
    ch = channel(port, from_addr="not an address")
    r = ch.send(digest(1))
    assert r.state == "retry" and "[email] from" in r.error and ch.halted == r.error
    assert handler.messages == [] and ch.connections_opened == 0


def test_implicit_tls_sends_over_a_verified_certificate_and_refuses_an_unknown_one(tmp_path):
    """`security = "tls"`: TLS from the first byte (port 465 style), the server's certificate checked."""
    import ssl

    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    handler = Handler()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port(), ssl_context=server_ctx)
    ctl.start()
    try:
        with channel(ctl.port, security="tls", ca_file=str(ca_file)) as good:
            assert good.send(digest(1)).state == "sent"
        with channel(ctl.port, security="tls") as unknown:          # the system's CAs do not know this one
            refused = unknown.send(digest(1))
    finally:
        ctl.stop()
    assert len(handler.messages) == 1
    assert refused.state == "retry" and "CERTIFICATE_VERIFY_FAILED" in refused.error and "ca_file" in refused.error
