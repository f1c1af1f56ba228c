"""`notifier status`: what it says about each source is true for the configuration it runs with."""
import os
import re
import subprocess
import sys

import pytest

from notifier.commands.status import LISTED

NOT_FETCHED = [
    ("hf_daily", "[sources.hf_daily]\nenabled = false\n", "[sources.hf_daily] enabled = false"),
    ("arxiv:cs.LG", "[sources.arxiv]\nenabled = false\n", "[sources.arxiv] enabled = false"),
    ("arxiv:cs.LG", '[sources.arxiv]\nenabled = true\ncategories = ["cs.CL"]\n', "not in [sources.arxiv] categories"),
]


def ann_and_papers(store, papers: int = 1):
    """ann@example.org, profile 'agents', subscribed before the morning of 2026-06-12, and ``papers``
    (1 or 2) stored papers on agents of that day."""
    from freezegun import freeze_time

    from notifier.models import Paper
    from notifier.subscribers import new_subscriber

    store.ingest([Paper("2606.00001", "Agents at scale"), Paper("2606.00002", "Agents at scale, again")][:papers],
                 source="hf_daily", digest_day="2026-06-12")
    with freeze_time("2026-06-12 06:00"):
        return store.add_subscriber(new_subscriber(address="ann@example.org", keywords=["agents"]))


def failed_fetch(store, source: str) -> None:
    run_id = store.start_fetch(source, "2026-06-12")
    store.finish_fetch(run_id, outcome="failed", error="HTTP 503", http_status=503)


@pytest.mark.parametrize("source,settings,why", NOT_FETCHED,
                         ids=["hf-disabled", "arxiv-disabled", "arxiv-category-removed"])
def test_a_failed_source_the_configuration_no_longer_fetches_is_named_not_failing(cli, store, tmp_path, source,
                                                                                settings, why):
    """It said FAILING and exited 3 for good: nothing would ever fetch it again to end that."""
    failed_fetch(store, source)
    config = tmp_path / "config.toml"
    config.write_text(settings)
    code, out, _ = cli("--config", str(config), "status")
    assert code == 0 and re.search(rf"{re.escape(source)} +last ok: never; not fetched: {re.escape(why)}\n", out), out


def test_a_failed_source_still_fetched_is_failing_and_asks_for_attention(cli, store, tmp_path):
    failed_fetch(store, "arxiv:cs.LG")
    config = tmp_path / "config.toml"
    config.write_text('[sources.arxiv]\nenabled = true\ncategories = ["cs.LG"]\n')
    code, out, _ = cli("--config", str(config), "status")
    assert code == 3 and re.search(r"arxiv:cs.LG +last ok: never; FAILING since \S+ \S+ UTC: HTTP 503\n", out), out


def planned_at(store, sub, day: str, state: str, paper: str = "2606.00001", **record) -> None:
    """The digest of ``day`` planned that morning, claimed and sent or failed."""
    from datetime import datetime, timezone

    morning = datetime.fromisoformat(f"{day}T07:30:00+00:00").astimezone(timezone.utc)
    d = store.plan_delivery(subscriber_id=sub.id, digest_day=day, items=[{"id": paper}], meta={},
                            created_at=morning)
    store.claim(d.id, now=morning)
    store.record(d.id, state, now=morning, **record)


def status_at_noon(cli) -> tuple:
    """`notifier status` at noon UTC on 2026-06-14, after these tests' 07:30 subscribers' time: on the
    wall clock between 01:30 and 07:30 UTC it also said that their late digest waits for their time."""
    from freezegun import freeze_time

    with freeze_time("2026-06-14 12:00"):
        return cli("status")


