import email
import json
from email import policy
from pathlib import Path

import pytest
from digests import digest

from notifier.channels import Senders
from notifier.channels.outbox import OutboxChannel
from notifier.config import Config


def test_email_lands_as_eml_that_a_mail_client_can_open(tmp_path):
    with OutboxChannel(folder=tmp_path, from_addr="Digest <digest@example.org>",
                       unsubscribe_mailto="unsub@example.org") as ch:
        r = ch.send(digest(3))
    assert r.state == "sent"
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == ["7.2026-07-29.email.12.eml"]
    msg = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg["Subject"] == "3 papers on kv cache, MoE — Wed 29 Jul"
    assert msg["Message-ID"] == "<7.2026-07-29.email.12@example.org>"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_resend_overwrites_instead_of_duplicating_and_leaves_no_temp_files(tmp_path):
    ch = OutboxChannel(folder=tmp_path)
    ch.send(digest(3))
    ch.send(digest(2))
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    assert "2 papers" in email.message_from_bytes(files[0].read_bytes(), policy=policy.default)["Subject"]


def test_slack_payload_as_json(tmp_path):
    r = OutboxChannel(folder=tmp_path, kind="slack").send(digest(3, channel="slack", address="#papers"))
    data = json.loads((tmp_path / "7.2026-07-29.email.12.json").read_text())
    assert r.state == "sent" and data["channel"] == "#papers"
    assert data["metadata"] == {"event_type": "notifier_digest", "event_payload": {"key": "7.2026-07-29.email.12"}}
    assert data["blocks"][0]["type"] == "header"


def test_unwritable_outbox_is_a_retry_not_a_crash(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = OutboxChannel(folder=blocker / "sub").send(digest(1))
    assert r.state == "retry" and "could not write to outbox" in r.error


@pytest.mark.parametrize("subject,name", [
    ("digest-notifier needs attention", "digest-notifier-needs-attention-"),
    ("Confirm your paper digest subscription", "confirm-your-paper-digest-subscription-"),
    ("HF :fire: <failed> ../../etc", "hf-fire-failed-etc-"),
    ("", "message-"),
    ("Ω" * 3, "message-"),
    ("word " * 40, "word-" * 11 + "word-2"),       # 60 characters, then the time
], ids=["alert", "confirmation", "marks", "empty", "no_ascii", "long"])
def test_a_text_message_is_named_after_its_subject(tmp_path, subject, name):
    """All were alert-<time>.txt, a web visitor's confirmation mail too."""
    path = OutboxChannel(folder=tmp_path).send_text("ops@example.org", subject, "text").provider_ref
    assert Path(path).parent == tmp_path and Path(path).name.startswith(name) and path.endswith(".txt")


@pytest.mark.parametrize("under", [False, True], ids=["the_folder", "a_folder_above"])
def test_an_outbox_dir_that_is_a_file_says_so_for_digests_and_alerts(tmp_path, under):
    """It said "[Errno 17] File exists" (or "Not a directory"), the file unnamed."""
    blocker = tmp_path / "outbox"
    blocker.write_text("mine")
    folder = blocker / "sub" if under else blocker
    culprit = blocker if under else "it"
    ch = OutboxChannel(folder=folder)
    for r in (ch.send(digest(1)), ch.send_text("ops@example.org", "alert", "text")):
        assert (r.state, r.error) == ("retry", f"could not write to outbox {folder}: {culprit} is a file, not a folder")
    assert blocker.read_text() == "mine"


@pytest.mark.parametrize("under", [False, True], ids=["the_folder", "a_folder_above"])
def test_an_outbox_dir_that_is_a_link_to_nothing_says_so_and_what_to_do(tmp_path, under):
    """It said "[Errno 17] File exists"."""
    link = tmp_path / "outbox"
    link.symlink_to(tmp_path / "moved")
    folder = link / "sub" if under else link
    ch = OutboxChannel(folder=folder)
    for r in (ch.send(digest(1)), ch.send_text("ops@example.org", "alert", "text")):
        assert (r.state, r.error) == ("retry", f"could not write to outbox {folder}: {link if under else 'it'} is a "
                                               f"symbolic link to {tmp_path / 'moved'}, which does not exist: "
                                               "create that folder, or remove the link")
    assert not (tmp_path / "moved").exists()


def test_registry_uses_outbox_when_nothing_is_configured(tmp_path):
    c = Config()
    c.general.outbox_dir = str(tmp_path)
    c.slack.token_env = ""

    with Senders(c, env={}) as senders:
        assert isinstance(senders.get("email", "ann@example.org"), OutboxChannel)
        assert isinstance(senders.get("slack", "#papers"), OutboxChannel)
