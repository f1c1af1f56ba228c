"""Fetch stage against a real HTTP server on 127.0.0.1 serving scripted responses.
Time is fake: the fetcher's sleep and clock are injected, so no test waits for a backoff."""
from __future__ import annotations

import gzip
import itertools
import json
import logging
import threading
import time
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from freezegun import freeze_time

from notifier.config import Config
from notifier.parse import Papers
from notifier.fetch import Fetcher, FetchOutcome, days_beyond_catchup, digest_days, retry_after_seconds, user_agent

FIX = Path(__file__).parent / "fixtures"
HF_3 = (FIX / "hf/hf_daily_papers_api_2026-08-03_3items.json").read_text(encoding="utf-8")
RSS_LG = (FIX / "arxiv/arxiv_rss_cs.LG_2026-04-27.xml").read_text(encoding="utf-8")
DAY = date(2026, 8, 3)
API = "/api/daily_papers?date=2026-08-03&limit=100"


class Reply:
    """``chunks``: send the body as that many chunked pieces (no Content-Length), each ``body``,
    ``gap`` seconds apart (a server trickling its answer)."""

    def __init__(self, status=200, body="", headers=None, delay=0.0, truncate=False,
                 ctype="application/json", chunks=0, gzip=False, gap=0.0):
        self.status, self.body, self.delay, self.truncate = status, body, delay, truncate
        self.chunks, self.gzip, self.gap = chunks, gzip, gap
        self.headers = {"Content-Type": ctype} | (headers or {})


class Server:
    """Routes map 'path?query' to a list of Replies, served in order (the last one repeats)."""

    def __init__(self):
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict]] = []
        self.chunks_sent = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                script = outer.routes.get(self.path) or [Reply(404, "not found", ctype="text/plain")]
                reply = script.pop(0) if len(script) > 1 else script[0]
                time.sleep(reply.delay)
                body = reply.body.encode("utf-8")
                body = gzip.compress(body) if reply.gzip else body
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    if reply.gzip:
                        self.send_header("Content-Encoding", "gzip")
                    if reply.chunks:
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for _ in range(reply.chunks):
                            outer.chunks_sent += 1
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
                            self.wfile.flush()
                            if reply.gap:
                                time.sleep(reply.gap)
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2] if reply.truncate else body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                if reply.truncate:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def paths(self):
        return [p for p, _ in self.requests]


