"""What a running daemon writes to journald about a digest it holds back, sweep after sweep."""
import json
import logging
import queue

from freezegun import freeze_time

from notifier.commands.serve import Daemon
from notifier.context import open_context
from notifier.models import Paper
from notifier.subscribers import new_subscriber


def sweeps(ctx, clock, daemon, n: int) -> None:
    for _ in range(n):
        clock.tick(300)
        daemon.sweep()


def test_a_subscriber_held_back_by_an_unreadable_profile_is_logged_at_error_once_then_at_debug(config, caplog):
    """The alert went out once, but the log had an ERROR line for them at every sweep (every 5
    minutes, all day long). An edit into another unreadable profile is a new held state: one more."""
    config.sources.hf_daily.enabled = False
    with freeze_time("2026-07-01 07:00") as clock, open_context(config) as ctx, \
            caplog.at_level(logging.DEBUG, logger="notifier.pipeline"):
        sub = ctx.store.add_subscriber(new_subscriber(address="bob@example.org", keywords=["mamba"]))
        ctx.store.update_subscriber(sub.id, profile=json.dumps(["title:-mamba"]))
        ctx.store.ingest([Paper("2607.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-07-01")
        daemon = Daemon(ctx, queue.Queue())
        daemon._first_sweep = False                       # no start-up fetch
        daemon.build(config)
        clock.move_to("2026-07-01 07:30")
        sweeps(ctx, clock, daemon, 6)
        ctx.store.update_subscriber(sub.id, profile=json.dumps(["+-mamba"]))
        sweeps(ctx, clock, daemon, 6)
    lines = [(r.levelname, r.ctx["term"]) for r in caplog.records if r.getMessage() == "profile unreadable"]
    assert lines == [("ERROR", "title:-mamba")] + [("DEBUG", "title:-mamba")] * 5 \
        + [("ERROR", "+-mamba")] + [("DEBUG", "+-mamba")] * 5, lines


def test_a_webhook_url_subscriber_held_back_is_logged_by_id_as_the_alert_names_them(config, caplog):
    """The line said subscriber=[redacted] (the URL is a secret) and the alert's own log line,
    which named them, is this line now: the operator could not tell whose profile to edit."""
    from notifier.sending import deliver

    config.sources.hf_daily.enabled = False
    with freeze_time("2026-07-01 07:30"), open_context(config) as ctx, caplog.at_level(logging.ERROR):
        sub = ctx.store.add_subscriber(new_subscriber(address="https://hooks.slack.com/services/T0/B0/secret",
                                                      keywords=["mamba"]))
        ctx.store.update_subscriber(sub.id, profile=json.dumps(["title:-mamba"]))
        deliver(ctx)
    [line] = [r for r in caplog.records if r.getMessage() == "profile unreadable"]
    assert line.ctx["subscriber"] == f"webhook subscriber #{sub.id}" and "secret" not in caplog.text
