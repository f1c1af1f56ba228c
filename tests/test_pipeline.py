"""The whole cycle in process: a real local HTTP server stands in for Hugging Face, the clock is
frozen and moved day by day, digests land in the outbox channel."""
from __future__ import annotations

import email
import json
import logging
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path

import pytest
from freezegun import freeze_time

from notifier.alerts import find_problems
from notifier.context import open_context
from notifier.fetch_cycle import fetch_cycle
from notifier.sending import deliver, send_pending
from notifier.subscribers import new_subscriber

SAMPLE = json.loads((Path(__file__).parents[1] / "notifier/samples/hf_daily_papers_api_2026-06-12.json").read_text())


def day_items(day: str, ids: list[str]) -> list[dict]:
    """Real API items, re-dated: papers of the sample appear on the given day."""
    by_id = {i["paper"]["id"]: i for i in SAMPLE}
    out = []
    for pid in ids:
        item = json.loads(json.dumps(by_id[pid]))
        item["paper"]["submittedOnDailyAt"] = f"{day}T00:00:00.000Z"
        out.append(item)
    return out


SPEC_DECODING, SPARSE_ATTN, DISTILL_2STEP, AGENTS_ARENA = "2606.12243", "2606.13392", "2606.12575", "2606.13681"



def outbox(cfg) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default)
            for p in sorted(Path(cfg.outbox_dir).glob("*.eml"))]


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content()


def cycle(cfg, when: str):
    with freeze_time(when), open_context(cfg) as ctx:
        fetched = fetch_cycle(ctx)
        return fetched, deliver(ctx)


def subscribe(cfg, when: str, *keywords: str, address="ada@example.org"):
    with freeze_time(when), open_context(cfg) as ctx:
        ctx.store.add_subscriber(new_subscriber(address=address, keywords=list(keywords)))


def test_next_day_brings_only_the_new_papers(cfg, hf):
    subscribe(cfg, "2026-07-01 06:00", '"speculative decoding", "sparse attention", distillation')
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING, AGENTS_ARENA])
    cycle(cfg, "2026-07-01 08:00")
    hf.days["2026-07-02"] = day_items("2026-07-02", [SPARSE_ATTN])
    cycle(cfg, "2026-07-02 08:00")
    first, second = outbox(cfg)
    assert "Speculative Decoding" in text_of(first) and "Sparse Attention" not in text_of(first)
    assert "Sparse Attention" in text_of(second) and "Speculative Decoding" not in text_of(second)
    cycle(cfg, "2026-07-02 18:00")                    # same day again: nothing twice
    assert len(outbox(cfg)) == 2


def test_days_missed_are_caught_up_in_one_labelled_message(cfg, hf):
    subscribe(cfg, "2026-06-30 06:00", '"speculative decoding", "sparse attention", distillation')
    cycle(cfg, "2026-06-30 08:00")                     # a quiet day, then the machine is off
    for day, pid in (("2026-07-01", SPEC_DECODING), ("2026-07-02", SPARSE_ATTN), ("2026-07-03", DISTILL_2STEP)):
        hf.days[day] = day_items(day, [pid])
    fetched, _ = cycle(cfg, "2026-07-03 08:00")
    assert {f.day for f in fetched if f.outcome == "ok"} >= {"2026-07-01", "2026-07-02", "2026-07-03"}
    [msg] = outbox(cfg)
    body = text_of(msg)
    assert "catch-up" in msg["Subject"].lower() and "Catch-up digest covering 3 days" in body
    order = [body.index(x) for x in ("Friday 3 July", "Two-Step Image Generation", "Thursday 2 July",
                                     "Sparse Attention", "Wednesday 1 July", "Speculative Decoding")]
    assert order == sorted(order)


def a_week_of_papers(cfg, hf):
    """A weekly (Monday) subscriber since Mon 29 Jun, one matching paper listed on each of Tue 30 Jun,
    Wed 1 and Thu 2 Jul, fetched day by day -> the digest sent on Mon 6 Jul."""
    fetch_a_week(cfg, hf)
    cycle(cfg, "2026-07-06 08:00")                                                  # the next Monday
    [msg] = outbox(cfg)
    return msg


def fetch_a_week(cfg, hf):
    with freeze_time("2026-06-29 06:00"), open_context(cfg) as ctx:                 # a Monday
        ctx.store.add_subscriber(new_subscriber(address="w@example.org", frequency="weekly:mon",
                                                keywords=['"speculative decoding", "sparse attention", distillation']))
    for day, pid in (("2026-06-30", SPEC_DECODING), ("2026-07-01", SPARSE_ATTN), ("2026-07-02", DISTILL_2STEP)):
        hf.days[day] = day_items(day, [pid])
    for day in ("2026-06-29", "2026-06-30", "2026-07-01", "2026-07-02", "2026-07-03"):
        with freeze_time(f"{day} 08:00"), open_context(cfg) as ctx:
            fetch_cycle(ctx)


def test_a_weekly_digest_covering_its_week_is_not_labelled_catch_up(cfg, hf):
    msg = a_week_of_papers(cfg, hf)
    assert " — week Tue 30 Jun – Mon 6 Jul" in msg["Subject"] and "catch-up" not in text_of(msg).lower()


def test_a_weekly_digest_names_in_its_subject_the_days_it_covers_the_day_it_is_sent_too(cfg, hf):
    """Its subject said "week of Mon 29 Jun" (the send day less 7) while a paper listed on the send
    day itself was in it: it covers the six days before and the send day."""
    with freeze_time("2026-06-29 06:00"), open_context(cfg) as ctx:                 # a Monday
        ctx.store.add_subscriber(new_subscriber(address="w@example.org", frequency="weekly:mon",
                                                keywords=['"speculative decoding", "sparse attention"']))
    cycle(cfg, "2026-06-29 08:00")
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING])
    hf.days["2026-07-06"] = day_items("2026-07-06", [SPARSE_ATTN])                  # the Monday it is sent
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
    cycle(cfg, "2026-07-06 08:00")                                                  # fetches the day's listing, then sends
    [msg] = outbox(cfg)
    assert msg["Subject"] == "2 papers — week Tue 30 Jun – Mon 6 Jul — on speculative decoding, sparse attention"
    assert text_of(msg).index("Monday 6 July") < text_of(msg).index("Sparse Attention")


def test_a_weekly_digest_lists_each_paper_under_the_day_it_was_listed_newest_day_first(cfg, hf):
    body = text_of(a_week_of_papers(cfg, hf))
    order = [body.index(x) for x in ("Thursday 2 July", "Two-Step Image Generation", "Wednesday 1 July",
                                     "Sparse Attention", "Tuesday 30 June", "Speculative Decoding")]
    assert order == sorted(order)


def test_the_preview_of_a_weekly_digest_lists_its_papers_under_their_day_as_it_will_be_sent(cfg, hf):
    from notifier.planning import preview_digest
    from notifier.render import render_email

    fetch_a_week(cfg, hf)
    with freeze_time("2026-07-06 07:00"), open_context(cfg) as ctx:
        [sub] = ctx.store.list_subscribers()
        preview = render_email(preview_digest(ctx, sub)).text
    assert preview.index("Thursday 2 July") < preview.index("Wednesday 1 July") < preview.index("Tuesday 30 June")