class FakeTime:
    """The wall clock (seconds since the epoch) that every fetcher of a test shares, as workers do."""

    def __init__(self):
        self.now, self.sleeps = datetime(2026, 6, 12, 7, tzinfo=timezone.utc).timestamp(), []

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 3))
        self.now += seconds

    def clock(self):
        return self.now


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def cfg(server, monkeypatch):
    """The configuration a test changes before ``make()`` builds the fetcher from it."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    c = Config()
    c.general.contact = "ops@example.org"
    c.sources.hf_daily.base_url, c.sources.arxiv.base_url = server.url, server.url + "/arxiv"
    c.sources.timeout_seconds, c.sources.max_attempts = 2.0, 4
    c.sources.hf_daily.min_interval_seconds, c.sources.arxiv.min_interval_seconds = 0, 3.0
    return c


@pytest.fixture
def make(cfg, fake_time):
    """``make(**options)``: the fetcher ``cfg`` describes, with fake time and the given options."""
    made = []

    def factory(**options):
        made.append(Fetcher.from_config(cfg, **{"sleep": fake_time.sleep, "clock": fake_time.clock,
                                                "jitter": lambda lo, hi: hi} | options))
        return made[-1]
    yield factory
    for f in made:
        f.close()


def items(n, start=0, day="2026-08-03"):
    return json.dumps([{"paper": {"id": f"2608.{i:05d}", "title": f"Paper {i}", "upvotes": i,
                                  "submittedOnDailyAt": f"{day}T00:00:00.000Z"}, "numComments": 1}
                       for i in range(start, start + n)])


# ---------------------------------------------------------------- Hugging Face

def test_hf_day_200_returns_every_paper(server, make):
    server.routes[API] = [Reply(body=HF_3)]
    out = make().fetch_hf_day(DAY)
    assert out.ok and out.status == 200 and server.paths() == [API]
    assert [p.arxiv_id for p in out.papers] == ["2607.26654", "2607.28229", "2607.27851"]
    assert [p.upvotes for p in out.papers] == [3, 4, 2]


def test_user_agent_and_hf_token_are_sent(server, make, monkeypatch):
    server.routes[API] = [Reply(body="[]")]
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    make().fetch_hf_day(DAY)
    headers = server.requests[0][1]
    assert headers["User-Agent"] == "digest-notifier/0.1.0 (ops@example.org)"
    assert headers["Authorization"] == "Bearer hf_secret"


def test_no_token_sends_no_authorization(server, make):
    server.routes[API] = [Reply(body="[]")]
    make().fetch_hf_day(DAY)
    assert "Authorization" not in server.requests[0][1]


def test_empty_weekend_day_is_ok_and_empty(server, make):
    server.routes["/api/daily_papers?date=2026-08-02&limit=100"] = [Reply(body="[]")]
    out = make().fetch_hf_day(date(2026, 8, 2))
    assert out.ok and out.papers == [] and out.error is None


def test_another_days_list_answered_for_a_day_is_logged_and_gives_it_no_papers(server, make, caplog):
    server.routes[API] = [Reply(body=items(3, day="2026-07-31"))]
    with caplog.at_level(logging.INFO):
        out = make().fetch_hf_day(DAY)
    assert out.ok and out.papers == []
    [line] = [r for r in caplog.records if r.getMessage() == "HF answered another day's list"]
    assert (line.ctx["day"], line.ctx["answered"], line.ctx["papers"]) == (DAY, "2026-07-31", 3)


def test_a_day_listing_papers_of_the_day_before_too_keeps_them_all(server, make):
    server.routes[API] = [Reply(body=json.dumps(json.loads(items(2)) + json.loads(items(1, 7, day="2026-08-02"))))]
    out = make().fetch_hf_day(DAY)
    assert [(p.arxiv_id, p.digest_day) for p in out.papers] == [
        ("2608.00000", "2026-08-03"), ("2608.00001", "2026-08-03"), ("2608.00007", "2026-08-02")]


def test_paging_until_a_short_page(server, make):
    server.routes[API] = [Reply(body=items(100))]
    server.routes[API + "&p=1"] = [Reply(body=items(100, 100))]
    server.routes[API + "&p=2"] = [Reply(body=items(7, 200))]
    out = make().fetch_hf_day(DAY)
    assert out.ok and len(out.papers) == 207 and len({p.arxiv_id for p in out.papers}) == 207
    assert server.paths() == [API, API + "&p=1", API + "&p=2"]


def test_day_that_grows_between_two_reads_returns_the_full_day(server, make):
    server.routes[API] = [Reply(body=items(2)), Reply(body=items(3))]
    f = make()
    first, second = f.fetch_hf_day(DAY), f.fetch_hf_day(DAY)
    assert [p.arxiv_id for p in first.papers] == ["2608.00000", "2608.00001"]
    assert [p.arxiv_id for p in second.papers] == ["2608.00000", "2608.00001", "2608.00002"]


def test_429_with_retry_after_then_200(server, make, fake_time):
    server.routes[API] = [Reply(429, '{"error":"rate"}', {"Retry-After": "7"}), Reply(body=HF_3)]
    out = make().fetch_hf_day(DAY)
    assert out.ok and len(out.papers) == 3
    assert fake_time.sleeps == [7.0]


def test_429_with_hf_ratelimit_header_waits_for_reset(server, make, fake_time):
    server.routes[API] = [Reply(429, "{}", {"RateLimit": '"api";r=0;t=42'}), Reply(body="[]")]
    assert make().fetch_hf_day(DAY).ok
    assert fake_time.sleeps == [42.0]


def test_a_retry_after_longer_than_a_fetch_waits_fails_at_once_naming_when_to_ask_again(server, make, fake_time):
    server.routes[API] = [Reply(503, "", {"Retry-After": "Fri, 07 Aug 2099 06:00:00 GMT"}), Reply(body="[]")]
    out = make(max_retry_after_seconds=600).fetch_hf_day(DAY)
    assert not out.ok and out.status == 503
    assert out.error.startswith("127.0.0.1:") and "HTML page" not in out.error
    assert "answered HTTP 503 with a Retry-After until 2099-08-07 06:00 UTC, longer than a fetch waits (600 s)" \
        in out.error
    assert server.paths() == [API] and fake_time.sleeps == []     # not its HTML page either: same host


DAY_OFF = Reply(429, "", {"Retry-After": "86400"})


@pytest.mark.parametrize("replies,retries_logged", [([Reply(500, "oops"), DAY_OFF], ["HTTP 500"]), ([DAY_OFF], [])],
                         ids=["on_the_last_attempt", "before_the_last_attempt"])
def test_a_day_long_retry_after_names_when_to_ask_again_and_logs_no_retry(
        server, make, cfg, fake_time, caplog, replies, retries_logged):
    """On the last attempt it failed "after 2 attempts: HTTP 429"; before it, the log showed a
    retry in 86400 s that was never going to happen."""
    cfg.sources.max_attempts = 2
    server.routes["/arxiv/rss/cs.AI"] = list(replies)        # the server pops what it served
    with caplog.at_level(logging.WARNING):
        out = make().fetch_arxiv("cs.AI")
    assert not out.ok and out.status == 429
    assert out.error == ("127.0.0.1:%d answered HTTP 429 with a Retry-After until 2026-06-13 07:00 UTC, longer than "
                         "a fetch waits (600 s): GET %s/arxiv/rss/cs.AI is not asked again before then"
                         % (server.httpd.server_address[1], server.url))
    assert [r.ctx["error"] for r in caplog.records if r.getMessage() == "fetch retry"] == retries_logged
    assert server.paths() == ["/arxiv/rss/cs.AI"] * len(replies)


def test_a_retry_after_holds_the_next_category_on_that_host_too(server, make, cfg, fake_time):
    cfg.sources.max_attempts = 2
    server.routes["/arxiv/rss/cs.AI"] = [Reply(503, "", {"Retry-After": "60"})]
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG)]
    f = make()
    assert not f.fetch_arxiv("cs.AI").ok and f.fetch_arxiv("cs.LG").ok
    assert fake_time.sleeps == [60.0, 60.0]        # the retry, then cs.LG: 60 s after the last 503, not 3


def test_a_host_that_asked_for_a_day_off_is_not_asked_for_its_next_category(server, make, fake_time):
    server.routes["/arxiv/rss/cs.AI"] = [Reply(429, "", {"Retry-After": "86400"})]
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG)]
    f = make()
    assert not f.fetch_arxiv("cs.AI").ok
    out = f.fetch_arxiv("cs.LG")
    assert not out.ok and out.status == 429 and "answered HTTP 429 with a Retry-After until" in out.error
    assert "GET " + server.url + "/arxiv/rss/cs.LG is not asked again before then" in out.error
    assert server.paths() == ["/arxiv/rss/cs.AI"] and fake_time.sleeps == []


def test_a_host_that_asked_for_a_day_off_is_not_asked_by_the_next_run_either(server, make, store, fake_time):
    """Each `notifier run` (the timer) made a fetcher of its own, which knew nothing of the day off."""
    server.routes["/arxiv/rss/cs.AI"] = [Reply(429, "", {"Retry-After": "86400"})]
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG)]
    assert not make(hosts=store).fetch_arxiv("cs.AI").ok
    out = make(hosts=store).fetch_arxiv("cs.LG")            # the next run, 15 minutes later
    assert not out.ok and out.status == 429 and "answered HTTP 429 with a Retry-After until" in out.error
    assert server.paths() == ["/arxiv/rss/cs.AI"] and fake_time.sleeps == []


def test_a_short_retry_after_from_an_earlier_run_is_waited_out_by_the_next(server, make, cfg, store, fake_time):
    cfg.sources.max_attempts = 1
    server.routes["/arxiv/rss/cs.AI"] = [Reply(503, "", {"Retry-After": "120"})]
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG)]
    assert not make(hosts=store).fetch_arxiv("cs.AI").ok
    fake_time.now += 30
    assert make(hosts=store).fetch_arxiv("cs.LG").ok
    assert fake_time.sleeps == [90.0]            # what is left of the 120 s, not 0


@pytest.fixture(params=["sqlite", "postgres"])
def workers(request, tmp_path, make):
    """``workers(n)``: n fetchers each with a Store of its own on one database, as n workers."""
    url = (request.getfixturevalue("postgres_url") if request.param == "postgres"
           else f"sqlite:///{tmp_path / 'shared.sqlite'}")
    from notifier.store import Store

    stores = []

    def factory(n):
        stores.extend(Store(url) for _ in range(n))
        return [make(hosts=store) for store in stores[-n:]]
    yield factory
    for store in stores:
        store.close()


def test_workers_on_one_database_keep_one_arxiv_pace_between_them(server, workers, fake_time):
    """Each worker waited 3 s only after its own requests: two asked arXiv at the same moment."""
    for cat in ("cs.LG", "cs.AI", "cs.CL"):
        server.routes[f"/arxiv/rss/{cat}"] = [Reply(body=RSS_LG)]
    one, two = workers(2)
    asked = []
    for fetcher, cat in ((one, "cs.LG"), (two, "cs.AI"), (one, "cs.CL"), (two, "cs.LG")):
        assert fetcher.fetch_arxiv(cat).ok
        asked.append(fake_time.now)
    assert [round(b - a, 3) for a, b in itertools.pairwise(asked)] == [3.0, 3.0, 3.0]


def test_a_retry_after_another_worker_was_answered_holds_this_ones_next_request_in_the_same_cycle(
        server, workers, fake_time):
    """The stored holds were read once a cycle: a worker went on asking a host that had just
    answered another one 429 with a day's Retry-After."""
    server.routes["/arxiv/rss/cs.AI"] = [Reply(429, "", {"Retry-After": "86400"})]
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG)]
    mine, other = workers(2)
    assert mine.fetch_arxiv("cs.LG").ok
    assert not other.fetch_arxiv("cs.AI").ok
    out = mine.fetch_arxiv("cs.LG")
    assert not out.ok and "answered HTTP 429 with a Retry-After until 2026-06-13 07:00 UTC" in out.error
    assert server.paths() == ["/arxiv/rss/cs.LG", "/arxiv/rss/cs.AI"]


