"""`notifier resolve`: the operator settles a digest whose connection was lost after its data went
out (`[delivery] unknown_policy = "hold"`), as `notifier status` tells them to. Real runs against
aiosmtpd on 127.0.0.1 that drops the connection once the first message's data is in."""
import shlex
import threading
from importlib.resources import files

import pytest
from aiosmtpd.controller import Controller
from freezegun import freeze_time

from notifier.cli import main
from notifier.parse import parse_text
from notifier.store import Store
from smtp_server import Recorder, free_port

SAMPLE = "hf_daily_papers_api_2026-06-12.json"


class DropsFirstAfterData(Recorder):
    """Keeps the first message that reaches DATA, then closes the connection without answering:
    the client cannot tell whether it arrived. Later messages are answered as usual."""

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == 1:
            server.transport.close()
        return answer


@pytest.fixture
def lost(tmp_path, db_url, monkeypatch, capsys):
    """ann@example.org's digest of 2026-06-12 sent by `notifier run` and lost after its data:
    -> (the config path, the SMTP recorder)."""
    smtp = DropsFirstAfterData()
    ctl = Controller(smtp, hostname="127.0.0.1", port=free_port())
    ctl.start()
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path / "state"))
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n[sources.hf_daily]\nenabled = false\n'
                      f'[email]\nhost = "127.0.0.1"\nport = {ctl.port}\nsecurity = "none"\n'
                      '[delivery]\nunknown_policy = "hold"\n')
    store = Store(db_url)
    store.ingest(parse_text(files("notifier.samples").joinpath(SAMPLE).read_text()), source="hf_daily",
                 digest_day="2026-06-12")
    store.close()
    with freeze_time("2026-06-12 09:30:00", real_asyncio=True):
        assert main(["--config", str(config), "subscribe", "ann@example.org", "-k", "agents", "--time", "09:00"]) == 0
        assert main(["--config", str(config), "run"]) == 3
        capsys.readouterr()
        yield str(config), smtp
    ctl.stop()


def notifier(*argv: str, capsys) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def status_commands(config: str, capsys) -> dict[str, list[str]]:
    """`notifier status` (exit 3) -> the resolve commands it prints, by outcome, as argv."""
    code, out, _ = notifier("--config", config, "status", capsys=capsys)
    assert code == 3 and "  unknown  ann@example.org 2026-06-12 (attempts 1): connection lost while sending" in out, out
    commands = [shlex.split(line[line.index("notifier "):]) for line in out.splitlines() if "notifier --config" in line]
    return {argv[-1]: argv[1:] for argv in commands}


def test_a_lost_digest_resent_by_the_operator_goes_out_once_more_with_the_same_message_id(lost, capsys):
    config, smtp = lost
    [first] = smtp.snapshot()
    resend = status_commands(config, capsys)["resend"]
    assert resend == ["--config", config, "resolve", "ann@example.org", "2026-06-12", "resend"]
    assert notifier(*resend, capsys=capsys) == (0, "ann@example.org 2026-06-12: re-queued: the next run or daemon "
                                                   "sweep sends it again, with the same Message-ID\n", "")
    assert notifier("--config", config, "status", capsys=capsys)[0] == 0       # waiting to go out: nothing to do
    code, out, _ = notifier("--config", config, "run", capsys=capsys)
    assert code == 0 and out.startswith("deliver ann@example.org: sent, "), out
    assert notifier("--config", config, "run", capsys=capsys)[:2] == (0, "no digest due\n")
    again = smtp.snapshot()[1:]
    assert [m["Message-ID"] for m in again] == [first["Message-ID"]]
    code, out, _ = notifier("--config", config, "status", capsys=capsys)
    assert code == 0 and "Deliveries: nothing pending or failed" in out, out


def test_a_lost_digest_the_operator_found_delivered_is_recorded_sent_and_never_sent_again(lost, capsys):
    config, smtp = lost
    delivered = status_commands(config, capsys)["delivered"]
    assert notifier(*delivered, capsys=capsys) == (0, "ann@example.org 2026-06-12: recorded sent\n", "")
    code, out, _ = notifier("--config", config, "status", capsys=capsys)
    assert code == 0 and "ann@example.org              last sent: 2026-06-12 09:30 UTC (2026-06-12)" in out, out
    assert notifier("--config", config, "run", capsys=capsys)[:2] == (0, "no digest due\n")
    assert len(smtp.snapshot()) == 1


@pytest.mark.parametrize("first,second", [("resend", "delivered"), ("delivered", "resend"), ("resend", "resend")])
def test_a_digest_resolved_once_is_not_resolved_again(lost, capsys, first, second):
    """Two operators (or one, twice): the second finds it settled and changes nothing."""
    config, _ = lost
    state = {"resend": "retry", "delivered": "sent"}[first]
    assert notifier("--config", config, "resolve", "ann@example.org", "2026-06-12", first, capsys=capsys)[0] == 0
    assert notifier("--config", config, "resolve", "ann@example.org", "2026-06-12", second, capsys=capsys) == (
        1, "", f"notifier: error: the digest of 2026-06-12 for ann@example.org is {state}, not unknown: nothing to resolve\n")


