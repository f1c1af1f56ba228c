"""Operator alerts raised from what the fetches recorded: a source that answers every day but
with no papers on weekdays (its format changed, or the request no longer selects anything) is
reported like a source that is down, once for the whole stretch."""
from datetime import date, timedelta

import pytest
from freezegun import freeze_time

from notifier.alerts import raise_alerts
from notifier.context import open_context
from notifier.fetch_cycle import fetch_cycle
from test_pipeline import SAMPLE, day_items

IDS = [i["paper"]["id"] for i in SAMPLE]
MONDAY = date(2026, 7, 6)


def fetch_days(cfg, hf, days: int, papers_on=lambda day: False) -> list[str]:
    """A daemon's mornings from MONDAY on (each re-reads the day before): the alerts raised."""
    raised = []
    for n in range(days):
        day = MONDAY + timedelta(days=n)
        hf.days[day.isoformat()] = day_items(day.isoformat(), IDS[n % 30:n % 30 + 1]) if papers_on(day) else []
        with freeze_time(f"{day} 07:00"), open_context(cfg) as ctx:
            fetch_cycle(ctx)
            raised += raise_alerts(ctx)
    return raised


def test_a_source_that_finds_no_papers_three_weekdays_running_is_alerted_once(cfg, hf):
    raised = fetch_days(cfg, hf, 9)                 # Monday to the next Tuesday: always []
    [text] = raised
    assert text.startswith("source hf_daily found no papers on 3 weekdays in a row (since 2026-07-06)")


@pytest.mark.parametrize("papers_on", [
    pytest.param(lambda day: day.weekday() < 5, id="empty-weekends-only"),
    pytest.param(lambda day: day.weekday() in (0, 3), id="two-empty-weekdays-between-full-ones"),
])
def test_a_source_with_papers_on_weekdays_raises_no_alert(cfg, hf, papers_on):
    assert fetch_days(cfg, hf, 14, papers_on) == []


def test_an_arxiv_feed_stuck_on_one_listing_for_three_weekdays_is_alerted(arxiv_cfg, hf):
    from hf_server import rss_listing

    hf.rss["cs.LG"] = rss_listing("2607.00001")              # Monday's listing, never replaced
    raised = []
    for day in range(6, 11):                                 # Monday 6 to Friday 10 July
        with freeze_time(f"2026-07-{day:02d} 07:00"), open_context(arxiv_cfg) as ctx:
            fetch_cycle(ctx)
            raised += raise_alerts(ctx)
    [text] = raised
    assert text.startswith("source arxiv:cs.LG found no papers on 3 weekdays in a row (since 2026-07-07)")


NOT_FETCHED = [
    ("hf_daily", {"hf_daily.enabled": False}),
    ("arxiv:cs.LG", {"arxiv.enabled": False}),
    ("arxiv:cs.LG", {"arxiv.enabled": True, "arxiv.categories": ["cs.CL"]}),
]


def failing_for_two_days(config, source: str, settings: dict) -> list[str]:
    """``source`` failed on 2026-06-12 and has not been fetched since: the alerts raised two days
    later under ``settings`` (``section.key`` of [sources])."""
    for name, value in settings.items():
        section, key = name.split(".")
        setattr(getattr(config.sources, section), key, value)
    with freeze_time("2026-06-12 07:00"), open_context(config) as ctx:
        run_id = ctx.store.start_fetch(source, "2026-06-12")
        ctx.store.finish_fetch(run_id, outcome="failed", error="HTTP 503", http_status=503)
    with freeze_time("2026-06-14 07:00"), open_context(config) as ctx:
        return raise_alerts(ctx)


@pytest.mark.parametrize("source,settings", NOT_FETCHED,
                         ids=["hf-disabled", "arxiv-disabled", "arxiv-category-removed"])
def test_a_failed_source_the_configuration_no_longer_fetches_raises_no_alert(config, source, settings):
    """It was alerted as down after a day though `notifier status` names the setting: nothing
    would ever fetch it again."""
    assert failing_for_two_days(config, source, settings) == []


def test_a_failed_source_still_fetched_is_alerted_after_a_day(config):
    [text] = failing_for_two_days(config, "arxiv:cs.LG", {"arxiv.enabled": True, "arxiv.categories": ["cs.LG"]})
    assert text == "source arxiv:cs.LG has not been fetched successfully ever; last error: HTTP 503"