def test_500_twice_then_200_backs_off_exponentially(server, make, fake_time):
    server.routes[API] = [Reply(500, "oops"), Reply(500, "oops"), Reply(body=HF_3)]
    out = make(backoff_base_seconds=2.0).fetch_hf_day(DAY)
    assert out.ok and len(out.papers) == 3
    assert fake_time.sleeps == [2.0, 4.0]          # jitter pinned to its upper bound


def test_persistent_500_fails_with_reason_after_max_attempts(server, make, cfg):
    server.routes[API] = [Reply(500, "oops")]
    cfg.sources.max_attempts = 3
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and out.papers == [] and out.status == 500
    assert "failed after 3 attempts: HTTP 500" in out.error
    assert server.paths() == [API] * 3


def test_404_is_not_retried(server, make):
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and out.status == 404 and server.paths() == [API]


def test_timeout_is_retried_then_fails(server, make, cfg):
    server.routes[API] = [Reply(body="[]", delay=0.6)]
    cfg.sources.timeout_seconds, cfg.sources.max_attempts = 0.2, 2
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "ReadTimeout" in out.error and len(server.requests) == 2


def test_truncated_body_is_a_failure_not_an_empty_day(server, make, cfg):
    server.routes[API] = [Reply(body=HF_3, truncate=True)]
    cfg.sources.max_attempts = 2
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and out.papers == [] and "failed after 2 attempts" in out.error


