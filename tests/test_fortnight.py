"""A fortnight of real use in one test: `notifier run` every two hours (as the timer would, in
process under a frozen clock) from Monday 19 to Sunday 1 November 2026, over a European DST
change, with every kind of subscriber in one batch and the outages a user meets: the source
answering 500 a day, the mail server down 30 hours, Slack answering 500 for a morning, a weekend,
a run started twice in a row, a run dying between a send and its record (an email; a Slack
channel's digest, found in the channel after the restart); a subscriber pauses and resumes, one
edits their keywords, one votes, one unsubscribes while a digest waits. Every outside party is a
local stand-in: aiosmtpd, the fake Slack, the Hugging Face stand-in serving the recorded day
re-dated (a seeded draw of its papers each weekday)."""
import json
import random
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from notifier import sending
from notifier.cli import main
from hf_server import HFStandIn
from slack_server import FakeSlack
from test_faults import SMTPServer
from test_pipeline import SAMPLE

START = date(2026, 10, 19)                      # a Monday; Europe leaves summer time on the 25th
DAYS = 14
TICK = timedelta(hours=2)
PER_DAY = 12
ID = re.compile(r"\b2610\.\d{5}\b|\b2611\.\d{5}\b")
AGENTS, REASONING = "agents", 'reasoning, "reinforcement learning"'
# address -> (subscribe options); every one takes up to 100 papers at the lowest threshold, so what
# the matcher selects from all the fortnight's papers is what each should get
SUBSCRIBERS = {
    "berlin@example.org": ["-k", AGENTS, "--timezone", "Europe/Berlin", "--time", "08:00"],
    "tonga@example.org": ["-k", REASONING, "--timezone", "Pacific/Tongatapu", "--time", "07:00"],  # UTC+13
    "pago@example.org": ["-k", AGENTS, "--timezone", "Pacific/Pago_Pago", "--time", "09:00"],      # UTC-11
    "weekly@example.org": ["-k", REASONING, "--frequency", "weekly:mon", "--timezone", "UTC", "--time", "08:00"],
    "#papers": ["-k", AGENTS, "--timezone", "UTC", "--time", "08:00"],
    "webhook:HOOK_A": ["-k", REASONING, "--timezone", "UTC", "--time", "08:00"],
    "paused@example.org": ["-k", AGENTS, "--timezone", "UTC", "--time", "08:00"],
    "editor@example.org": ["-k", AGENTS, "--timezone", "UTC", "--time", "08:00"],
    "voter@example.org": ["-k", REASONING, "--timezone", "UTC", "--time", "08:00"],
    "leaver@example.org": ["-k", AGENTS, "--timezone", "UTC", "--time", "08:00"],
}


def at(day: int, hour: int = 0) -> datetime:
    return datetime(START.year, START.month, START.day, hour, tzinfo=timezone.utc) + timedelta(days=day)


class Fortnight(HFStandIn):
    """Each weekday a seeded draw of the recorded day's papers under new ids, none at weekends."""

    def __init__(self):
        super().__init__()
        for n in range(DAYS):
            day = START + timedelta(days=n)
            if day.weekday() < 5:
                self.days[day.isoformat()] = self.drawn(day, n)

    @staticmethod
    def drawn(day: date, n: int) -> list[dict]:
        items = json.loads(json.dumps(random.Random(n).sample(SAMPLE, PER_DAY)))
        for k, item in enumerate(items):
            new_id = f"{day:%y%m}.{day.day:02d}{k:03d}"
            item["paper"]["id"] = new_id
            item["paper"]["submittedOnDailyAt"] = f"{day}T00:00:00.000Z"
            item["paper"]["title"] = item["title"] = f"{item['title']} ({day})"
        return items

    def papers(self) -> list[dict]:
        return [{"id": i["paper"]["id"], "title": i["title"], "abstract": i["paper"]["summary"]}
                for items in self.days.values() for i in items]

    def listed_on(self) -> dict[str, date]:
        return {i["paper"]["id"]: date.fromisoformat(d) for d, items in self.days.items() for i in items}