def test_an_alert_about_a_digest_of_unknown_outcome_gives_the_commands_that_settle_it(config):
    from notifier.models import Paper
    from notifier.subscribers import new_subscriber

    with freeze_time("2026-06-12 07:00"), open_context(config) as ctx:
        ctx.store.ingest([Paper("2606.00001", "Agents at scale")], source="hf_daily", digest_day="2026-06-12")
        sub = ctx.store.add_subscriber(new_subscriber(address="#papers", keywords=["agents"]))
        d = ctx.store.plan_delivery(subscriber_id=sub.id, digest_day="2026-06-12", items=[{"id": "2606.00001"}], meta={})
        ctx.store.claim(d.id)
        ctx.store.record(d.id, "unknown", error="no answer from Slack; the message may have been posted")
        [text] = raise_alerts(ctx)
    assert text == ("delivery to #papers for 2026-06-12 is unknown after 1 attempt: no answer from Slack; the message "
                    "may have been posted; if it arrived: `notifier resolve '#papers' 2026-06-12 delivered`, "
                    "if not: `notifier resolve '#papers' 2026-06-12 resend`")


def lost_digest(ctx, address: str = "#papers"):
    """``address``'s digest of 2026-06-12 claimed and recorded unknown (its connection was lost)."""
    from notifier.models import Paper
    from notifier.subscribers import new_subscriber

    ctx.store.ingest([Paper("2606.00001", "Agents at scale")], source="hf_daily", digest_day="2026-06-12")
    sub = ctx.store.add_subscriber(new_subscriber(address=address, keywords=["agents"]))
    d = ctx.store.plan_delivery(subscriber_id=sub.id, digest_day="2026-06-12", items=[{"id": "2606.00001"}], meta={})
    lose(ctx, d)
    return sub, d


def lose(ctx, d) -> None:
    ctx.store.claim(d.id, now=ctx.now())
    ctx.store.record(d.id, "unknown", error="no answer from Slack; the message may have been posted", now=ctx.now())


HOOK_URL = "https://hooks.slack.com/services/T0000/B0000/s3cretPart"     # whoever reads it can post


def test_an_alert_names_a_webhook_url_subscriber_by_id_and_never_prints_the_url(config):
    """The alert is mailed or posted to the operator; the URL in it let its readers post to the channel."""
    with freeze_time("2026-06-12 07:00"), open_context(config) as ctx:
        sub, _ = lost_digest(ctx, HOOK_URL)
        [text] = raise_alerts(ctx)
    assert "hooks.slack.com" not in text and "s3cret" not in text
    assert text.startswith(f"delivery to webhook subscriber #{sub.id} for 2026-06-12 is unknown after 1 attempt: ")
    assert text.endswith(f"`notifier resolve {sub.id} 2026-06-12 delivered`, "
                         f"if not: `notifier resolve {sub.id} 2026-06-12 resend`")


def test_a_digest_resent_by_the_operator_and_lost_again_is_alerted_again(config):
    """The alert was keyed by the digest and its state alone: the second loss was never told."""
    from notifier.outbox import State

    with freeze_time("2026-06-12 07:00") as clock, open_context(config) as ctx:
        _, d = lost_digest(ctx)
        assert len(raise_alerts(ctx)) == 1
        clock.tick(3600)
        assert ctx.store.resolve_unknown(d.key, State.RETRY, ctx.now()).state == "retry"
        lose(ctx, d)
        [again] = raise_alerts(ctx)
        assert raise_alerts(ctx) == []                   # and once only
    assert again.startswith("delivery to #papers for 2026-06-12 is unknown after 1 attempt: ")


def test_a_lost_digest_of_someone_who_unsubscribed_raises_no_alert(config):
    """Nothing can or should be sent to them: `resend` is refused, and nobody needs to act."""
    with freeze_time("2026-06-12 07:00"), open_context(config) as ctx:
        sub, _ = lost_digest(ctx, "ann@example.org")
        ctx.store.remove_subscriber(sub.id)
        assert raise_alerts(ctx) == []


def add_subscribers(config, *addresses: str) -> None:
    from notifier.subscribers import new_subscriber

    with freeze_time(f"{MONDAY} 06:00"), open_context(config) as ctx:
        for address in addresses:
            ctx.store.add_subscriber(new_subscriber(address=address, keywords=["agents"]))


@pytest.fixture
def hooks(config, monkeypatch):
    """Two Slack webhooks on a local stand-in, each with a subscriber (HOOK_A the first, HOOK_B
    the second)."""
    from slack_server import FakeSlack

    slack = FakeSlack()
    for name in ("A", "B"):
        monkeypatch.setenv(f"HOOK_{name}", f"{slack.url}/hook/{name}")
    config.slack.min_interval_seconds = 0
    add_subscribers(config, "webhook:HOOK_A", "webhook:HOOK_B")
    yield slack
    slack.close()