def test_a_weekly_digest_after_a_quiet_week_is_not_labelled_catch_up(cfg, hf):
    with freeze_time("2026-06-22 06:00"), open_context(cfg) as ctx:                 # a Monday
        ctx.store.add_subscriber(new_subscriber(address="w@example.org", frequency="weekly:mon",
                                                keywords=['"speculative decoding", "sparse attention", distillation']))
    cycle(cfg, "2026-06-22 08:00")
    cycle(cfg, "2026-06-29 08:00")                                                  # nothing that week
    for day, pid in (("2026-06-30", SPEC_DECODING), ("2026-07-01", SPARSE_ATTN), ("2026-07-02", DISTILL_2STEP)):
        hf.days[day] = day_items(day, [pid])
        with freeze_time(f"{day} 08:00"), open_context(cfg) as ctx:
            fetch_cycle(ctx)
    cycle(cfg, "2026-07-06 08:00")
    [msg] = outbox(cfg)
    assert " — week Tue 30 Jun – Mon 6 Jul" in msg["Subject"] and "catch-up" not in text_of(msg).lower()


def test_a_source_that_is_down_is_reported_not_an_empty_day(cfg, hf):
    subscribe(cfg, "2026-07-01 06:00", "speculative decoding")
    hf.down = True
    fetched, delivered = cycle(cfg, "2026-07-01 08:00")
    assert [f.outcome for f in fetched][0] == "failed" and "503" in fetched[0].error
    assert all(f.outcome == "skipped" for f in fetched[1:])   # no hammering a dead host for every day
    assert delivered == [] and outbox(cfg) == []
    with freeze_time("2026-07-02 09:00"), open_context(cfg) as ctx:
        problems = find_problems(ctx.store, datetime(2026, 7, 2, 9, tzinfo=timezone.utc))
    assert any("source hf_daily has not been fetched successfully" in text for _, text in problems)
    hf.down = False
    hf.days["2026-07-02"] = day_items("2026-07-02", [SPEC_DECODING])
    cycle(cfg, "2026-07-02 10:00")
    [msg] = outbox(cfg)
    assert "Speculative Decoding" in text_of(msg)


def test_an_empty_digest_on_a_day_the_source_failed_says_it_could_not_be_fetched_not_no_new_papers(cfg, hf):
    cfg.general.send_empty = True
    subscribe(cfg, "2026-07-01 06:00", '"speculative decoding"')
    hf.down = True
    cycle(cfg, "2026-07-01 08:00")
    [msg] = outbox(cfg)
    assert msg["Subject"] == ("Nothing yet — Wed 1 Jul: Hugging Face Daily Papers could not be fetched"
                              " — on speculative decoding")
    assert "its papers will be included once it is back" in " ".join(text_of(msg).split())   # lines folded at 72


def test_a_source_disabled_after_it_failed_is_neither_named_nor_reported_failed_in_the_digest(cfg, hf):
    from smtp_server import free_port

    subscribe(cfg, "2026-07-01 06:00", '"speculative decoding"')
    cfg.sources.arxiv.enabled, cfg.sources.arxiv.categories = True, ["cs.CL"]
    cfg.sources.arxiv.base_url, cfg.sources.arxiv.min_interval_seconds = f"http://127.0.0.1:{free_port()}", 0
    with freeze_time("2026-07-01 07:00"), open_context(cfg) as ctx:
        assert {r.source: r.outcome for r in fetch_cycle(ctx)}["arxiv:cs.CL"] == "failed"
    cfg.sources.arxiv.enabled = False                  # the operator turns it off
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING])
    cycle(cfg, "2026-07-01 08:00")
    [msg] = outbox(cfg)
    body = " ".join(text_of(msg).split())
    assert "From 1 new paper on Hugging Face Daily Papers; 1 matched your profile." in body
    assert "arXiv" not in body and "could not be fetched" not in body


def test_a_paper_matching_two_profiles_comes_once_tagged_with_both(cfg, hf):
    subscribe(cfg, "2026-07-01 06:00", '"speculative decoding"', "decoding, routing")
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING, AGENTS_ARENA])
    cycle(cfg, "2026-07-01 08:00")
    [msg] = outbox(cfg)
    body = text_of(msg)
    assert body.count("VIA-SD: Verification via Intra-Model Routing") == 1
    assert "speculative decoding" in body and "decoding, routing" in body


def test_dry_run_records_and_sends_nothing(cfg, hf):
    subscribe(cfg, "2026-07-01 06:00", "speculative decoding")
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING])
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
        [report] = deliver(ctx, dry_run=True)
        assert report.state == "dry-run" and report.papers == 1
        assert ctx.store.deliveries() == []
    assert outbox(cfg) == []


def test_operator_is_alerted_once_about_a_source_down_for_a_day(cfg, hf):
    from notifier.alerts import raise_alerts

    cfg.alerts.slack = "#ops"          # no Slack token configured: alerts land in the outbox
    hf.down = True
    cycle(cfg, "2026-07-01 08:00")
    for when in ("2026-07-01 12:00", "2026-07-02 09:00", "2026-07-02 10:00"):
        with freeze_time(when), open_context(cfg) as ctx:
            raise_alerts(ctx)
    [alert] = Path(cfg.outbox_dir).glob("digest-notifier-needs-attention-*.txt")
    text = alert.read_text()
    assert "To: #ops" in text and "source hf_daily has not been fetched successfully" in text and "503" in text


def test_email_lost_after_data_is_resent_later_with_the_same_message_id(cfg, hf, monkeypatch):
    """An email whose fate is unknown is sent again (at-least-once): the same Message-ID lets the
    recipient's mail client fold a second copy."""
    import notifier.channels
    from notifier.channels.base import Channel, SendResult

    seen_keys = []

    class LosesFirst(Channel):
        def send(self, digest):
            seen_keys.append(digest.delivery_key)
            if len(seen_keys) == 1:
                return SendResult("unknown", error="connection lost while sending; it may have arrived")
            return SendResult("sent", provider_ref=f"<{digest.delivery_key}@example.org>")

    monkeypatch.setattr(notifier.channels, "sender_spec", lambda config, kind, address, env=None: (LosesFirst, {}))
    subscribe(cfg, "2026-07-01 06:00", "speculative decoding")
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING])
    _, [first] = cycle(cfg, "2026-07-01 08:00")
    assert first.state == "retry"
    with freeze_time("2026-07-01 08:10"), open_context(cfg) as ctx:
        [second] = deliver(ctx)
        [row] = ctx.store.deliveries()
    assert second.state == "sent" and row.state == "sent" and row.attempts == 2
    assert seen_keys[0] == seen_keys[1]          # same delivery key -> same Message-ID


def test_a_database_recreated_the_same_day_sends_that_days_digest_under_a_new_message_id(cfg, hf, tmp_path):
    """Gmail silently drops a message whose Message-ID it has seen: a database reset (or a second
    installation mailing from the same domain) must not reuse the Message-ID of the first one's digest."""
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING])
    for n, when in enumerate(["2026-07-01 08:00", "2026-07-01 09:00"]):
        cfg.database.url = f"sqlite:///{tmp_path / f'recreated{n}.sqlite'}"
        subscribe(cfg, when, "speculative decoding")
        cycle(cfg, when)
    ids = [m["Message-ID"] for m in outbox(cfg)]
    assert len(ids) == 2 and ids[0] != ids[1]


