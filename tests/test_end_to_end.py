"""The whole service end to end, every outside party a real local stand-in: a Hugging Face API
serving the recorded fixture (one title made hostile), aiosmtpd on 127.0.0.1, a Slack Web API
with two incoming webhooks. Subscribers come from the config file and from `notifier subscribe`.
Day 1: a real `notifier run` is SIGKILLed while an email is in flight, and run again; an SMTP
451 and Slack 429s leave two digests waiting. Day 2 (frozen clock): they go out. Every digest
must reach its own destination exactly once, nothing anywhere else, the hostile title escaped."""
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from freezegun import freeze_time

from notifier.cli import main
from hf_server import HFStandIn
from slack_server import FakeSlack
from smtp_server import Recorder, free_port
from test_faults import states as delivery_states

FIXTURE = Path(__file__).parent / "fixtures/hf/hf_daily_papers_api_2026-06-12.json"
HOSTILE = "<script>alert('x')</script> VIA-SD & Speculative Decoding\r\nBcc: victim@example.org"
HOSTILE_ID = "2606.12243"
# address -> the profile term only this subscriber has: it names their digest in its header/subject
CONFIG_SUBSCRIBERS = {"ann@example.org": "sparse attention", "webhook:HOOK_A": "distillation"}
CLI_SUBSCRIBERS = {"bob@example.org": "clustering", "webhook:HOOK_B": "psychometric", "#papers": "drones",
                   "cy@example.org": "morphology"}
TERMS = {**CONFIG_SUBSCRIBERS, **CLI_SUBSCRIBERS}


class RecordedDay(HFStandIn):
    """/api/daily_papers?date=D: the recorded day, re-dated to D, one title hostile."""

    def __init__(self):
        super().__init__()
        self.items = json.loads(FIXTURE.read_text())
        for item in self.items:
            if item["paper"]["id"] == HOSTILE_ID:
                item["paper"]["title"] = item["title"] = HOSTILE

    def items_of(self, day: str) -> list:
        for item in self.items:
            item["paper"]["submittedOnDailyAt"] = f"{day}T00:00:00.000Z"
        return self.items


@pytest.fixture
def world(tmp_path, monkeypatch):
    hf, slack, smtp = RecordedDay(), FakeSlack(), Recorder(hold_at=2)
    ctl = Controller(smtp, hostname="127.0.0.1", port=free_port())
    ctl.start()
    secrets = {"HOOK_A": slack.url + "/hook/A", "HOOK_B": slack.url + "/hook/B", "E2E_SLACK_TOKEN": "xoxb-e2e"}
    for name, value in {**secrets, "NOTIFIER_STATE_DIR": str(tmp_path / "state")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    config = tmp_path / "config.toml"
    config.write_text("\n".join([
        f'[database]\nurl = "sqlite:///{tmp_path / "notifier.sqlite"}"',
        f'[general]\noutbox_dir = "{tmp_path / "outbox"}"',
        f'[sources.hf_daily]\nbase_url = "{hf.url}"\nmin_interval_seconds = 0\nmax_catchup_days = 1',
        f'[email]\nhost = "127.0.0.1"\nport = {ctl.port}\nsecurity = "none"\nfrom = "Digest <digest@example.org>"',
        f'[slack]\napi_url = "{slack.url}/api/"\ntoken_env = "E2E_SLACK_TOKEN"\nmin_interval_seconds = 0',
        "[delivery]\nretry_base_seconds = 300",
        *[f'[[subscribers]]\n{"email" if "@" in a else "slack"} = "{a}"\nkeywords = \'"speculative decoding", "{t}"\''
          for a, t in CONFIG_SUBSCRIBERS.items()]]))
    yield str(config), smtp, slack
    smtp.release.set()
    ctl.stop()
    slack.close()
    hf.close()


def notifier(config: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "notifier", "--config", config, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))


def states(config: str) -> dict[str, list[str]]:
    return delivery_states(f"sqlite:///{Path(config).parent / 'notifier.sqlite'}")


def header(payload: dict) -> str:
    return payload["blocks"][0]["text"]["text"]


def test_every_digest_reaches_its_own_destination_once_through_a_crash_and_outages(world):
    config, smtp, slack = world
    for address, term in CLI_SUBSCRIBERS.items():
        assert main(["--config", config, "subscribe", address, "-k", f'"speculative decoding", "{term}"']) == 0
    smtp.rcpt_replies = {"cy@example.org": ["451 4.3.0 Try again later"]}
    slack.replies["/hook/B"] = [(429, {"Retry-After": "0"}, "rate_limited")] * 3     # beyond the SDK's retries

    # Day 1: the run is killed while bob's email (the 2nd) is received but not yet acknowledged.
    started = time.monotonic()
    first = notifier(config, "run", "--all")
    try:
        assert smtp.held.wait(30), "the run never reached the second email"
    finally:
        first.kill()
        first.wait(10)
        smtp.release.set()
    assert states(config)["bob@example.org"] == ["sending"]
    print(f"first run killed after {time.monotonic() - started:.1f} s")
    again = notifier(config, "run", "--all")
    out = again.communicate(timeout=60)[0].decode()
    print(f"rerun done after {time.monotonic() - started:.1f} s")
    assert again.returncode == 3, out                                      # two digests wait for a retry
    assert states(config)["cy@example.org"] == ["retry"] and states(config)["webhook:HOOK_B"] == ["retry"]

    # Day 2: the two waiting digests go out (folded into that day's catch-up), the rest is quiet.
    with freeze_time(datetime.now(timezone.utc) + timedelta(days=1), real_asyncio=True):
        assert main(["--config", config, "run", "--all"]) == 0
        assert main(["--config", config, "run", "--all"]) == 0             # and again: nothing twice

    final = states(config)
    open_or_lost = {"pending", "sending", "retry", "unknown", "failed", "held", "cancelled"}
    assert all(s.count("sent") == 1 and not open_or_lost & set(s) for s in final.values()), final
    assert sorted(final) == sorted(TERMS)

    # email: one distinct message per subscriber (bob's in-flight copy came twice, same Message-ID)
    messages = smtp.snapshot()
    assert {to: len(ids) for to, ids in smtp.per_recipient().items()} == {a: 1 for a in TERMS if "@" in a}
    assert len(messages) == 4
    for m in messages:
        assert TERMS[m["To"]] in m["Subject"] and m["Bcc"] is None and "\n" not in m["Subject"]
        html = m.get_body(("html",)).get_content()
        assert "<script>" not in html and "&lt;script&gt;alert(" in html and "VIA-SD &amp; Speculative" in html

    # Slack: exactly one accepted message per Slack subscriber, at its own destination
    accepted = slack.accepted()
    where = {"/hook/A": "webhook:HOOK_A", "/hook/B": "webhook:HOOK_B", "#papers": "#papers"}
    assert sorted(where[d] for d, _ in accepted) == sorted(a for a in TERMS if "@" not in a)
    for destination, payload in accepted:
        assert TERMS[where[destination]] in header(payload)
        body = json.dumps(payload)
        assert "<script>" not in body and "&lt;script&gt;alert(" in body and "VIA-SD &amp; Speculative" in body
    assert len(slack.hooks("/hook/B")) == 4                                 # 3 answered 429, then taken
    assert not (Path(config).parent / "outbox").exists()                    # nothing went anywhere else
