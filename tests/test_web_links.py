"""The links a digest carries when `notifier web` is set up: List-Unsubscribe (https + mailto)
with List-Unsubscribe-Post, a manage link, per-paper vote links, Slack vote buttons; and the
`notifier vote` command."""
from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from notifier.cli import main
from notifier.context import open_context
from notifier.sending import deliver
from notifier.render import render_slack
from notifier.subscribers import new_subscriber
from notifier.web.app import create_app
from notifier.web.links import digest_links
from web_helpers import ENV, PUBLIC, SECRET, store_sample_papers


@pytest.fixture
def web_config(config, monkeypatch):
    config.web.public_url = PUBLIC
    config.email.unsubscribe_mailto = "unsubscribe@example.org"
    monkeypatch.setenv("NOTIFIER_WEB_SECRET", SECRET)
    return config


def send_digest(config, address="ada@example.org", keywords='"speculative decoding", agents'):
    with open_context(config) as ctx:
        store_sample_papers(ctx.store)
        sub = ctx.store.add_subscriber(new_subscriber(address=address, keywords=[keywords]))
        deliver(ctx)
    return sub, outbox_email(config)


def outbox_email(config):
    """The one email written to the outbox folder."""
    [path] = Path(config.outbox_dir).glob("*.eml")
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def test_a_digest_mail_carries_one_click_unsubscribe_manage_and_vote_links(web_config):
    sub, msg = send_digest(web_config)
    unsub = msg["List-Unsubscribe"]
    assert unsub.startswith(f"<{PUBLIC}/unsubscribe/") and "<mailto:unsubscribe@example.org?subject=unsubscribe>" in unsub
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert f"{PUBLIC}/manage/" in html and f"{PUBLIC}/manage/" in text
    assert html.count(f"{PUBLIC}/vote/") == 2 * html.count('class="title"') > 0
    assert "more like this: https://" in text and "not for me: https://" in text


def test_the_mailed_links_work_against_the_app(web_config):
    sub, msg = send_digest(web_config)
    app = create_app(web_config, env=ENV)
    html = msg.get_body(("html",)).get_content()
    vote = html.split('Useful? <a href="')[1].split('"')[0]
    one_click = msg["List-Unsubscribe"].split(">")[0].lstrip("<")
    try:
        with TestClient(app, base_url=PUBLIC) as browser:
            page = browser.get(vote)
            token = page.text.split('name="csrftoken" value="')[1].split('"')[0]
            assert browser.post(vote, data={"csrftoken": token}).status_code == 200
        assert [v for _, v in app.web.store.votes(sub.id)] == [1]
        with TestClient(app, base_url=PUBLIC) as provider:
            assert provider.post(one_click, content=b"List-Unsubscribe=One-Click", headers={
                "content-type": "application/x-www-form-urlencoded"}).status_code == 200
        assert not app.web.store.find_subscriber(sub.id).active
    finally:
        app.web.close()


def test_without_public_url_or_key_a_digest_keeps_the_mailto_unsubscribe_only(config):
    config.email.unsubscribe_mailto = "unsubscribe@example.org"
    _, msg = send_digest(config)
    assert msg["List-Unsubscribe"] == "<mailto:unsubscribe@example.org?subject=unsubscribe>"
    assert msg["List-Unsubscribe-Post"] is None and "/vote/" not in msg.get_body(("html",)).get_content()
    assert digest_links(PUBLIC, None, 1, ["2606.12243"]) is None and digest_links("", SECRET, 1, []) is None


def test_slack_digests_get_vote_buttons_carrying_the_signed_token(web_config):
    from notifier.planning import build_digest, plan

    with open_context(web_config) as ctx:
        store_sample_papers(ctx.store)
        sub = ctx.store.add_subscriber(new_subscriber(address="#ml-papers", keywords=["agents"]))
        digest = build_digest(ctx, plan(ctx, sub), sub)
    msg = render_slack(digest)
    blocks = msg.blocks + [b for part in msg.thread for b in part]
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(actions) == len(digest.items) > 0
    up = actions[0]["elements"][0]
    assert up["action_id"] == "vote_up" and digest.links.votes[digest.items[0].paper.arxiv_id][0].endswith(up["value"])
    assert "Change keywords, pause or unsubscribe" in json.dumps(msg.blocks)


def test_notifier_vote_records_changes_and_clears_a_vote(web_config, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[general]\nstate_dir = "{tmp_path}"\n[database]\nurl = "{web_config.database_url}"\n')
    with open_context(web_config) as ctx:
        store_sample_papers(ctx.store)
        sub = ctx.store.add_subscriber(new_subscriber(address="ada@example.org", keywords=["agents"]))
    assert main(["-c", str(cfg), "vote", "ada@example.org", "2606.12243v2", "up"]) == 0
    assert main(["-c", str(cfg), "vote", "ada@example.org", "2606.12243", "down"]) == 0
    with open_context(web_config) as ctx:
        assert ctx.store.votes(sub.id) == [("2606.12243", -1)]
    assert main(["-c", str(cfg), "vote", "ada@example.org", "2606.12243", "clear"]) == 0
    assert main(["-c", str(cfg), "vote", "ada@example.org", "9999.99999", "up"]) == 1
    assert "no stored paper '9999.99999'" in capsys.readouterr().err
    with open_context(web_config) as ctx:
        assert ctx.store.votes(sub.id) == []