def test_a_digest_copied_to_another_database_keeps_its_message_id(cfg, hf, tmp_path):
    """`notifier db copy` in the middle of a digest's life: its re-send from the copy is the same mail."""
    from notifier.planning import build_digest, plan
    from notifier.store import Store

    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING])
    subscribe(cfg, "2026-07-01 06:00", "speculative decoding")
    target = Store(f"sqlite:///{tmp_path / 'copy.sqlite'}")
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
        [sub] = ctx.store.list_subscribers()
        before = build_digest(ctx, plan(ctx, sub), sub).delivery_key
        ctx.store.copy_to(target)
    [copied] = target.deliveries()
    with open_context(cfg) as ctx:
        assert build_digest(ctx, copied, sub).delivery_key == before
    target.close()


BROAD = 'reasoning, agents, "reinforcement learning"'       # matches about half of the sample day


def subscribe_with(cfg, when: str, address: str, threshold: float | None):
    with freeze_time(when), open_context(cfg) as ctx:
        ctx.store.add_subscriber(new_subscriber(address=address, keywords=[BROAD], threshold=threshold))


def papers_sent(reports) -> dict[str, int]:
    return {r.subscriber: r.papers for r in reports if r.state == "sent"}


def test_a_lower_threshold_sends_more_papers_and_a_higher_one_fewer(cfg, hf):
    cfg.matching.max_items = 50                    # the cap must not hide the threshold
    for address, threshold in (("low@example.org", 0.15), ("default@example.org", None),
                               ("high@example.org", 0.8)):
        subscribe_with(cfg, "2026-07-01 06:00", address, threshold)
    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE])
    _, reports = cycle(cfg, "2026-07-01 08:00")
    sent = papers_sent(reports)
    assert sent["low@example.org"] > sent["default@example.org"] > sent["high@example.org"] >= 1


def test_the_configured_threshold_applies_to_subscribers_without_their_own(cfg, hf):
    cfg.matching.max_items = 50
    subscribe_with(cfg, "2026-07-01 06:00", "default@example.org", None)
    subscribe_with(cfg, "2026-07-01 06:00", "own@example.org", 0.15)
    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE])
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
        default_before = {r.subscriber: r.papers for r in deliver(ctx, dry_run=True)}["default@example.org"]
    cfg.matching.threshold = 0.8
    _, reports = cycle(cfg, "2026-07-01 08:00")
    sent = papers_sent(reports)
    assert sent["default@example.org"] < default_before          # the config's 0.8 applies
    assert sent["own@example.org"] > default_before              # the subscriber's own 0.15 wins


@pytest.fixture
def builds(monkeypatch):
    """The candidate ids of every index the pipeline builds."""
    import notifier.match

    calls, real = [], notifier.match.build_index

    def counting(papers, background=None):
        calls.append([p.arxiv_id for p in papers])
        return real(papers, background=background)
    monkeypatch.setattr(notifier.match, "build_index", counting)
    return calls


def test_subscribers_with_the_same_candidates_share_one_index_build(cfg, hf, builds):
    # Cy has had yesterday's papers; Ann and Bob subscribe today, so they get yesterday's too.
    subscribe(cfg, "2026-07-01 06:00", '"speculative decoding", agents', address="cy@example.org")
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING, AGENTS_ARENA])
    cycle(cfg, "2026-07-01 08:00")
    for address in ("ann@example.org", "bob@example.org"):
        subscribe(cfg, "2026-07-02 06:00", '"sparse attention", "speculative decoding"', address=address)
    hf.days["2026-07-02"] = day_items("2026-07-02", [SPARSE_ATTN, DISTILL_2STEP])
    builds.clear()
    _, reports = cycle(cfg, "2026-07-02 08:00")
    assert sorted(builds, key=len) == [[SPARSE_ATTN, DISTILL_2STEP],                  # Cy's own
                                       [SPEC_DECODING, AGENTS_ARENA, SPARSE_ATTN, DISTILL_2STEP]]  # shared
    assert papers_sent(reports) == {"cy@example.org": 1, "ann@example.org": 2, "bob@example.org": 2}


def test_a_shared_index_matches_exactly_as_a_fresh_one(cfg, hf):
    from notifier.planning import match_subscriber

    profiles = ['"speculative decoding", "sparse attention"', BROAD, "diffusion, -video", 'agents^2, +benchmark']
    for i, keywords in enumerate(profiles):
        subscribe(cfg, "2026-07-01 06:00", keywords, address=f"u{i}@example.org")
    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE])
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
        subs, papers = ctx.store.list_subscribers(), ctx.store.papers_since(datetime(2026, 6, 30, tzinfo=timezone.utc))
        ctx.matcher.refresh(ctx.store.papers_version())
        shared = [match_subscriber(ctx, s, papers) for s in subs]
        assert len(ctx.matcher.indexes) == 1
        fresh = []
        for s in subs:
            ctx.matcher.indexes.clear()
            fresh.append(match_subscriber(ctx, s, papers))
    assert shared == fresh and all(items for items, _ in shared)


def test_the_daemon_delivering_one_subscriber_at_a_time_builds_one_index_until_papers_change(cfg, hf, builds):
    from notifier.sending import deliver

    for address in ("ann@example.org", "bob@example.org", "cy@example.org"):
        subscribe(cfg, "2026-07-01 06:00", '"sparse attention", "speculative decoding"', address=address)
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPARSE_ATTN, SPEC_DECODING])
    with freeze_time("2026-07-01 08:00") as clock, open_context(cfg) as ctx:
        fetch_cycle(ctx)
        subs = ctx.store.list_subscribers()
        builds.clear()
        for sub in subs[:2]:                                  # two cron jobs, one subscriber each
            deliver(ctx, subscriber_ids=[sub.id])
        assert len(builds) == 1
        clock.tick(3600)
        hf.days["2026-07-01"] = day_items("2026-07-01", [SPARSE_ATTN, SPEC_DECODING, AGENTS_ARENA])
        fetch_cycle(ctx)                                      # a late addition: the next job sees it
        deliver(ctx, subscriber_ids=[subs[2].id])
        assert len(builds) == 2 and AGENTS_ARENA in builds[-1]


def test_only_the_latest_indexes_are_kept(cfg, hf, builds):
    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE])
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
        papers = ctx.store.papers_on_day("2026-07-01")
        kept = ctx.matcher.kept
        days = [papers[i:] for i in range(kept + 2)]        # six different candidate sets
        for candidates in days:
            ctx.matcher.index(candidates)
        assert len(ctx.matcher.indexes) == kept and len(builds) == kept + 2
        ctx.matcher.index(days[-1])                                # kept: no new build
        ctx.matcher.index(days[0])                                 # dropped long ago: rebuilt
        assert len(builds) == kept + 3


# ----------------------------------------------------------------------------- each to its own destination
TOPICS = {"webhook:HOOK_A": "speculative decoding", "#papers": "sparse attention",
          "webhook:HOOK_B": "distillation", "U12345678": "clustering"}


@pytest.fixture
def fake_slack():
    from slack_server import FakeSlack

    fake = FakeSlack()
    yield fake
    fake.close()


def ingest_sample(store) -> None:
    from notifier.parse import parse_text

    papers = parse_text((Path(__file__).parents[1] / "notifier/samples/hf_daily_papers_api_2026-06-12.json").read_text())
    store.ingest(papers, source="hf_daily", digest_day="2026-06-12")