def hook_b_down(slack, on):
    """HOOK_B answers 503 on the days ``on`` says."""
    def each_day(day: date) -> None:
        slack.replies["/hook/B"] = [(503, {}, "service_unavailable")] * 99 if on(day) else []
    return each_day


def mornings(config, start: date, days: int, each_day) -> list[str]:
    """Each day from ``start``, ``each_day(day)`` (the stand-ins' answers), a new paper on agents
    at 07:00 and a delivery every three hours from 07:30 (the day's digests are planned then) to
    22:30: the alerts raised."""
    from notifier.models import Paper
    from notifier.sending import deliver

    raised = []
    for i in range(days):
        day = start + timedelta(days=i)
        each_day(day)
        with freeze_time(f"{day} 07:00") as clock, open_context(config) as ctx:
            ctx.store.ingest([Paper(f"2607.{day.day:05d}", f"Agents at scale, part {day.day}")], source="hf_daily",
                             digest_day=day.isoformat())
            for n in range(6):
                clock.tick(1800 if n == 0 else 3 * 3600)
                deliver(ctx)
                raised += raise_alerts(ctx)
    return raised


def test_a_webhook_down_for_days_is_alerted_once_though_each_morning_folds_its_digest_into_a_new_one(config, hooks):
    """With 11 attempts and the morning catch-up, its digest never failed: no alert at all, only
    `status` exit 3. The other webhook delivering all along does not hide it."""
    from notifier.outbox import State

    outage = lambda day: date(2026, 7, 7) <= day <= date(2026, 7, 9)      # noqa: E731  Tuesday to Thursday
    raised = mornings(config, MONDAY, 5, hook_b_down(hooks, outage))         # to Friday: it delivers again
    assert raised == ["Slack webhook:HOOK_B has delivered no digest since 2026-07-06 07:30 UTC; 1 digest waits for "
                      "a retry; last error: webhook answered 503 service_unavailable",
                      "Slack webhook:HOOK_B is delivering again since 2026-07-10 07:30 UTC, after 4 days 0 h without "
                      "a digest; 1 digest went out since, none waits for a retry"]
    with open_context(config) as ctx:
        states = [d.state for d in ctx.store.deliveries() if d.subscriber_id == 2]
    assert states == ["sent", State.SUPERSEDED, State.SUPERSEDED, State.SUPERSEDED, "sent"]


def test_a_webhook_down_again_after_it_delivered_is_alerted_again_and_each_end_told_once(config, hooks):
    outage = lambda day: day.day in (7, 8, 11, 12)                           # noqa: E731  two outages, two days each
    [first, back, second, again] = mornings(config, MONDAY, 8, hook_b_down(hooks, outage))
    assert "no digest since 2026-07-06 07:30 UTC" in first and "no digest since 2026-07-10 07:30 UTC" in second
    assert back.startswith("Slack webhook:HOOK_B is delivering again since 2026-07-09 07:30 UTC, after 3 days 0 h")
    assert again.startswith("Slack webhook:HOOK_B is delivering again since 2026-07-13 07:30 UTC, after 3 days 0 h")


def test_two_webhooks_down_at_once_are_each_alerted_and_each_told_back_once_when_it_delivers(config, hooks):
    def each_day(day: date) -> None:
        for hook, last_down in (("A", 8), ("B", 9)):
            hooks.replies[f"/hook/{hook}"] = [(503, {}, "service_unavailable")] * 99 if 7 <= day.day <= last_down else []
    raised = mornings(config, MONDAY, 5, each_day)
    assert [text.split(" since ")[0] for text in raised] == [
        "Slack webhook:HOOK_A has delivered no digest", "Slack webhook:HOOK_B has delivered no digest",
        "Slack webhook:HOOK_A is delivering again", "Slack webhook:HOOK_B is delivering again"]
    assert "since 2026-07-09 07:30 UTC" in raised[2] and "since 2026-07-10 07:30 UTC" in raised[3]