def test_a_failed_digest_whose_papers_a_later_sent_digest_carried_no_longer_asks_for_attention(cli, store):
    """A failed digest's papers are offered again: once a later digest of that subscriber went out,
    nothing is left to do. Status listed it and exited 3 for good."""
    from notifier.subscribers import new_subscriber

    ann = ann_and_papers(store)
    bob = store.add_subscriber(new_subscriber(address="bob@example.org", keywords=["agents"]))
    planned_at(store, ann, "2026-06-12", "failed", error="550 mailbox full")
    planned_at(store, ann, "2026-06-14", "sent")
    code, out, _ = status_at_noon(cli)
    assert code == 0 and out.endswith("Deliveries: nothing pending\n  1 failed earlier, caught up by a later digest sent since\n"), out
    planned_at(store, bob, "2026-06-12", "failed", error="550 mailbox full")
    code, out, _ = status_at_noon(cli)
    assert code == 3 and "  failed   bob@example.org 2026-06-12 (attempts 1): 550 mailbox full\n" in out, out


def test_a_digest_whose_worker_died_mid_send_is_named_interrupted_and_a_live_send_is_not(cli, store):
    """After a kill -9 the row stays `sending` until the next run: status said only "sending", as
    for a message on the wire this moment."""
    import socket
    import subprocess
    import sys

    from notifier.subscribers import new_subscriber

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                            # exited and reaped: its pid is gone
    for address, worker in (("ann@example.org", f"{socket.gethostname()}:{dead.pid}:abc123"),
                            ("bob@example.org", store.worker)):          # this process: alive, sending
        sub = store.add_subscriber(new_subscriber(address=address, keywords=["agents"]))
        d = store.plan_delivery(subscriber_id=sub.id, digest_day="2026-06-12", items=[], meta={"empty_note": True})
        store.worker = worker
        store.claim(d.id)
    code, out, _ = cli("status")
    assert code == 0 and out.endswith(
        "Deliveries:\n"
        "  sending  ann@example.org 2026-06-12 (attempts 1): its send was cut short (its worker stopped, or the "
        "channel's answer was lost); the next run or daemon sweep resolves it\n"
        "  sending  bob@example.org 2026-06-12 (attempts 1)\n"), out


def test_a_digest_of_unknown_outcome_keeps_asking_for_attention_after_a_later_one_was_sent(cli, store):
    """Unlike a failed digest's, its papers are taken: no later digest carried them. Status names
    the two commands that settle it."""
    ann = ann_and_papers(store, 2)
    planned_at(store, ann, "2026-06-12", "unknown", error="connection lost while sending; it may have arrived")
    planned_at(store, ann, "2026-06-14", "sent", paper="2606.00002")
    code, out, _ = status_at_noon(cli)
    assert code == 3 and out.endswith(
        "  unknown  ann@example.org 2026-06-12 (attempts 1): connection lost while sending; it may have arrived\n"
        "           it arrived (see the mail log or the channel)? notifier resolve ann@example.org 2026-06-12 delivered\n"
        "           it did not? send it again:                    notifier resolve ann@example.org 2026-06-12 resend\n"), out


def test_status_names_a_webhook_url_subscriber_by_id_and_never_prints_the_url(cli, store):
    """Status output is pasted into tickets and chats; whoever reads the URL can post to the channel."""
    from notifier.subscribers import new_subscriber

    ann_and_papers(store)
    hook = store.add_subscriber(new_subscriber(address="https://hooks.slack.com/services/T0000/B0000/s3cretPart",
                                               keywords=["agents"]))
    planned_at(store, hook, "2026-06-12", "unknown", error="no answer from Slack; the message may have been posted")
    code, out, _ = cli("status")
    assert code == 3 and "hooks.slack.com" not in out and "s3cret" not in out, out
    assert (f"  unknown  webhook subscriber #{hook.id} 2026-06-12 (attempts 1): no answer from Slack; the message "
            f"may have been posted\n"
            "           it arrived (see the mail log or the channel)? "
            f"notifier resolve {hook.id} 2026-06-12 delivered\n") in out, out
    assert f"  {f'webhook subscriber #{hook.id}':<28} last sent: never\n" in out, out