def deliver_to(config, addresses: list[str]) -> list:
    with open_context(config) as ctx:
        for address in addresses:
            ctx.store.add_subscriber(new_subscriber(address=address, keywords=[f'"{TOPICS[address]}"']))
        ingest_sample(ctx.store)
        reports = deliver(ctx)
    return reports


def topic_of(payload: dict) -> str:
    """Which subscriber's digest this is: its header names the subscriber's one profile term."""
    header = payload["blocks"][0]["text"]["text"]
    return next(t for t in TOPICS.values() if t in header)


@pytest.mark.parametrize("order", [["webhook:HOOK_A", "#papers", "webhook:HOOK_B", "U12345678"],
                                   ["#papers", "webhook:HOOK_A", "U12345678", "webhook:HOOK_B"]])
@pytest.mark.parametrize("token", [True, False])
def test_every_slack_digest_reaches_only_its_own_destination(config, fake_slack, monkeypatch, order, token):
    monkeypatch.setenv("HOOK_A", fake_slack.url + "/hook/A")
    monkeypatch.setenv("HOOK_B", fake_slack.url + "/hook/B")
    config.slack.api_url = fake_slack.url + "/api/"
    config.slack.token_env = "TEST_SLACK_TOKEN"
    if token:
        monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-test-token")
    reports = deliver_to(config, order)
    assert sorted(r.state for r in reports) == ["sent"] * 4
    assert [topic_of(p) for p in fake_slack.hooks("/hook/A")] == ["speculative decoding"]
    assert [topic_of(p) for p in fake_slack.hooks("/hook/B")] == ["distillation"]
    bot = {p["channel"]: topic_of(p) for p in fake_slack.posts()}
    outbox = {json.loads(f.read_text())["channel"]: topic_of(json.loads(f.read_text()))
              for f in Path(config.outbox_dir).glob("*.json")}
    expected = {"#papers": "sparse attention", "DU12345678": "clustering"}
    if token:
        assert bot == expected and len(fake_slack.posts()) == 2 and outbox == {}
        assert all(p["_auth"] == "Bearer xoxb-test-token" for p in fake_slack.posts())
    else:                    # no bot token: the bot targets land in the outbox, the webhooks still post
        assert bot == {} and outbox == {"#papers": "sparse attention", "U12345678": "clustering"}
    assert len(fake_slack.calls) == 2 + (3 if token else 0)      # + conversations.open for the user


def test_a_webhook_without_its_secret_is_kept_for_a_retry_and_the_operator_is_alerted(config, fake_slack, monkeypatch):
    monkeypatch.setenv("HOOK_A", fake_slack.url + "/hook/A")
    monkeypatch.delenv("HOOK_B", raising=False)
    reports = deliver_to(config, ["webhook:HOOK_B", "webhook:HOOK_A", "#papers"])
    states = {r.subscriber: (r.state, r.error) for r in reports}
    assert states["webhook:HOOK_B"][0] == "retry" and "HOOK_B is not set" in states["webhook:HOOK_B"][1]
    assert states["webhook:HOOK_A"] == ("sent", None) and states["#papers"][0] == "sent"
    assert [topic_of(p) for p in fake_slack.hooks("/hook/A")] == ["speculative decoding"]
    assert [json.loads(f.read_text())["channel"] for f in Path(config.outbox_dir).glob("*.json")] == ["#papers"]
    with open_context(config) as ctx:
        [alert] = ctx.store.unsent_alerts()
    assert "HOOK_B is not set" in alert.text
    monkeypatch.setenv("HOOK_B", fake_slack.url + "/hook/B")          # the operator sets it
    with freeze_time(datetime.now(timezone.utc) + timedelta(hours=1)), open_context(config) as ctx:
        [report] = send_pending(ctx)
    assert report.state == "sent" and [topic_of(p) for p in fake_slack.hooks("/hook/B")] == ["distillation"]


# ----------------------------------------------------------------------------- unsubscribe and pause
@pytest.fixture
def cli(tmp_path, config, smtp_recorder):
    """`notifier ...` in process, with a config file pointing at the test SMTP server."""
    from notifier.cli import main

    _, port = smtp_recorder
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{config.database_url}"\n[email]\nhost = "127.0.0.1"\nport = {port}\n'
                    f'security = "none"\nfrom = "Digest <digest@example.org>"\n[sources.hf_daily]\nenabled = false\n')
    config.email.host, config.email.port, config.email.security = "127.0.0.1", port, "none"
    config.email.from_ = "Digest <digest@example.org>"
    yield lambda *args: main(["--config", str(path), *args])
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_notifier", False)]:   # main() installed it on
        root.removeHandler(h)                                                   # this test's stderr


def queue_a_retry(config, handler) -> int:
    """Ann's digest is planned, SMTP answers 451: it waits in `retry`. -> her subscriber id."""
    handler.rcpt_replies = {"ann@example.org": ["451 4.3.0 Try again later"]}
    with open_context(config) as ctx:
        sub = ctx.store.add_subscriber(new_subscriber(address="ann@example.org", keywords=["agents"]))
        ingest_sample(ctx.store)
        [report] = deliver(ctx)
    assert report.state == "retry" and handler.messages == []
    return sub.id


def test_a_digest_deferred_every_time_is_tried_11_times_over_28_hours_then_failed_and_alerted_once(config, cli,
                                                                                                  smtp_recorder):
    """README "Running as a service": tried again after 5 minutes, doubling up to 6 hours, 11 tries
    in all: about 28 hours. Only the first wait was checked."""
    from notifier.alerts import raise_alerts
    from notifier.clock import as_utc

    handler, _ = smtp_recorder
    with freeze_time("2026-06-12 07:30", real_asyncio=True) as clock, open_context(config) as ctx:
        ann = queue_a_retry(config, handler)
        ctx.store.update_subscriber(ann, frequency="weekly", weekday="wed")    # no digest of hers folds it meanwhile
        handler.rcpt_replies["ann@example.org"] = ["451 4.3.0 Try again later"] * 20
        started, waits = ctx.now(), []
        while (d := ctx.store.deliveries()[0]).state == "retry":
            waits.append((as_utc(d.next_attempt_at) - ctx.now()) / timedelta(minutes=1))
            clock.move_to(as_utc(d.next_attempt_at))
            send_pending(ctx)
        hours = (ctx.now() - started) / timedelta(hours=1)
        alerts = raise_alerts(ctx) + raise_alerts(ctx)
    assert waits == [5, 10, 20, 40, 80, 160, 320, 360, 360, 360]
    assert (d.state, d.attempts, round(hours, 1), handler.messages) == ("failed", 11, 28.6, [])
    assert alerts == ["delivery to ann@example.org for 2026-06-12 is failed after 11 attempts: "
                      "451 4.3.0 Try again later"]


def later(hours: float = 2):
    return freeze_time(datetime.now(timezone.utc) + timedelta(hours=hours))


def ann_states(config) -> list[str]:
    with open_context(config) as ctx:
        return [d.state for d in ctx.store.deliveries()]