def test_html_error_page_where_json_expected_is_a_failure(server, make):
    server.routes[API] = [Reply(body="<!DOCTYPE html><html><body>Oops</body></html>", ctype="text/html")]
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "HTML page where JSON was expected" in out.error


CAPTCHA = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Just a moment&hellip;</title></head>'
           '<body><noscript>Enable JavaScript and cookies to continue</noscript></body></html>')


def test_a_captcha_page_where_the_rss_feed_was_expected_is_a_failure_named_by_its_title(server, make):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=CAPTCHA, ctype="text/html; charset=utf-8")]
    out = make().fetch_arxiv("cs.LG")
    assert not out.ok and out.status == 200 and out.papers == []
    assert out.error == f"GET {server.url}/arxiv/rss/cs.LG returned an HTML page ('Just a moment…') where an RSS feed " \
                        "was expected"


def test_a_captcha_page_where_json_was_expected_is_named_by_its_title(server, make):
    server.routes[API] = [Reply(body=CAPTCHA, ctype="text/html")]
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "returned an HTML page ('Just a moment…') where JSON was expected" in out.error


def test_error_object_is_a_failure_not_an_empty_day(server, make):
    server.routes[API] = [Reply(body='{"error": "Invalid date"}')]
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "Invalid date" in out.error


def test_api_failure_falls_back_to_the_html_day_page(server, make):
    server.routes[API] = [Reply(body='{"error": "down"}')]
    page = (FIX / "hf/hf_day_page_2026-08-03_built.html").read_text(encoding="utf-8")
    server.routes["/papers/date/2026-08-03"] = [Reply(body=page, ctype="text/html")]
    out = make().fetch_hf_day(DAY)
    assert out.ok and len(out.papers) == 3 and server.paths() == [API, "/papers/date/2026-08-03"]
    assert out.papers[0].authors[1] == "Zoë Ñúñez-Kowalski"