@pytest.mark.parametrize("argv,message", [
    (["ann@example.org", "2026-06-11", "resend"], "no digest of 2026-06-11 for ann@example.org (see `notifier status`)"),
    (["ann@example.org", "12.6.2026", "resend"], "day '12.6.2026' must be a date as YYYY-MM-DD"),
    (["bob@example.org", "2026-06-12", "resend"], "no subscriber 'bob@example.org' (see `notifier subscribers`)"),
], ids=["no-digest-that-day", "bad-day", "unknown-subscriber"])
def test_resolving_what_is_not_there_is_one_line(lost, capsys, argv, message):
    config, _ = lost
    assert notifier("--config", config, "resolve", *argv, capsys=capsys) == (1, "", f"notifier: error: {message}\n")


def test_a_lost_digest_of_someone_who_unsubscribed_is_not_resent(lost, capsys):
    config, smtp = lost
    assert notifier("--config", config, "unsubscribe", "ann@example.org", capsys=capsys)[0] == 0
    assert notifier("--config", config, "resolve", "ann@example.org", "2026-06-12", "resend", capsys=capsys) == (
        1, "", "notifier: error: ann@example.org has unsubscribed: nothing is sent to them again\n")


def test_a_lost_digest_of_a_paused_subscriber_is_resent_once_they_resume(lost, capsys):
    config, smtp = lost
    assert notifier("--config", config, "edit", "ann@example.org", "--pause", capsys=capsys)[0] == 0
    assert notifier("--config", config, "resolve", "ann@example.org", "2026-06-12", "resend", capsys=capsys) == (
        0, "ann@example.org 2026-06-12: re-queued: the next run or daemon sweep sends it again, with the same "
           "Message-ID once they resume (`notifier edit ann@example.org --resume`)\n", "")
    assert notifier("--config", config, "run", capsys=capsys)[:2] == (0, "no digest due\n")
    assert notifier("--config", config, "edit", "ann@example.org", "--resume", capsys=capsys)[0] == 0
    code, out, _ = notifier("--config", config, "run", capsys=capsys)
    assert code == 0 and out.startswith("deliver ann@example.org: sent, "), out
    assert len(smtp.snapshot()) == 2


def test_a_resent_digest_gets_its_attempts_anew_so_one_busy_answer_does_not_fail_it_for_good(lost, capsys, db_url):
    """A digest that went unknown after most of its attempts (a flaky server) and was re-queued
    became failed at the first 451 of its one more try."""
    from sqlmodel import update

    from notifier.store import Delivery

    config, smtp = lost
    store = Store(db_url)
    with store.session() as session:
        session.exec(update(Delivery).values(attempts=11))       # [delivery] max_attempts, the default
    assert notifier("--config", config, "resolve", "ann@example.org", "2026-06-12", "resend", capsys=capsys)[0] == 0
    smtp.rcpt_replies = {"ann@example.org": ["451 4.3.0 Try again later"]}
    code, out, _ = notifier("--config", config, "run", capsys=capsys)
    assert code == 3 and out.startswith("deliver ann@example.org: retry, "), out
    assert store.delivery_by_key(f"{store.find_subscriber('ann@example.org').id}:2026-06-12").state == "retry"
    store.close()


def test_of_two_workers_settling_one_digest_at_once_exactly_one_moves_it(lost, db_url):
    """The conditional UPDATE, from two connections at once (on PostgreSQL: two sessions racing)."""
    from notifier.outbox import State

    stores = [Store(db_url), Store(db_url)]
    key = stores[0].deliveries()[0].key
    start, moved = threading.Barrier(2), []

    def settle(store, to):
        start.wait()
        moved.append(store.resolve_unknown(key, to, store.deliveries()[0].claimed_at))
    threads = [threading.Thread(target=settle, args=(s, to)) for s, to in zip(stores, (State.RETRY, State.SENT))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winner = [d for d in moved if d is not None]
    assert len(winner) == 1 and stores[0].deliveries()[0].state == winner[0].state
    for s in stores:
        s.close()


def test_resolve_names_a_webhook_url_subscriber_by_id_and_never_prints_the_url(cli, store):
    """The operator resolves by the id `notifier status` gives; the answer is as safe to paste as status is."""
    from notifier.models import Paper
    from notifier.subscribers import new_subscriber

    store.ingest([Paper("2606.00001", "Agents at scale")], source="hf_daily", digest_day="2026-06-12")
    hook = store.add_subscriber(new_subscriber(address="https://hooks.slack.com/services/T0000/B0000/s3cretPart",
                                               keywords=["agents"]))
    d = store.plan_delivery(subscriber_id=hook.id, digest_day="2026-06-12", items=[{"id": "2606.00001"}], meta={})
    store.claim(d.id)
    store.record(d.id, "unknown", error="no answer from Slack; the message may have been posted")
    store.set_paused(hook.id, True)
    assert cli("resolve", str(hook.id), "2026-06-12", "resend") == (
        0, f"webhook subscriber #{hook.id} 2026-06-12: re-queued: the next run or daemon sweep sends it again, with "
           f"the same Message-ID once they resume (`notifier edit {hook.id} --resume`)\n", "")
    assert cli("resolve", str(hook.id), "2026-06-11", "resend") == (
        1, "", f"notifier: error: no digest of 2026-06-11 for webhook subscriber #{hook.id} (see `notifier status`)\n")