def test_unsubscribe_cancels_a_queued_digest_and_frees_its_papers(config, cli, smtp_recorder, capsys):
    handler, _ = smtp_recorder
    sub_id = queue_a_retry(config, handler)
    assert cli("unsubscribe", "ann@example.org") == 0
    assert "1 queued digest(s) cancelled" in capsys.readouterr().out
    with later(), open_context(config) as ctx:
        assert send_pending(ctx) == []
        assert ctx.store.taken_papers([sub_id]).get(sub_id, set()) == set()
    assert handler.messages == [] and ann_states(config) == ["cancelled"]


def test_unsubscribing_and_subscribing_again_the_same_day_brings_that_days_digest_once(cfg, cli, smtp_recorder, hf):
    from notifier.planning import plan_batch

    handler, _ = smtp_recorder
    keywords = '"speculative decoding", "sparse attention"'
    subscribe(cfg, "2026-07-01 06:00", keywords)
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING])
    cycle(cfg, "2026-07-01 08:00")
    hf.days["2026-07-02"] = day_items("2026-07-02", [SPARSE_ATTN])
    with freeze_time("2026-07-02 07:30"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
        assert plan_batch(ctx, ctx.store.list_subscribers()) == 1        # today's digest, not yet sent
    with freeze_time("2026-07-02 07:35"):
        assert cli("unsubscribe", "ada@example.org") == 0               # cancelled
        assert cli("subscribe", "ada@example.org", "-k", keywords) == 0
    cycle(cfg, "2026-07-02 08:00")
    cycle(cfg, "2026-07-02 09:00")                                     # nothing twice
    with freeze_time("2026-07-02 09:05"):                              # leaving and coming back again: still once
        assert cli("unsubscribe", "ada@example.org") == cli("subscribe", "ada@example.org", "-k", keywords) == 0
    cycle(cfg, "2026-07-02 10:00")
    first, second = handler.messages
    assert "Sparse Attention" in text_of(second) and "Speculative Decoding" not in text_of(second)


def test_pause_holds_a_queued_digest_and_resume_sends_it_once(config, cli, smtp_recorder):
    handler, _ = smtp_recorder
    queue_a_retry(config, handler)
    assert cli("edit", "ann@example.org", "--pause") == 0
    with later(), open_context(config) as ctx:
        assert send_pending(ctx) == [] and deliver(ctx) == []
    assert handler.messages == [] and ann_states(config) == ["held"]
    assert cli("edit", "ann@example.org", "--resume") == 0
    with later(3), open_context(config) as ctx:
        [report] = send_pending(ctx)
        assert report.state == "sent"
        assert send_pending(ctx) == []
    assert [m["To"] for m in handler.messages] == ["ann@example.org"] and ann_states(config) == ["sent"]


def test_a_digest_interrupted_in_flight_is_not_resent_after_unsubscribe(config, cli, smtp_recorder):
    from notifier.recovery import recover

    handler, _ = smtp_recorder
    queue_a_retry(config, handler)
    with later(), open_context(config) as ctx:
        [d] = ctx.store.deliveries()
        assert ctx.store.claim(d.id) is not None          # a run claimed it, then died
    assert cli("unsubscribe", "ann@example.org") == 0
    with later(3), open_context(config) as ctx:
        assert recover(ctx, at_start=True) == 0
        assert send_pending(ctx) == []
    assert handler.messages == [] and ann_states(config) == ["cancelled"]


def test_a_message_in_flight_when_its_subscriber_pauses_stays_held_unless_it_arrived(config, cli, smtp_recorder):
    handler, _ = smtp_recorder
    queue_a_retry(config, handler)
    with open_context(config) as ctx:
        [d] = ctx.store.deliveries()
        ctx.store.claim(d.id, now=datetime.now(timezone.utc) + timedelta(hours=1))
        ctx.store.set_paused(d.subscriber_id, True)       # paused while the send is in flight
        ctx.store.record(d.id, "retry", error="451")       # ... which did not get through
        assert [x.state for x in ctx.store.deliveries()] == ["held"]
        ctx.store.set_paused(d.subscriber_id, False)
        ctx.store.claim(d.id)
        ctx.store.cancel_open(d.subscriber_id)            # unsubscribed while in flight ...
        ctx.store.record(d.id, "sent")                     # ... but it had arrived: that is the truth
        assert [x.state for x in ctx.store.deliveries()] == ["sent"]


def test_a_mail_servers_answer_of_several_lines_is_recorded_and_reported_on_one_line(config, cli, smtp_recorder):
    """Gmail refuses an unknown address in lines of their own: `run`, `status` and the alert
    printed each on a line of its own, under the digest's line."""
    handler, _ = smtp_recorder
    handler.rcpt_replies = {"ann@example.org": ["550-5.1.1 The email account that you tried to reach does not exist.\r\n"
                                                "550 5.1.1 Please try double-checking the recipient's email address"]}
    with open_context(config) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="ann@example.org", keywords=["agents"]))
        ingest_sample(ctx.store)
        [report] = deliver(ctx)
        [row] = ctx.store.deliveries()
    assert report.error == row.last_error == ("550 5.1.1 The email account that you tried to reach does not exist. "
                                              "5.1.1 Please try double-checking the recipient's email address")


def test_a_mail_server_refusing_every_message_in_several_lines_is_alerted_on_one_line(config, cli, smtp_recorder):
    """Gmail asks for a login in two lines: the "delivery stopped" alert (log line, mail, Slack) split there."""
    handler, port = smtp_recorder

    async def login_first(server, session, envelope, address, mail_options):
        return ("530-5.7.0 Authentication Required. Learn more at\r\n"
                "530 5.7.0 https://support.google.com/mail/?p=WantAuthError")
    handler.handle_MAIL = login_first
    with open_context(config) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="ann@example.org", keywords=["agents"]))
        ingest_sample(ctx.store)
        [report] = deliver(ctx)
        [alert] = [a.text for a in ctx.store.unsent_alerts()]
    assert report.state == "retry" and alert == (
        f"email via 127.0.0.1:{port}: delivery stopped: SMTP server requires TLS/auth (530 5.7.0 Authentication "
        "Required. Learn more at 5.7.0 https://support.google.com/mail/?p=WantAuthError): check [email] security and "
        "username")


def test_email_subscribers_of_a_batch_share_one_smtp_connection(config, cli, smtp_recorder, fake_slack, monkeypatch):
    handler, _ = smtp_recorder
    monkeypatch.setenv("HOOK_A", fake_slack.url + "/hook/A")
    with open_context(config) as ctx:
        for address in ("ann@example.org", "webhook:HOOK_A", "bob@example.org", "cy@example.org"):
            ctx.store.add_subscriber(new_subscriber(address=address, keywords=["agents"]))
        ingest_sample(ctx.store)
        assert [r.state for r in deliver(ctx)] == ["sent"] * 4
    assert sorted(m["To"] for m in handler.messages) == ["ann@example.org", "bob@example.org", "cy@example.org"]
    assert handler.sessions == 1 and {path for path, _ in fake_slack.calls} == {"/hook/A"}


def test_a_webhook_url_address_is_not_printed_in_the_run_report(config, monkeypatch):
    import notifier.channels
    from notifier.channels.base import Channel, SendResult

    class Accepts(Channel):
        def send(self, digest):
            return SendResult("sent", provider_ref="webhook")

    monkeypatch.setattr(notifier.channels, "sender_spec", lambda config, kind, address, env=None: (Accepts, {}))
    address = "https://hooks.slack.com/services/T0000/B0000/s3cretPart"
    with open_context(config) as ctx:
        sub = ctx.store.add_subscriber(new_subscriber(address=address, keywords=["agents"]))
        ingest_sample(ctx.store)
        [report] = deliver(ctx)
    assert report.state == "sent" and report.subscriber == f"webhook subscriber #{sub.id}"