def test_both_api_and_html_failing_reports_both_reasons(server, make):
    server.routes[API] = [Reply(body='{"error": "down"}')]
    server.routes["/papers/date/2026-08-03"] = [Reply(body="<html><body>Nothing</body></html>", ctype="text/html")]
    out = make().fetch_hf_day(DAY)
    assert not out.ok and "API: HF API returned an error: down" in out.error
    assert "HTML page: HF page has no DailyPapers data" in out.error


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 that refuses connections: bound (so nothing else takes it), never listening."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_an_unreachable_host_fails_once_without_asking_for_its_html_page(make, cfg, fake_time, closed_port, caplog):
    cfg.sources.hf_daily.base_url = f"http://127.0.0.1:{closed_port}"
    with caplog.at_level(logging.ERROR):
        out = make().fetch_hf_day(DAY)
    assert [r.getMessage() for r in caplog.records] == []      # the pipeline logs the source's failure, once
    assert not out.ok and out.status is None
    assert out.error.startswith(f"GET http://127.0.0.1:{closed_port}/api/daily_papers failed after 4 attempts: ConnectError")
    assert "HTML page" not in out.error and len(fake_time.sleeps) == 3     # the API's 4 attempts, no more


def test_a_host_that_could_not_be_connected_to_is_not_asked_again_until_the_next_cycle(make, cfg, fake_time, closed_port):
    """arXiv's categories share one host: without a network each paid every attempt and its pacing."""
    cfg.sources.arxiv.base_url, cfg.sources.arxiv.min_interval_seconds = f"http://127.0.0.1:{closed_port}", 0
    fetcher = make()
    first, second = (fetcher.fetch_arxiv(cat, today=DAY) for cat in ("cs.LG", "cs.CL"))
    assert first.error.startswith(f"GET http://127.0.0.1:{closed_port}/rss/cs.LG failed after 4 attempts: ConnectError")
    assert not second.ok and second.error.startswith(
        f"GET http://127.0.0.1:{closed_port}/rss/cs.CL not tried: 127.0.0.1:{closed_port} could not be connected to "
        "earlier in this cycle (ConnectError")
    assert len(fake_time.sleeps) == 3                   # the first category's 4 attempts, no more
    fetcher.new_cycle()
    assert "failed after 4 attempts" in fetcher.fetch_arxiv("cs.CL", today=DAY).error and len(fake_time.sleeps) == 6


def test_a_host_answering_5xx_is_asked_again_for_the_next_category(server, make, cfg, fake_time):
    cfg.sources.arxiv.min_interval_seconds = 0
    server.routes["/arxiv/rss/cs.LG"] = [Reply(503)]
    server.routes["/arxiv/rss/cs.CL"] = [Reply(body=RSS_LG, ctype="application/rss+xml")]
    fetcher = make()
    assert not fetcher.fetch_arxiv("cs.LG", today=DAY).ok and fetcher.fetch_arxiv("cs.CL", today=DAY).ok


def test_a_single_attempt_is_named_in_the_singular(make, cfg, closed_port):
    cfg.sources.hf_daily.base_url, cfg.sources.max_attempts = f"http://127.0.0.1:{closed_port}", 1
    assert "failed after 1 attempt: ConnectError" in make().fetch_hf_day(DAY).error


def test_a_day_whose_only_item_misses_a_title_is_a_failure(server, make):
    server.routes[API] = [Reply(body='[{"paper": {"id": "2608.00001"}}]')]
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "has no title" in out.error and out.status == 200


def test_one_item_without_a_title_is_skipped_and_the_day_kept(server, make):
    server.routes[API] = [Reply(body=json.dumps(json.loads(items(2)) + [{"paper": {"id": "2608.00009"}}]))]
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert out.ok and [p.arxiv_id for p in out.papers] == ["2608.00000", "2608.00001"]
    assert out.skipped == ["HF item 3: HF paper 2608.00009 has no title"]


def test_a_full_page_with_a_bad_item_still_reads_the_next_page(server, make):
    page = json.loads(items(99)) + [{"paper": {"id": "2608.09999", "title": 5}}]
    server.routes[API] = [Reply(body=json.dumps(page))]
    server.routes[API + "&p=1"] = [Reply(body=items(3, 100))]
    out = make().fetch_hf_day(DAY)
    assert out.ok and len(out.papers) == 102 and len(out.skipped) == 1


# ---------------------------------------------------------------- bounded work (issue 10)