def test_digests_not_delivered_to_someone_who_unsubscribed_are_counted_not_asked_about(cli, store):
    """Nothing can or should be sent to them (`resolve ... resend` is refused): a failed or lost
    digest of theirs kept status at exit 3 for good."""
    ann = ann_and_papers(store, 2)
    planned_at(store, ann, "2026-06-12", "unknown", error="connection lost while sending; it may have arrived")
    planned_at(store, ann, "2026-06-13", "failed", paper="2606.00002", error="550 mailbox unavailable")
    store.remove_subscriber(ann.id)
    code, out, _ = cli("status")
    assert code == 0 and out.endswith(
        "Deliveries: nothing pending\n"
        "  2 not delivered (failed, or of unknown outcome) to subscribers who unsubscribed since: "
        "nothing more is sent to them\n"), out


def test_a_paused_subscriber_is_listed_as_paused(cli, store):
    """Status listed only those sent to: a subscriber paused after a digest went out vanished from it."""
    from notifier.subscribers import new_subscriber

    ann = ann_and_papers(store)
    store.add_subscriber(new_subscriber(address="bob@example.org", keywords=["agents"]))
    planned_at(store, ann, "2026-06-12", "sent")
    store.set_paused(ann.id, True)
    code, out, _ = cli("status")
    assert code == 0 and ("Subscribers:\n"
                          "  ann@example.org              last sent: 2026-06-12 07:30 UTC (2026-06-12); paused\n"
                          "  bob@example.org              last sent: never\n") in out, out


def test_many_subscribers_are_summarised_with_how_many_are_paused(cli, store):
    from notifier.subscribers import new_subscriber

    subs = [store.add_subscriber(new_subscriber(address=f"u{i}@example.org", keywords=["agents"])) for i in range(52)]
    for sub in subs[:2]:
        store.set_paused(sub.id, True)
    code, out, _ = cli("status")
    assert code == 0 and ("Subscribers:\n  52 active (2 of them paused); their latest digest sent was for "
                          "(digest day: subscribers)\n    never: 52\n") in out, out


def test_many_digests_waiting_to_be_sent_are_counted_and_one_needing_the_operator_is_still_listed(cli, store):
    """A `run` interrupted while planning 20,000 digests left status printing 20,000 'pending' lines."""
    from notifier.subscribers import new_subscriber

    planned_at(store, ann_and_papers(store), "2026-06-12", "failed", error="550 mailbox full")
    for i in range(LISTED):
        sub = store.add_subscriber(new_subscriber(address=f"u{i}@example.org", keywords=["agents"]))
        store.plan_delivery(subscriber_id=sub.id, digest_day="2026-06-12", items=[], meta={"empty_note": True})
    code, out, _ = status_at_noon(cli)
    assert code == 3 and out.endswith(
        "Deliveries:\n"
        "  failed   ann@example.org 2026-06-12 (attempts 1): 550 mailbox full\n"
        f"  {LISTED} waiting to be sent (nothing to do: the next run or daemon sweep sends them): {LISTED} pending\n"), out

def test_a_source_failing_for_days_is_failing_since_its_first_failure_not_its_latest(cli, store, tmp_path):
    """It said "FAILING since" the latest failed fetch: a source down for three days read as down since this morning."""
    from freezegun import freeze_time

    for day, outcome in (("2026-06-10", "ok"), ("2026-06-11", "failed"), ("2026-06-12", "failed")):
        with freeze_time(f"{day} 07:00"):
            run_id = store.start_fetch("hf_daily", day)
            store.finish_fetch(run_id, outcome=outcome, error="HTTP 503" if outcome == "failed" else None)
    code, out, _ = cli("status")
    assert code == 3 and ("hf_daily     last ok: 2026-06-10 07:00 UTC (day 2026-06-10, 0 new); "
                          "FAILING since 2026-06-11 07:00 UTC: HTTP 503\n") in out, out