EVERY_KIND = [      # address, profiles, settings: one subscriber of each kind a batch mixes
    ("ada@example.org", ['"speculative decoding", "sparse attention"'], {}),
    ("#ml-papers", [BROAD], {}),                                                   # Slack
    ("many@example.org", ['"speculative decoding"', BROAD, "agents, benchmark"], {}),
    ("few@example.org", [BROAD], {"threshold": 0.15, "max_items": 3}),
    ("strict@example.org", [BROAD, "diffusion, -video"], {"threshold": 0.8}),
    ("weekly@example.org", ['agents^2, +benchmark'], {"frequency": "weekly:thu", "timezone": "Asia/Tokyo"}),
    ("failed@example.org", [BROAD], {}),         # yesterday's digest failed: its papers are offered again
    ("waiting@example.org", ["agents"], {}),   # yesterday's still retrying: folded into a catch-up
    ("quiet@example.org", ['"protein folding"'], {}),   # nothing matches: an `empty` digest
]


def every_kind_of_subscriber_after_a_day(cfg, hf) -> None:
    """Day 1 planned and sent for EVERY_KIND (one then failed, one is waiting for a retry);
    day 2's papers fetched and a new subscriber added; day 2 not planned yet."""
    ids = [i["paper"]["id"] for i in SAMPLE]
    with freeze_time("2026-07-01 06:00"), open_context(cfg) as ctx:
        for address, profiles, settings in EVERY_KIND:
            ctx.store.add_subscriber(new_subscriber(address=address, keywords=profiles, **settings))
    hf.days["2026-07-01"] = day_items("2026-07-01", ids[::2])
    cycle(cfg, "2026-07-01 08:00")
    with freeze_time("2026-07-02 06:00"), open_context(cfg) as ctx:
        by_address = {s.address: s.id for s in ctx.store.list_subscribers()}
        for d in ctx.store.deliveries():
            ctx.store.worker = d.worker        # its outcome is rewritten as by the worker that sent it
            if d.subscriber_id == by_address["failed@example.org"]:
                ctx.store.record(d.id, "failed", error="550 mailbox unavailable")
            if d.subscriber_id == by_address["waiting@example.org"]:
                ctx.store.record(d.id, "retry", error="451 try later")
        ctx.store.add_subscriber(new_subscriber(address="new@example.org", keywords=[BROAD, '"sparse attention"']))
    hf.days["2026-07-02"] = day_items("2026-07-02", ids[1::2])
    with freeze_time("2026-07-02 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)


def planned_digests(cfg, batches) -> dict[str, tuple]:
    """Plan day 2 in the given batches of subscribers (address lists; None: all in one)
    -> address -> (state, items, meta, papers recorded), and how many were planned."""
    from notifier.planning import plan_batch

    with freeze_time("2026-07-02 08:00"), open_context(cfg) as ctx:
        subs = ctx.store.list_subscribers()
        for batch in batches:
            plan_batch(ctx, [s for s in subs if batch is None or s.address in batch])
        names = {s.id: s.address for s in subs}
        return {names[d.subscriber_id]: (d.state, json.loads(d.items), json.loads(d.meta),
                                          ctx.store.taken_papers([d.subscriber_id]).get(d.subscriber_id, set()))
                for d in ctx.store.deliveries() if d.digest_day == "2026-07-02"}


def copy_database(cfg, name: str):
    import shutil

    src = Path(cfg.database.url.split(":///", 1)[1])
    dst = src.with_name(name)
    shutil.copy(src, dst)
    copy = type(cfg)(**{**cfg.__dict__})
    copy.database = type(cfg.database)(**{**cfg.database.__dict__, "url": f"sqlite:///{dst}"})
    return copy


def test_a_batch_plans_exactly_the_digests_each_subscriber_planned_alone_would_get(cfg, hf):
    if not cfg.database.url.startswith("sqlite"):
        pytest.skip("compares copies of a SQLite database file")
    every_kind_of_subscriber_after_a_day(cfg, hf)
    alone_cfg = copy_database(cfg, "alone.sqlite")
    together = planned_digests(cfg, [None])
    alone = planned_digests(alone_cfg, [[address] for address, _, _ in EVERY_KIND] + [["new@example.org"]])
    assert together == alone
    assert len(together) == len(EVERY_KIND) + 1
    states = {address: digest[0] for address, digest in together.items()}
    assert states["quiet@example.org"] == "empty" and states["ada@example.org"] == "pending"
    assert len(together["few@example.org"][1]) == 3
    assert together["waiting@example.org"][2]["covers_days"] == ["2026-07-01", "2026-07-02"]
    day_one = {i["paper"]["id"] for i in day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE[::2]])}
    assert {i["id"] for i in together["failed@example.org"][1]} & day_one       # offered again
    assert {i["id"] for i in together["new@example.org"][1]} & day_one          # the latest digest too
    assert not {i["id"] for i in together["#ml-papers"][1]} & day_one           # had them yesterday
    assert any(len(i["profiles"]) == 2 for i in together["many@example.org"][1])


def test_planning_the_same_day_again_records_nothing(cfg, hf):
    from notifier.planning import plan_batch

    every_kind_of_subscriber_after_a_day(cfg, hf)
    planned_digests(cfg, [None])
    with freeze_time("2026-07-02 09:00"), open_context(cfg) as ctx:
        before = len(ctx.store.deliveries())
        assert plan_batch(ctx, ctx.store.list_subscribers()) == 0
        assert len(ctx.store.deliveries()) == before


def test_planning_reads_the_store_as_often_for_forty_subscribers_as_for_two(cfg, hf):
    from sqlalchemy import event as sa_event

    from notifier.planning import plan_batch

    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE])
    with freeze_time("2026-07-01 06:00"), open_context(cfg) as ctx:
        for i in range(42):
            ctx.store.add_subscriber(new_subscriber(address=f"u{i}@example.org", keywords=[BROAD],
                                                    threshold=0.15 if i % 2 else None))
    statements, counts = [], []
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
        subs = ctx.store.list_subscribers()
        ctx.matcher.background                           # read once for the day, whatever the batch
        sa_event.listen(ctx.store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        for batch in (subs[:2], subs[2:]):
            statements.clear()
            assert plan_batch(ctx, batch) == len(batch)
            counts.append(len(statements))
    assert counts[0] == counts[1]


def test_sending_a_batch_reads_the_papers_once_not_once_a_message(cfg, hf):
    from sqlalchemy import event as sa_event

    from notifier.planning import plan_batch

    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE])
    with freeze_time("2026-07-01 06:00"), open_context(cfg) as ctx:
        for i in range(20):
            ctx.store.add_subscriber(new_subscriber(address=f"u{i}@example.org", keywords=[BROAD]))
    paper_reads = []
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
        assert plan_batch(ctx, ctx.store.list_subscribers()) == 20
        sa_event.listen(ctx.store.engine, "before_cursor_execute",
                        lambda *a: paper_reads.append(a[2]) if "FROM paper" in a[2] else None)
        reports = send_pending(ctx)
    assert [r.state for r in reports] == ["sent"] * 20
    assert len(paper_reads) == 1