def test_a_response_declared_too_big_is_refused_unread_and_not_retried(server, make, cfg):
    server.routes[API] = [Reply(body=items(100))]
    cfg.sources.max_response_bytes = 1000
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and out.papers == [] and server.paths() == [API]
    assert out.error == (f"GET {server.url}{API} answered more than sources.max_response_bytes = 1000 bytes; "
                         "stopped reading")


def test_an_endless_streamed_response_stops_being_read_past_the_limit(server, make, cfg):
    server.routes[API] = [Reply(body="[" + "1," * 5000, chunks=100_000)]     # 1 GB if read to the end
    cfg.sources.max_response_bytes = 50_000
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "more than sources.max_response_bytes = 50000 bytes" in out.error
    assert server.chunks_sent < 1000 and len(server.requests) == 1


def test_a_gzip_body_is_decoded_and_its_decoded_size_counts(server, make, cfg):
    server.routes[API] = [Reply(body=HF_3, gzip=True)]
    assert [p.upvotes for p in make().fetch_hf_day(DAY).papers] == [3, 4, 2]
    cfg.sources.max_response_bytes = len(HF_3.encode()) - 1     # the compressed body is far smaller
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "max_response_bytes" in out.error


def test_an_answer_with_more_items_than_a_day_can_have_is_refused(server, make, cfg):
    server.routes[API] = [Reply(body=items(900))]        # asked for limit=100
    cfg.sources.max_items_per_day = 500
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and out.error == "HF API for 2026-08-03 returned 900 items, more than sources.max_items_per_day = 500"


def test_an_arxiv_listing_with_too_many_items_is_refused(server, make, cfg):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=rss_with(["new"] * 6))]
    cfg.sources.max_items_per_day = 5
    out = make().fetch_arxiv("cs.LG")
    assert not out.ok and "arXiv RSS arxiv:cs.LG returned 6 items, more than sources.max_items_per_day = 5" in out.error


# ---------------------------------------------------------------- arXiv

def test_arxiv_rss_200_keeps_validators_and_papers(server, make):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG, ctype="application/rss+xml", headers={"ETag": "abc123"})]
    out = make().fetch_arxiv("cs.LG", today=date(2026, 4, 27))
    assert out.ok and not out.not_modified and out.etag == "abc123"
    assert [p.arxiv_id for p in out.papers] == ["2604.21952", "2604.21953", "2604.21956"]
    assert {p.source for p in out.papers} == {"arxiv:cs.LG"}


def test_a_listing_older_than_the_day_fetched_warns_that_the_fetch_runs_before_the_listing(server, make, caplog):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG, ctype="application/rss+xml")]
    f = make()
    with caplog.at_level(logging.INFO):
        assert f.fetch_arxiv("cs.LG", today=date(2026, 4, 27)).ok          # its own day: nothing to say
        assert f.fetch_arxiv("cs.LG", today=date(2026, 4, 28)).ok
    [line] = [r for r in caplog.records if r.getMessage() == "arXiv listing older than the day fetched"]
    assert line.levelno == logging.WARNING and (line.ctx["day"], line.ctx["listing"]) == (date(2026, 4, 28), "2026-04-27")


def test_304_with_etag_keeps_what_is_stored(server, make):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(304, "", {"ETag": "abc123"})]
    out = make().fetch_arxiv("cs.LG", etag="abc123", last_modified="Mon, 27 Apr 2026 04:00:00 GMT")
    assert out.ok and out.not_modified and out.papers == [] and out.etag == "abc123"
    sent = server.requests[0][1]
    assert sent["If-None-Match"] == "abc123"
    assert sent["If-Modified-Since"] == "Mon, 27 Apr 2026 04:00:00 GMT"


def test_200_with_the_stored_etag_counts_as_not_modified(server, make):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG, headers={"ETag": "abc123"})]
    out = make().fetch_arxiv("cs.LG", etag="abc123")
    assert out.ok and out.not_modified and out.papers == []


def rss_with(kinds):
    items = "".join(
        f"<item><title>T{i}</title><link>https://arxiv.org/abs/2604.0000{i}</link>"
        f"<description>arXiv:2604.0000{i}v1 Announce Type: {k} \nAbstract: A.</description>"
        f"<guid>oai:arXiv.org:2604.0000{i}v1</guid><arxiv:announce_type>{k}</arxiv:announce_type>"
        f"<dc:creator>A B</dc:creator></item>" for i, k in enumerate(kinds))
    return ('<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            f'version="2.0"><channel><title>cs.LG updates on arXiv.org</title>{items}</channel></rss>')


@pytest.mark.parametrize("include_cross,expect", [
    (True, ["new", "cross"]), (False, ["new"]),
], ids=["with-cross", "new-only"])
def test_replace_entries_are_never_new(server, make, cfg, include_cross, expect):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=rss_with(["new", "cross", "replace", "replace-cross"]))]
    cfg.sources.arxiv.include_cross = include_cross
    out = make().fetch_arxiv("cs.LG")
    assert [p.announce_type for p in out.papers] == expect
    assert out.not_new == 4 - len(expect) and out.skipped == []