def test_an_outage_whose_digests_were_paused_leaves_status_and_is_told_over_by_the_next_digest_through(
        config, hooks, cli):
    """The outage ended with nothing waiting (the subscriber paused): no message then, as the
    webhook may still be down; `status`'s OUTAGE line goes, and the digest that gets through
    after the resume tells the operator."""
    raised = mornings(config, MONDAY, 3, hook_b_down(hooks, lambda day: day.day >= 7))       # down from Tuesday
    assert [text.split(" since ")[0] for text in raised] == ["Slack webhook:HOOK_B has delivered no digest"]
    with freeze_time("2026-07-08 23:00"):
        assert "OUTAGE: Slack webhook:HOOK_B has delivered no digest" in cli("status")[1]
        assert cli("edit", "webhook:HOOK_B", "--pause")[0] == 0
        code, out, _ = cli("status")
    assert code == 0 and "OUTAGE" not in out, out
    assert mornings(config, date(2026, 7, 9), 1, hook_b_down(hooks, lambda day: True)) == []
    with freeze_time("2026-07-09 23:00"):
        assert cli("edit", "webhook:HOOK_B", "--resume")[0] == 0
    [back] = mornings(config, date(2026, 7, 10), 2, hook_b_down(hooks, lambda day: False))
    assert back == ("Slack webhook:HOOK_B is delivering again since 2026-07-10 07:30 UTC, after 4 days 0 h without "
                    "a digest; 1 digest went out since, none waits for a retry")
    with freeze_time("2026-07-11 23:00"):
        assert "OUTAGE" not in cli("status")[1]


def test_a_webhook_failing_for_less_than_a_day_raises_no_alert(config, hooks):
    """A guard: a day's digest of a subscriber sent daily is a day after the last one."""
    assert mornings(config, MONDAY, 3, hook_b_down(hooks, lambda day: day.day == 7)) == []


@pytest.mark.parametrize("deferred, alert, back", [
    (["busy@example.org"], "no digest has reached busy@example.org since 2026-07-06 07:30 UTC; 1 digest waits",
     "digests reach busy@example.org again since 2026-07-09 07:30 UTC, after 3 days 0 h without a digest; "
     "1 digest went out since, none waits for a retry"),
    (["ok@example.org", "busy@example.org"], "email has delivered no digest since 2026-07-06 07:30 UTC; 2 digests wait",
     "email is delivering again since 2026-07-09 07:30 UTC, after 3 days 0 h without a digest; "
     "2 digests went out since, none waits for a retry"),
], ids=["one-mailbox", "the-mail-server"])
def test_mail_deferred_for_days_is_alerted_once_for_the_mailbox_or_once_for_the_server(config, smtp_recorder,
                                                                                         deferred, alert, back):
    """Not one alert per subscriber when the mail server is down; one naming the mailbox when only
    its own server defers it (the others get their mail)."""
    smtp, port = smtp_recorder
    config.email.host, config.email.port, config.email.security = "127.0.0.1", port, "none"
    add_subscribers(config, "ok@example.org", "busy@example.org")

    def each_day(day: date) -> None:
        down = date(2026, 7, 7) <= day <= date(2026, 7, 8)
        smtp.rcpt_replies = {address: ["451 4.3.0 Try again later"] * 99 for address in deferred if down}
    [text, over] = mornings(config, MONDAY, 4, each_day)
    assert text.startswith(alert) and text.endswith("last error: 451 4.3.0 Try again later"), text
    assert over == back


def hook_b_down_from_monday(config, hooks, steps: dict) -> dict[str, list[str]]:
    """HOOK_B down from Monday 07:30, when its digest is planned, then each step (moment -> what is
    done then) and a check: the alerts raised at each moment, up to their first ';'."""
    from notifier.models import Paper
    from notifier.sending import deliver

    hooks.replies["/hook/B"] = [(503, {}, "service_unavailable")] * 99
    first = lambda ctx: (ctx.store.ingest([Paper("2607.00006", "Agents at scale")], source="hf_daily",  # noqa: E731
                                          digest_day="2026-07-06"), deliver(ctx))
    raised = {}
    for moment, step in {"2026-07-06 07:30": first, **steps}.items():
        with freeze_time(moment), open_context(config) as ctx:
            step(ctx)
            raised[moment] = [text.split(";")[0] for text in raise_alerts(ctx)]
    return raised


def test_a_digest_held_by_a_pause_counts_its_outage_from_the_resume_not_from_when_it_was_planned(config, hooks):
    """Planned on Monday, held by a pause on Monday, resumed on Wednesday into a webhook still
    down: its first retry raised the alert at once, the outage counted from Monday."""
    from notifier.sending import deliver, send_pending

    raised = hook_b_down_from_monday(config, hooks, {
        "2026-07-06 08:00": lambda ctx: ctx.store.set_paused(2, True),
        "2026-07-08 12:00": lambda ctx: (ctx.store.set_paused(2, False), send_pending(ctx)),
        "2026-07-09 11:45": deliver, "2026-07-09 12:15": send_pending})
    assert raised == {"2026-07-06 07:30": [], "2026-07-06 08:00": [], "2026-07-08 12:00": [], "2026-07-09 11:45": [],
                      "2026-07-09 12:15": ["Slack webhook:HOOK_B has delivered no digest yet"]}, raised