def test_planning_one_subscriber_returns_the_digest_waiting_to_be_sent_once(cfg, hf):
    from notifier.planning import plan

    subscribe(cfg, "2026-07-01 06:00", '"speculative decoding"')
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING, AGENTS_ARENA])
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
        [sub] = ctx.store.list_subscribers()
        first = plan(ctx, sub)
        assert (first.key, first.state, [i["id"] for i in json.loads(first.items)]) == (
            f"{sub.id}:2026-07-01", "pending", [SPEC_DECODING])
        assert plan(ctx, sub) is None


# ----------------------------------------------------------------------------- votes
def test_stored_votes_reorder_the_subscribers_digest_and_the_mail_says_why(config):
    """Ann voted "more like this" on two agent papers and "not for me" on the drone simulator;
    Bob, with the same profile, did not vote. The drone paper leaves her digest, the papers she
    liked lead it, every paper in it has her profile's terms, and her mail says which of her
    votes moved a paper."""
    from notifier.store import Store

    profile = 'reasoning, agents, "reinforcement learning"'
    store = Store(config.database_url)
    ingest_sample(store)
    ann = store.add_subscriber(new_subscriber(address="ann@example.org", keywords=[profile], max_items=10))
    store.add_subscriber(new_subscriber(address="bob@example.org", keywords=[profile], max_items=10))
    for paper_id, vote in (("2606.13120", 1), ("2606.10423", 1), ("2606.08039", -1)):
        store.set_vote(ann.id, paper_id, vote)
    store.close()
    with open_context(config) as ctx:
        deliver(ctx)
        items = {ctx.store.find_subscriber(d.subscriber_id).address: json.loads(d.items) for d in ctx.store.deliveries()}
    digests = {address: [i["id"] for i in its] for address, its in items.items()}
    assert digests["bob@example.org"].index("2606.08039") == 1      # the drone simulator, second for Bob
    assert "2606.08039" not in digests["ann@example.org"]           # "not for me"
    assert set(digests["ann@example.org"][:2]) == {"2606.13120", "2606.10423"}
    assert all(i["matched"] for i in items["ann@example.org"])      # votes never send a paper without evidence
    mails = {m["To"]: m for m in (email.message_from_bytes(f.read_bytes(), policy=policy.default)
                                  for f in Path(config.outbox_dir).glob("*.eml"))}
    ann_text = mails["ann@example.org"].get_body(("plain",)).get_content()
    assert ann_text.count("ranked up: you voted it up\n") == 2 and "you voted down" in ann_text
    for voted in ("2606.13120", "2606.10423"):      # each paper she voted up was said to be like itself
        [block] = [b for b in ann_text.split("\n\n") if f"abs/{voted}" in b]
        assert "you voted it up" in block and "like a paper you voted up" not in block
    assert "voted up" not in mails["bob@example.org"].get_body(("plain",)).get_content()


def test_a_stored_profile_that_no_longer_parses_holds_that_subscriber_alone_and_says_why(cfg, hf, caplog):
    """A profile stored before the profile language got stricter (here '+-agents', once read as a
    required term) must not stop everyone's digests: the others are sent, this subscriber's day
    waits (nothing sent, nothing lost) and the log says who and why."""
    subscribe_with(cfg, "2026-07-01 06:00", "good@example.org", None)
    subscribe_with(cfg, "2026-07-01 06:00", "stale@example.org", None)
    with open_context(cfg) as ctx:
        [stale] = [s for s in ctx.store.list_subscribers() if s.address == "stale@example.org"]
        ctx.store.update_subscriber(stale.id, profile=json.dumps(["+-agents"]))
    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE])
    with freeze_time("2026-07-01 07:55"), open_context(cfg) as ctx:      # a dry run says so (it raised KeyError)
        fetch_cycle(ctx)
        previews = {r.subscriber: r for r in deliver(ctx, dry_run=True)}
    assert previews["good@example.org"].state == "dry-run" and previews["stale@example.org"].state == "held"
    caplog.clear()
    with caplog.at_level("ERROR"):
        _, reports = cycle(cfg, "2026-07-01 08:00")
    assert set(papers_sent(reports)) == {"good@example.org"}
    assert [m["To"] for m in outbox(cfg)] == ["good@example.org"]
    [logged] = [r.ctx for r in caplog.records if r.getMessage() == "profile unreadable"]
    assert logged["subscriber"] == "stale@example.org" and logged["term"] == "+-agents"
    with open_context(cfg) as ctx:                     # the operator edits it: that day's digest comes, once
        ctx.store.update_subscriber(stale.id, profile=json.dumps(["+agents"]))
    _, reports = cycle(cfg, "2026-07-01 08:30")
    assert set(papers_sent(reports)) == {"stale@example.org"}
    assert sorted(m["To"] for m in outbox(cfg)) == ["good@example.org", "stale@example.org"]


def test_a_stored_profile_that_no_longer_parses_holds_the_day_back_on_a_day_without_papers_too(cfg, hf):
    """With no paper to match, the subscriber's day was recorded as an `empty` digest while the
    run reported their digest held back: the day was over for them however soon it was edited."""
    subscribe_with(cfg, "2026-07-01 06:00", "good@example.org", None)
    subscribe_with(cfg, "2026-07-01 06:00", "stale@example.org", None)
    with open_context(cfg) as ctx:
        [stale] = [s for s in ctx.store.list_subscribers() if s.address == "stale@example.org"]
        ctx.store.update_subscriber(stale.id, profile=json.dumps(["+-agents"]))
    _, reports = cycle(cfg, "2026-07-01 08:00")
    with open_context(cfg) as ctx:
        planned = {d.subscriber_id: d.state for d in ctx.store.deliveries()}
    assert [(r.subscriber, r.state) for r in reports] == [("stale@example.org", "held")]
    assert list(planned.values()) == ["empty"] and stale.id not in planned


def test_subscribers_sharing_a_stored_profile_each_get_its_digest_or_are_each_held(cfg, hf, caplog):
    """Many subscribers store the same profile text: two share one that no longer parses, three a
    good one. Each of the three gets the same papers; each of the two is logged and held."""
    for who in ("a", "b", "c", "stale1", "stale2"):
        subscribe_with(cfg, "2026-07-01 06:00", f"{who}@example.org", None)
    with open_context(cfg) as ctx:
        for sub in ctx.store.list_subscribers():
            if sub.address.startswith("stale"):
                ctx.store.update_subscriber(sub.id, profile=json.dumps(["+-agents"]))
    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE])
    with caplog.at_level("ERROR"):
        _, reports = cycle(cfg, "2026-07-01 08:00")
    sent = papers_sent(reports)
    assert set(sent) == {"a@example.org", "b@example.org", "c@example.org"} and len(set(sent.values())) == 1
    assert sorted(r.ctx["subscriber"] for r in caplog.records if r.getMessage() == "profile unreadable") == [
        "stale1@example.org", "stale2@example.org"]


# ----------------------------------------------------------------------------- README claims
def test_a_resumed_digest_folds_into_the_next_days_digest_as_one_catch_up_if_that_comes_first(
        config, cli, smtp_recorder):
    handler, _ = smtp_recorder
    queue_a_retry(config, handler)
    assert cli("edit", "ann@example.org", "--pause") == 0
    assert cli("edit", "ann@example.org", "--resume") == 0
    with later(26), open_context(config) as ctx:            # the next day's digest is planned before the send
        ctx.store.ingest(day_papers(AGENTS_ARENA), source="hf_daily", digest_day="2026-06-13")
        reports = deliver(ctx)
    assert [r.state for r in reports] == ["sent"] and ann_states(config) == ["superseded", "sent"]
    [msg] = handler.messages
    assert "catch-up" in msg["Subject"].lower()