def test_arxiv_feed_error_is_a_failure(server, make):
    body = '<rss version="2.0"><channel><title>Feed error for query: cs.XX</title></channel></rss>'
    server.routes["/arxiv/rss/cs.XX"] = [Reply(400, body, ctype="application/rss+xml")]
    out = make().fetch_arxiv("cs.XX")
    assert not out.ok and out.status == 400 and "Feed error for query: cs.XX" in out.error


def test_arxiv_requests_are_paced_three_seconds_apart(server, make, fake_time):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG)]
    server.routes["/arxiv/rss/cs.AI"] = [Reply(body=RSS_LG)]
    f = make()
    f.fetch_arxiv("cs.LG")
    f.fetch_arxiv("cs.AI")
    fake_time.now += 1.0                       # 1 s of work before the next request
    f.fetch_arxiv("cs.LG")
    assert fake_time.sleeps == [3.0, 2.0]


def test_hf_pace_is_separate_from_arxiv(server, make, cfg, fake_time):
    server.routes[API] = [Reply(body="[]")]
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG)]
    cfg.sources.hf_daily.min_interval_seconds = 0.5
    f = make()
    f.fetch_arxiv("cs.LG")
    f.fetch_hf_day(DAY)
    f.fetch_hf_day(DAY)
    assert fake_time.sleeps == [0.5]


# ---------------------------------------------------------------- helpers

def test_a_fetch_names_twenty_malformed_items_then_how_many_more():
    out = FetchOutcome("hf_daily", DAY, True, papers=Papers(skipped=[f"HF item {n}: no id" for n in range(1, 26)]))
    assert out.skipped_named.split("; ")[-2:] == ["HF item 20: no id", "5 more"]
    assert FetchOutcome("hf_daily", DAY, True).skipped_named is None


@freeze_time("2026-08-03 12:00:00")
def test_retry_after_http_date_is_relative_to_now():
    import httpx
    from datetime import datetime, timezone
    headers = httpx.Headers({"Retry-After": "Mon, 03 Aug 2026 12:01:30 GMT"})
    assert retry_after_seconds(headers, datetime.now(timezone.utc)) == 90.0


def test_user_agent_names_project_url_and_contact():
    assert user_agent("ops@example.org", "https://example.org/dn") == \
        "digest-notifier/0.1.0 (+https://example.org/dn; ops@example.org)"


D = date
DIGEST_DAYS = [
    ("hf_daily", None, D(2026, 8, 3), 7, [D(2026, 8, 3)]),
    ("hf_daily", D(2026, 8, 3), D(2026, 8, 3), 7, [D(2026, 8, 3)]),
    ("hf_daily", D(2026, 7, 31), D(2026, 8, 3), 7,
     [D(2026, 7, 31), D(2026, 8, 1), D(2026, 8, 2), D(2026, 8, 3)]),
    ("hf_daily", D(2026, 7, 1), D(2026, 8, 3), 3, [D(2026, 8, 1), D(2026, 8, 2), D(2026, 8, 3)]),
    ("arxiv:cs.LG", D(2026, 7, 31), D(2026, 8, 3), 7, [D(2026, 8, 3)]),
    ("arxiv:cs.LG", D(2026, 8, 3), D(2026, 8, 3), 7, []),
    ("arxiv:cs.LG", D(2026, 7, 31), D(2026, 8, 1), 7, []),
    ("arxiv:cs.LG", None, D(2026, 8, 2), 7, []),
]


@pytest.mark.parametrize("source,last,today,max_days,expect", DIGEST_DAYS, ids=[
    "hf-first-run", "hf-same-day-rereads", "hf-weekend-included-and-last-day-reread",
    "hf-bounded-by-max-days", "arxiv-monday-due", "arxiv-already-read-today",
    "arxiv-saturday-nothing-new", "arxiv-sunday-first-run"])
def test_digest_days(source, last, today, max_days, expect):
    assert digest_days(source, last, today, max_days) == expect