@pytest.mark.parametrize("now,code,note", [
    ("2026-06-12 07:50", 0, "next try 2026-06-12 08:00 UTC)"),
    ("2026-06-12 08:10", 0, "next try 2026-06-12 08:00 UTC, overdue by 10 min)"),
    ("2026-06-12 10:05", 3, "next try 2026-06-12 08:00 UTC, OVERDUE by 2 h 5 min: nothing has tried it since "
                            "(no daemon or timer run, or its channel stopped: see the log))"),
    ("2026-06-15 09:00", 3, "next try 2026-06-12 08:00 UTC, OVERDUE by 3 days 1 h: nothing has tried it since "
                            "(no daemon or timer run, or its channel stopped: see the log))"),
], ids=["not-yet", "within-a-cycle", "hours-late", "days-late"])
def test_a_retry_whose_next_try_has_passed_is_overdue_and_needs_the_operator_once_a_cycle_late(cli, store, now, code,
                                                                                               note):
    """It read 'next try 08:00' at noon as at 07:50 and exited 0: the daemon was not running."""
    from datetime import datetime

    from freezegun import freeze_time


    ann = ann_and_papers(store)
    planned_at(store, ann, "2026-06-12", "retry", error="451 try again later",
               next_attempt_at=datetime.fromisoformat("2026-06-12T08:00:00+00:00"))
    with freeze_time(now):
        code_, out, _ = cli("status")
    assert (code_, out.splitlines()[:5]) == (code, ["Sources:", "  no fetch yet", "Subscribers:",
                                                    "  ann@example.org              last sent: never", "Deliveries:"])
    assert out.splitlines()[5:] == [f"  retry    ann@example.org 2026-06-12 (attempts 1, {note}: 451 try again later"] + (
        ["  OUTAGE: email has delivered no digest yet; 1 digest waits for a retry; last error: 451 try again later"]
        if now >= "2026-06-13 07:30" else [])          # a day after it was planned, nothing delivered since


@pytest.mark.parametrize("now,code,note", [
    ("2026-06-12 08:40", 0, "overdue by 40 min)"),
    ("2026-06-12 09:10", 3, "OVERDUE by 1 h 10 min: nothing has tried it since (no daemon or timer run, or its "
                            "channel stopped: see the log))"),
], ids=["within-its-sweep", "past-its-sweep"])
def test_a_retry_is_overdue_for_the_operator_only_once_later_than_the_daemons_own_sweep_interval(cli, store, config,
                                                                                                 now, code, note):
    """`notifier serve --sweep-minutes 60`: status called a retry 40 minutes late OVERDUE and exited 3."""
    import queue
    from datetime import datetime

    from freezegun import freeze_time

    from notifier.commands.serve import Running

    config.sources.hf_daily.enabled = config.sources.arxiv.enabled = False
    Running(config, queue.Queue(), sweep_minutes=60).stop()
    planned_at(store, ann_and_papers(store), "2026-06-12", "retry", error="451 try again later",
               next_attempt_at=datetime.fromisoformat("2026-06-12T08:00:00+00:00"))
    with freeze_time(now):
        code_, out, _ = cli("status")
    assert (code_, out.splitlines()[-1]) == (code, "  retry    ann@example.org 2026-06-12 (attempts 1, next try "
                                                   f"2026-06-12 08:00 UTC, {note}: 451 try again later")