def test_an_edit_during_an_outage_does_not_put_off_its_alert(config, hooks):
    """The outage counts from when the digest was due (``Delivery.due_at``), not from the
    subscriber's last change: an edit on Monday evening put the alert off to Tuesday 20:00."""
    from notifier.sending import deliver

    raised = hook_b_down_from_monday(config, hooks, {
        "2026-07-06 20:00": lambda ctx: ctx.store.update_subscriber(2, name="Team B"), "2026-07-07 07:45": deliver})
    assert raised == {"2026-07-06 07:30": [], "2026-07-06 20:00": [],
                      "2026-07-07 07:45": ["Slack webhook:HOOK_B has delivered no digest yet"]}, raised


def test_a_webhook_that_never_delivered_is_told_of_its_first_digest_and_how_long_after_the_first_was_due(
        config, hooks):
    """No "delivering again" for a channel that never delivered: its first digest, and how long
    after the first of its digests was due (there is no last delivery to count from)."""
    raised = mornings(config, MONDAY, 4, hook_b_down(hooks, lambda day: day.day <= 8))      # down to Wednesday
    assert raised == ["Slack webhook:HOOK_B has delivered no digest yet; 1 digest waits for a retry; last error: "
                      "webhook answered 503 service_unavailable",
                      "Slack webhook:HOOK_B delivered its first digest at 2026-07-09 07:30 UTC, 3 days 0 h after the "
                      "first was due; 1 digest went out since, none waits for a retry"]


def unsent_ends(ctx) -> list[str]:
    """The outage ends recorded that `[alerts]` would send."""
    return [a.text for a in ctx.store.unsent_alerts() if a.key.startswith("over:")]


def test_outages_that_ended_before_the_upgrade_are_not_told_over_all_at_once(config, hooks):
    """A database from before the end messages (its `silent:` alerts unpaired) gets none for an
    outage over before the upgrade: one per past outage came at the first check. A later outage
    is told, start and end."""
    from sqlalchemy import text

    from notifier.models import Paper
    from notifier.sending import deliver

    down = lambda day: day.day in (7, 8, 9, 14, 15)                          # noqa: E731
    assert len(mornings(config, MONDAY, 4, hook_b_down(hooks, down))) == 1   # Monday to Thursday: alerted
    hooks.replies["/hook/B"] = []
    with freeze_time("2026-07-10 07:30"), open_context(config) as ctx:      # Friday, the version before: no check
        ctx.store.ingest([Paper("2607.00010", "Agents at scale, part 10")], source="hf_daily", digest_day="2026-07-10")
        deliver(ctx)
        with ctx.store.engine.begin() as conn:
            conn.execute(text("DELETE FROM schema_version WHERE version > 9"))
    with freeze_time("2026-07-10 08:00"), open_context(config) as ctx:      # upgraded
        assert raise_alerts(ctx) == [] and unsent_ends(ctx) == []
    [start, end] = mornings(config, date(2026, 7, 13), 4, hook_b_down(hooks, down))
    assert start.startswith("Slack webhook:HOOK_B has delivered no digest since 2026-07-13 07:30 UTC")
    assert end.startswith("Slack webhook:HOOK_B is delivering again since 2026-07-16 07:30 UTC")


def test_an_outage_whose_subscribers_all_left_is_closed_quietly_and_no_longer_followed(config, hooks):
    """Its alert never ended: each check read every subscriber row to look for a delivery that
    cannot come. Now it is closed once, telling nobody, and the next checks read no subscriber."""
    assert len(mornings(config, MONDAY, 3, hook_b_down(hooks, lambda day: day.day >= 7))) == 1
    with freeze_time("2026-07-08 23:00"), open_context(config) as ctx:
        ctx.store.remove_subscriber(2)
        assert raise_alerts(ctx) == [] and unsent_ends(ctx) == []
        read, rows = [], ctx.store.subscriber_rows
        ctx.store.subscriber_rows = lambda *columns, **kw: read.append(columns) or rows(*columns, **kw)
        assert raise_alerts(ctx) == [] and read == []