@pytest.mark.parametrize("last,expect", [
    (None, []), (D(2026, 7, 27), []), (D(2026, 7, 26), [D(2026, 7, 27)]),
    (D(2026, 7, 19), [D(2026, 7, 20) + timedelta(days=n) for n in range(8)]),
], ids=["first-run", "within-max-days", "one-day-beyond", "eight-days-beyond"])
def test_days_beyond_catchup_are_exactly_those_digest_days_leaves_out_after_the_last_success(last, expect):
    today = D(2026, 8, 3)
    assert days_beyond_catchup(last, today, 7) == expect
    fetched = set(digest_days("hf_daily", last, today, 7)) | set(expect)
    assert last is None or fetched >= {last + timedelta(days=n) for n in range(1, (today - last).days + 1)}


@pytest.mark.parametrize("key, low, high", [("max_response_bytes", 1000, 1000000000), ("max_items_per_day", 1, 1000000)])
def test_a_bound_below_its_range_is_a_config_error_naming_the_key(tmp_path, key, low, high):
    from notifier.config import load_config
    from notifier.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text(f"[sources]\n{key} = 0\n")
    with pytest.raises(ConfigError) as e:
        load_config(path, env={})
    assert str(e.value) == f"{path}: line 2: 'sources.{key}' must be between {low} and {high}, not 0"


def test_a_response_still_trickling_in_past_the_total_timeout_is_abandoned_and_retried(server, make, cfg):
    server.routes[API] = [Reply(body=" ", chunks=400, gap=0.02)]    # a byte at a time: 8 s an answer
    cfg.sources.total_timeout_seconds, cfg.sources.max_attempts = 5, 2
    ticks = itertools.count()                                      # each look at the timer is 1 s later
    out = make(hf_fallback_html=False, timer=lambda: float(next(ticks))).fetch_hf_day(DAY)
    assert not out.ok and out.papers == [] and len(server.requests) == 2
    assert out.error == (f"GET {server.url}/api/daily_papers failed after 2 attempts: ReadTimeout: response still arriving "
                         "after sources.total_timeout_seconds = 5 s; abandoned")
    assert server.chunks_sent < 40


def test_a_step_of_the_wall_clock_during_a_request_does_not_cut_the_answer_short(server, make, cfg):
    """The total timeout is measured on a monotonic timer, not on the wall clock the shared turns
    need: an NTP step forward while a healthy answer arrived abandoned it as "still arriving"."""
    server.routes[API] = [Reply(body=items(3))]
    cfg.sources.total_timeout_seconds, cfg.sources.max_attempts = 5, 1
    looks = itertools.count()                                      # the wall clock an hour later at each look
    out = make(hf_fallback_html=False, clock=lambda: 1_780_000_000.0 + 3600.0 * next(looks)).fetch_hf_day(DAY)
    assert out.ok and len(out.papers) == 3 and len(server.requests) == 1


class Stalling:
    """A server on 127.0.0.1 that accepts every connection and then never completes its headers:
    ``trickle`` sends a header line every 50 ms (each read well within timeout_seconds), else
    nothing at all. Connections are dropped after 6 s at most so a test never hangs."""

    def __init__(self, trickle: bool):
        import socket

        self.trickle, self.accepted, self.stop = trickle, 0, threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self.stall, args=(conn,), daemon=True).start()

    def stall(self, conn):
        with conn:
            if self.trickle:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(120):
                if self.stop.wait(0.05):
                    return
                if self.trickle:
                    try:
                        conn.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        return

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickling headers"])
def test_a_server_that_never_completes_its_headers_hits_the_total_timeout_and_is_retried(cfg, trickle):
    """The deadline covers the whole answer, headers included: a server that accepts and then
    stalls (or sends its headers a line at a time) is abandoned at total_timeout_seconds,
    retried, and reported; never an empty day. Each read alone is well within timeout_seconds."""
    stalling = Stalling(trickle)
    cfg.sources.hf_daily.base_url = stalling.url
    cfg.sources.timeout_seconds, cfg.sources.total_timeout_seconds, cfg.sources.max_attempts = 5.0, 0.3, 2
    try:
        with Fetcher.from_config(cfg, sleep=lambda s: None, hf_fallback_html=False) as fetcher:
            out = fetcher.fetch_hf_day(DAY)
    finally:
        stalling.close()
    assert not out.ok and out.papers == [] and stalling.accepted == 2
    assert out.error == (f"GET {stalling.url}/api/daily_papers failed after 2 attempts: ReadTimeout: response still "
                         "arriving after sources.total_timeout_seconds = 0.3 s; abandoned")