def day_papers(*ids: str) -> list:
    from notifier.parse import parse_hf_api

    return parse_hf_api(json.dumps(day_items("2026-06-13", list(ids))))


def test_with_unknown_policy_hold_a_mail_lost_after_its_data_is_left_unknown_for_the_operator(cfg, hf, monkeypatch):
    import notifier.channels
    from notifier.channels.base import Channel, SendResult

    sent = []

    class LosesFirst(Channel):
        def send(self, digest):
            sent.append(digest.delivery_key)
            return SendResult("unknown", error="connection lost while sending; it may have arrived")

    monkeypatch.setattr(notifier.channels, "sender_spec", lambda config, kind, address, env=None: (LosesFirst, {}))
    cfg.delivery.unknown_policy = "hold"
    subscribe(cfg, "2026-07-01 06:00", "speculative decoding")
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING])
    _, [first] = cycle(cfg, "2026-07-01 08:00")
    with freeze_time("2026-07-01 12:00"), open_context(cfg) as ctx:
        assert deliver(ctx) == [] and send_pending(ctx) == []
        [row] = ctx.store.deliveries()
    assert first.state == "unknown" and row.state == "unknown" and len(sent) == 1


def test_a_phrase_found_only_as_its_words_apart_is_named_so_in_the_digest(cfg, hf):
    """MiniMax Sparse Attention has "long-context" and "inference" but not "long-context inference":
    its why line quoted "… *inference* …" as if it had the phrase."""
    subscribe(cfg, "2026-07-01 06:00", '"long-context inference"')
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPARSE_ATTN])
    cycle(cfg, "2026-07-01 08:00")
    [msg] = outbox(cfg)
    body = " ".join(text_of(msg).split())
    assert "why: long-context inference (abstract, its words apart):" in body
    assert "matched:" not in body       # the why line names it: "matched:" lists only the terms it does not


@pytest.fixture
def no_room_once_accepted(smtp_recorder):
    """The disk fills up the moment the SMTP server accepts the first message: no file of this process can
    grow (RLIMIT_FSIZE 0, SIGXFSZ ignored so a write fails with EFBIG) until ``room()`` is called."""
    import resource
    import signal

    handler, _ = smtp_recorder
    accept, limits = handler.handle_DATA, resource.getrlimit(resource.RLIMIT_FSIZE)

    async def accepted_then_full(server, session, envelope):
        answer = await accept(server, session, envelope)
        if len(handler.messages) == 1:
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, limits[1]))
        return answer

    handler.handle_DATA = accepted_then_full
    was = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    yield lambda: resource.setrlimit(resource.RLIMIT_FSIZE, limits)
    resource.setrlimit(resource.RLIMIT_FSIZE, limits)
    signal.signal(signal.SIGXFSZ, was)


def test_an_email_that_went_out_but_could_not_be_recorded_says_so_and_what_the_next_run_does(
        config, cli, smtp_recorder, no_room_once_accepted):
    """It said "nothing was half-written" while the email had gone out, unrecorded."""
    from notifier.errors import StoreError
    from notifier.recovery import recover

    if config.database.url.startswith("postgresql"):
        pytest.skip("the database is written by the PostgreSQL server, not by this process")
    handler, _ = smtp_recorder
    with open_context(config) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="ann@example.org", keywords=["agents"]))
        ingest_sample(ctx.store)
        with pytest.raises(StoreError) as err:
            deliver(ctx)
        no_room_once_accepted()
        [d] = ctx.store.deliveries()
    [sent] = handler.messages
    assert str(err.value) == (
        f"ann@example.org: the digest of {d.digest_day} went out ({sent['Message-ID']}) but could not be recorded: "
        f"{ctx.store.path}: reading or writing the database failed: disk full, file size limit or a failing disk. "
        "The next `notifier run` or daemon start (a running daemon's sweep once its claim of 300 s runs out) sends it "
        "again with the same Message-ID (a mail client shows the two as one)")
    with open_context(config) as ctx:
        assert d.state == "sending" and recover(ctx, at_start=True) == 1
        [report] = send_pending(ctx)
    assert report.state == "sent" and [m["Message-ID"] for m in handler.messages] == [sent["Message-ID"]] * 2



def test_papers_fetched_after_the_clock_stepped_back_an_hour_reach_the_next_digest(cfg, hf):
    """Fetched at 07:00, the day's digest planned at 08:00; then the clock steps back an hour (a
    bad time server, a restored VM) and a fetch at 07:20 finds a paper added to the day's page:
    it was stamped before the digest's cutoff, and must still be in the next digest."""
    subscribe(cfg, "2026-07-01 06:00", '"speculative decoding", "sparse attention"')
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING])
    with freeze_time("2026-07-01 07:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        deliver(ctx)
    hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING, SPARSE_ATTN])
    fetched, delivered = cycle(cfg, "2026-07-01 07:20")
    assert [(f.day, f.new) for f in fetched] == [("2026-07-01", 1)] and delivered == []
    cycle(cfg, "2026-07-02 08:00")
    first, second = outbox(cfg)
    assert "Sparse Attention" not in text_of(first) and "Sparse Attention" in text_of(second)


def test_a_machine_off_from_friday_morning_to_monday_sends_one_catch_up_of_friday_and_monday(cfg, hf):
    """Off on Fri 3 Jul before its digest, back on Mon 6 Jul: the weekend's empty lists are
    fetched as such (no alert), and one message lists Friday's and Monday's papers under their day."""
    from notifier.alerts import raise_alerts

    subscribe(cfg, "2026-06-30 06:00", '"speculative decoding", "sparse attention", distillation')
    hf.days["2026-07-02"] = day_items("2026-07-02", [SPEC_DECODING])
    cycle(cfg, "2026-07-02 08:00")                                            # Thursday
    hf.days.update({"2026-07-03": day_items("2026-07-03", [SPARSE_ATTN]), "2026-07-04": [], "2026-07-05": [],
                    "2026-07-06": day_items("2026-07-06", [DISTILL_2STEP])})
    fetched, delivered = cycle(cfg, "2026-07-06 08:00")                       # Monday
    assert [(f.day, f.outcome, f.found) for f in fetched] == [
        ("2026-07-02", "ok", 1), ("2026-07-03", "ok", 1), ("2026-07-04", "ok", 0), ("2026-07-05", "ok", 0),
        ("2026-07-06", "ok", 1)]
    assert [(d.state, d.papers) for d in delivered] == [("sent", 2)]
    thursday, monday = outbox(cfg)
    body = text_of(monday)
    assert "catch-up Fri 3 – Mon 6 Jul" in monday["Subject"] and "Speculative Decoding" not in body
    order = [body.index(x) for x in ("Monday 6 July", "Two-Step Image Generation", "Friday 3 July", "Sparse Attention")]
    assert order == sorted(order)
    with freeze_time("2026-07-06 08:05"), open_context(cfg) as ctx:
        assert raise_alerts(ctx) == []