@pytest.fixture
def world(tmp_path, monkeypatch, db_url):
    hf, slack, smtp = Fortnight(), FakeSlack(), SMTPServer().start()
    secrets = {"HOOK_A": slack.url + "/hook/A", "SOAK_SLACK_TOKEN": "xoxb-soak"}
    for name, value in {**secrets, "NOTIFIER_STATE_DIR": str(tmp_path / "state")}.items():
        monkeypatch.setenv(name, value)
    for name in ("JOURNAL_STREAM", "NOTIFIER_CONFIG", "NOTIFIER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config.toml"
    config.write_text("\n".join([
        f'[database]\nurl = "{db_url}"',
        f'[general]\noutbox_dir = "{tmp_path / "outbox"}"',
        f'[sources]\nmax_attempts = 1\n[sources.hf_daily]\nbase_url = "{hf.url}"\nmin_interval_seconds = 0',
        f'[email]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\nfrom = "Digest <digest@example.org>"'
        "\ntimeout_seconds = 5",
        f'[slack]\napi_url = "{slack.url}/api/"\ntoken_env = "SOAK_SLACK_TOKEN"\nmin_interval_seconds = 0',
        "[delivery]\nretry_base_seconds = 300"]))
    yield str(config), hf, smtp, slack
    smtp.handler.release.set()
    smtp.stop()
    slack.close()
    hf.close()


def notifier(config: str, *args: str) -> int:
    return main(["--config", config, *args])


def matching(config: str, papers_file, profile: str, capsys) -> set[str]:
    """The fortnight's papers on which the matcher finds ``profile``'s terms at all: a digest may
    hold no other (which of them it selects depends on the others it is ranked with)."""
    capsys.readouterr()
    assert notifier(config, "match", "--papers", str(papers_file), "--profile", profile, "--json") == 0
    return {m["id"] for m in json.loads(capsys.readouterr().out) if m["matched"]}


def squarely_on(papers: list[dict], title_words: str) -> set[str]:
    """The papers with a term in their title: selected whatever they are ranked with."""
    return {p["id"] for p in papers if re.search(title_words, p["title"], re.I)}


class Received:
    """Every message each subscriber got, stamped with the (frozen) time it was first seen."""

    def __init__(self, smtp: SMTPServer, slack: FakeSlack):
        self.smtp, self.slack, self.seen_mail, self.seen_slack = smtp, slack, 0, 0
        self.messages: list[tuple[str, datetime, str, set[str], str]] = []   # (to, when, message id, papers, text)

    def collect(self, now: datetime) -> None:
        mail = self.smtp.handler.snapshot()
        for m in mail[self.seen_mail:]:
            text = m.get_body(("plain",)).get_content()
            self.messages.append((m["To"], now, m["Message-ID"], set(ID.findall(text)), m["Subject"] + "\n" + text))
        self.seen_mail = len(mail)
        accepted = self.slack.accepted()
        where = {"/hook/A": "webhook:HOOK_A", **{i: name for name, i in self.slack.channels.items()}}
        for n, (destination, payload) in enumerate(accepted[self.seen_slack:], self.seen_slack):
            body = json.dumps(payload)
            self.messages.append((where.get(destination, destination), now, f"slack-{n}", set(ID.findall(body)), body))
        self.seen_slack = len(accepted)

    def of(self, address: str) -> list[tuple[datetime, str, set[str], str]]:
        return [(when, mid, ids, text) for to, when, mid, ids, text in self.messages if to == address]

    def papers_of(self, address: str) -> list[str]:
        """Each paper once per distinct message (a resend under the same Message-ID is one message)."""
        distinct = {mid: ids for _, mid, ids, _ in self.of(address)}
        return [p for ids in distinct.values() for p in ids]


class Crash(BaseException):
    """The process dying: nothing of it runs on (a BaseException passes every handler)."""


def crash_once_after_sending_to(address: str, after: datetime, monkeypatch) -> list:
    """The run dies once between the mail server's 250 for ``address`` and its record, the first time
    after ``after`` -> when it died."""
    died, record = [], sending.record

    def dies_after_the_send(ctx, d, sub, sender, state, ref, **outcome):
        if sub.address == address and state == "sent" and not died and ctx.now() >= after:
            died.append(ctx.now())
            raise Crash
        return record(ctx, d, sub, sender, state, ref, **outcome)
    monkeypatch.setattr(sending, "record", dies_after_the_send)
    return died


def run(config: str) -> int | str:
    """`notifier run` as the timer starts it -> its exit status, or "crashed"."""
    try:
        return notifier(config, "run")
    except Crash:
        return "crashed"


def status(config: str, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = notifier(config, "status")
    return code, capsys.readouterr().out


@pytest.mark.timeout(300)
def test_a_fortnight_of_every_kind_of_subscriber_through_outages_brings_each_paper_once(world, tmp_path, capsys,
                                                                                        monkeypatch):
    config, hf, smtp, slack = world
    died = crash_once_after_sending_to("berlin@example.org", at(1, 0), monkeypatch)
    died_on_slack = crash_once_after_sending_to("#papers", at(5, 0), monkeypatch)     # Slack took it, no record
    events = {
        at(2, 0): lambda: setattr(hf, "fail", "500"),                      # Wednesday: the source fails all day
        at(3, 0): lambda: setattr(hf, "fail", None),
        at(2, 12): lambda: notifier(config, "edit", "paused@example.org", "--pause"),
        at(4, 12): lambda: notifier(config, "edit", "paused@example.org", "--resume"),
        at(3, 12): lambda: notifier(config, "edit", "editor@example.org", "-k", REASONING),
        at(7, 4): smtp.stop,                                               # Monday 04:00 to Tuesday 10:00: no mail
        at(8, 10): smtp.start,
        at(9, 6): lambda: slack.replies.update({p: [(500, {}, "server_error")] * 100
                                                for p in ("/hook/A", "/api/chat.postMessage")}),
        at(9, 10): lambda: [slack.replies.pop(p) for p in ("/hook/A", "/api/chat.postMessage")],
        at(8, 9): lambda: notifier(config, "unsubscribe", "leaver@example.org"),   # Monday's digest still waiting
    }
    received, codes, twice = Received(smtp, slack), {}, {at(10, h) for h in range(0, 24, 2)}
    fetch_failed_status = None
    with freeze_time(at(0, 0), real_asyncio=True) as clock:
        for address, options in SUBSCRIBERS.items():
            assert notifier(config, "subscribe", address, *options, "--max-items", "100", "--threshold", "0.05") == 0
        now = at(0, 0)
        while now < at(DAYS, 0):
            for when in sorted(w for w in events if now - TICK < w <= now):
                clock.move_to(when)
                events[when]()
            clock.move_to(now)
            if now == at(4, 12):           # the voter marks one paper they had "not for me", one "more like this"
                had = received.papers_of("voter@example.org")
                assert notifier(config, "vote", "voter@example.org", had[0], "down") == 0
                assert notifier(config, "vote", "voter@example.org", had[1], "up") == 0
            for _ in range(2 if now in twice else 1):
                codes[now] = run(config)
            received.collect(now)
            if now == at(2, 14):
                fetch_failed_status = status(config, capsys)
            now += TICK
        clock.move_to(at(DAYS, 0))
        final_status = status(config, capsys)

    papers_file = tmp_path / "papers.jsonl"
    papers_file.write_text("".join(json.dumps(p) + "\n" for p in hf.papers()))
    listed_on = hf.listed_on()
    may = {profile: matching(config, papers_file, profile, capsys) for profile in (AGENTS, REASONING)}
    wanted = {AGENTS: squarely_on(hf.papers(), r"\bagent"),
              REASONING: squarely_on(hf.papers(), r"\breason|reinforcement learning")}
    report = {a: len(received.of(a)) for a in SUBSCRIBERS}
    print(f"\nFORTNIGHT messages per subscriber: {report}; run exit codes: "
          f"{sorted({str(c) for c in codes.values()})}")

    assert died and codes[died[0]] == "crashed"
    assert died_on_slack and codes[died_on_slack[0]] == "crashed"
    # no subscriber receives the same paper twice, across all their messages
    for address in SUBSCRIBERS:
        papers = received.papers_of(address)
        assert len(papers) == len(set(papers)), (address, sorted(p for p in papers if papers.count(p) > 1))

    # every paper that matched reaches them (late after an outage is fine)
    def listed(first: int, last: int, profile: str) -> set[str]:
        return {p for p in wanted[profile] if first <= (listed_on[p] - START).days <= last}

    got = {a: set(received.papers_of(a)) for a in SUBSCRIBERS}
    kept = [a for a in SUBSCRIBERS if a != "editor@example.org"]
    profile_of = {a: AGENTS if AGENTS in options else REASONING for a, options in SUBSCRIBERS.items()}
    assert {a: got[a] - may[profile_of[a]] for a in kept} == {a: set() for a in kept}      # nothing unmatched
    last_day = DAYS - 1
    # a paused subscriber gets the papers of their pause when they resume (README: --resume sends them)
    for address in ("berlin@example.org", "pago@example.org", "#papers", "paused@example.org"):
        assert listed(0, last_day - 1, AGENTS) - got[address] == set(), address
    for address in ("tonga@example.org", "webhook:HOOK_A"):
        assert listed(0, last_day - 1, REASONING) - got[address] == set(), address
    assert listed(4, last_day - 1, REASONING) <= got["editor@example.org"] <= may[AGENTS] | may[REASONING]
    assert listed(0, 6, REASONING) <= got["weekly@example.org"]             # the first week's, in Monday's digest

    # nobody gets a message after unsubscribing; a weekly subscriber at most one a week
    assert all(when < at(8, 9) for when, *_ in received.of("leaver@example.org"))
    assert listed(0, 6, AGENTS) <= got["leaver@example.org"]
    weeks = [when.isocalendar()[1] for when, *_ in received.of("weekly@example.org")]
    assert len(weeks) == len(set(weeks)), weeks

    # digests kept back by an outage come folded into one email, never several at once
    for address in (a for a in SUBSCRIBERS if "@" in a):
        runs = [when for when, _ in {mid: (when, mid) for when, mid, _, _ in received.of(address)}.values()]
        assert len(runs) == len(set(runs)), address

    # 08:00 in Berlin both sides of the change from summer time (the next run after it, runs being 2 h apart),
    # but the first digest (at once on subscribing) and the one kept back by the mail outage; a resend after
    # the crash is the same message (its Message-ID), late
    first_seen = {mid: when for when, mid, _, _ in reversed(received.of("berlin@example.org"))}
    berlin = sorted(when.astimezone(ZoneInfo("Europe/Berlin")) for when in first_seen.values())
    assert [t for t in berlin if t.date() not in (START, date(2026, 10, 27)) and not 8 <= t.hour < 10] == [], berlin
    assert {t.utcoffset() for t in berlin} == {timedelta(hours=2), timedelta(hours=1)}

    # a paused subscriber hears nothing while paused
    assert not [when for when, *_ in received.of("paused@example.org") if at(2, 12) <= when < at(4, 12)]

    # the failed fetch day was reported, and not sent as a day without papers
    code, text = fetch_failed_status
    assert {codes[at(2, h)] for h in range(0, 24, 2)} == {1}, codes              # every run of the day said so
    assert code != 0 and "hf" in text.lower(), text
    on_failed_day = [t for to, when, _, _, t in received.messages if at(2, 0) <= when < at(3, 0)]
    assert not [t for t in on_failed_day if "No new papers" in t]

    # everything recovered: status is clean at the end
    code, text = final_status
    assert code == 0, text