@pytest.mark.parametrize("now,code", [("2026-06-13 07:00", 0), ("2026-06-13 07:40", 3)], ids=["hours", "a-day"])
def test_mail_that_has_delivered_nothing_for_a_day_while_a_digest_waits_is_an_outage_for_the_operator(cli, store, now,
                                                                                                      code):
    """Each morning's catch-up folds the waiting digest into a new one, so none ever failed or was
    overdue: status exited 0 through an outage of days."""
    from datetime import datetime

    from freezegun import freeze_time

    planned_at(store, ann_and_papers(store), "2026-06-12", "retry", error="451 try again later",
               next_attempt_at=datetime.fromisoformat("2026-06-13T08:00:00+00:00"))
    with freeze_time(now):
        code_, out, _ = cli("status")
    outage = ("  OUTAGE: email has delivered no digest yet; 1 digest waits for a retry; last error: 451 try again later")
    assert (code_, outage in out.splitlines()) == (code, code == 3), out


def test_status_help_says_what_each_exit_status_means_for_a_monitoring_check(capsys):
    from notifier.cli import main

    with pytest.raises(SystemExit):
        main(["status", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert ("exit status: 0 all is well; 1 an error (the configuration or the database could not be read); 3 "
            "something needs the operator: a source failing, a digest failed, of unknown outcome or OVERDUE, a "
            "channel that has delivered nothing for 24 hours while digests wait for a retry (an OUTAGE), a stored "
            "profile that no longer parses, or no room on the database's disk (each is listed)") in shown


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered-as-under-systemd", "buffered"])
def test_a_status_whose_reader_stops_early_keeps_its_exit_status(store, db_url, tmp_path, unbuffered):
    """`notifier status | head -1` in a check: the closed pipe ended status with exit 0, hiding its 3."""
    failed_fetch(store, "hf_daily")
    env = {**os.environ, "NOTIFIER_DATABASE_URL": db_url, "NOTIFIER_STATE_DIR": str(tmp_path),
           "PYTHONUNBUFFERED": unbuffered}
    env.pop("NOTIFIER_CONFIG", None)
    read, write = os.pipe()
    os.close(read)                      # the reader has gone before anything is written
    with os.fdopen(write, "w") as gone:
        proc = subprocess.run([sys.executable, "-m", "notifier", "status"], stdout=gone, stderr=subprocess.PIPE,
                              text=True, env=env)
    assert (proc.returncode, proc.stderr) == (3, "")


def test_status_on_a_full_disk_asks_for_the_operator_with_exit_3_naming_it(store, tmp_path):
    """It exited 1, which a check reads as its own error; no file can grow (RLIMIT_FSIZE 0, SIGXFSZ
    ignored), so SQLite cannot make the write-ahead log it needs to read the database."""
    import resource
    import signal

    if store.path is None:
        pytest.skip("a PostgreSQL server's disk is not this process's")
    ann_and_papers(store)
    store.close()

    def full_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    env = {**os.environ, "NOTIFIER_DATABASE_URL": store.url, "NOTIFIER_STATE_DIR": str(tmp_path)}
    env.pop("NOTIFIER_CONFIG", None)
    proc = subprocess.run([sys.executable, "-m", "notifier", "status"], capture_output=True, text=True, env=env,
                          preexec_fn=full_disk)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, f"Database: {store.path}: reading or writing the "
        "database failed: disk full, file size limit or a failing disk; nothing is fetched, sent or recorded "
        "until it can be written\n", "")


def test_a_host_holding_its_sources_off_with_a_retry_after_is_named_until_when(cli, store):
    """The timer's runs and the workers respect a Retry-After now: status says why nothing is asked."""
    from datetime import datetime, timezone

    from freezegun import freeze_time

    store.hold_host("arxiv", datetime(2026, 6, 13, 7, 5, tzinfo=timezone.utc), "HTTP 429", 429)
    store.hold_host("hf", datetime(2026, 6, 12, 6, 0, tzinfo=timezone.utc), "HTTP 503", 503)   # ended
    with freeze_time("2026-06-12 07:00"):
        code, out, _ = cli("status")
    assert code == 0 and "  arxiv sources held until 2026-06-13 07:05 UTC: their host answered HTTP 429 with a " \
        "Retry-After (no fetch asks it before then)\n" in out and "hf sources" not in out
