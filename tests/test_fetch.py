"""Fetch stage against a real HTTP server on 127.0.0.1 serving scripted responses.
Time is fake: the fetcher's sleep and clock are injected, so no test waits for a backoff."""
from __future__ import annotations

import json
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from freezegun import freeze_time

from notifier.fetch import Fetcher, digest_days, retry_after_seconds, user_agent

FIX = Path(__file__).parent / "fixtures"
HF_3 = (FIX / "hf/hf_daily_papers_api_2026-08-03_3items.json").read_text(encoding="utf-8")
RSS_LG = (FIX / "arxiv/arxiv_rss_cs.LG_2026-04-27.xml").read_text(encoding="utf-8")
ATOM_ID = (FIX / "arxiv/arxiv_api_query_2020-09-04_legacy_format_id_list.atom").read_text(encoding="utf-8")
DAY = date(2026, 8, 3)
API = "/api/daily_papers?date=2026-08-03&limit=100"


class Reply:
    def __init__(self, status=200, body="", headers=None, delay=0.0, truncate=False,
                 ctype="application/json"):
        self.status, self.body, self.delay, self.truncate = status, body, delay, truncate
        self.headers = {"Content-Type": ctype} | (headers or {})


class Server:
    """Routes map 'path?query' to a list of Replies, served in order (the last one repeats)."""

    def __init__(self):
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                script = outer.routes.get(self.path) or [Reply(404, "not found", ctype="text/plain")]
                reply = script.pop(0) if len(script) > 1 else script[0]
                time.sleep(reply.delay)
                body = reply.body.encode("utf-8")
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2] if reply.truncate else body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
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
    def __init__(self):
        self.now, self.sleeps = 0.0, []

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
def make(server, fake_time):
    made = []

    def factory(**kw):
        args = dict(hf_base_url=server.url, arxiv_base_url=server.url + "/arxiv",
                    arxiv_api_url=server.url + "/api/query", contact="ops@example.org",
                    timeout=2.0, max_attempts=4, hf_min_interval=0, arxiv_min_interval=3.0,
                    sleep=fake_time.sleep, clock=fake_time.clock, jitter=lambda lo, hi: hi) | kw
        f = Fetcher(**args)
        made.append(f)
        return f
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
    assert out.ok and out.via == "api" and out.status == 200
    assert [p.arxiv_id for p in out.papers] == ["2607.26654", "2607.28229", "2607.27851"]
    assert [p.upvotes for p in out.papers] == [3, 4, 2]


def test_user_agent_and_hf_token_are_sent(server, make):
    server.routes[API] = [Reply(body="[]")]
    make(hf_token="hf_secret").fetch_hf_day(DAY)
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


def test_retry_after_is_capped(server, make, fake_time):
    server.routes[API] = [Reply(503, "", {"Retry-After": "86400"}), Reply(body="[]")]
    assert make(max_retry_after_seconds=600).fetch_hf_day(DAY).ok
    assert fake_time.sleeps == [600.0]


def test_500_twice_then_200_backs_off_exponentially(server, make, fake_time):
    server.routes[API] = [Reply(500, "oops"), Reply(500, "oops"), Reply(body=HF_3)]
    out = make(backoff_base_seconds=2.0).fetch_hf_day(DAY)
    assert out.ok and len(out.papers) == 3
    assert fake_time.sleeps == [2.0, 4.0]          # jitter pinned to its upper bound


def test_persistent_500_fails_with_reason_after_max_attempts(server, make):
    server.routes[API] = [Reply(500, "oops")]
    out = make(max_attempts=3, hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and out.papers == [] and out.status == 500
    assert "failed after 3 attempts: HTTP 500" in out.error
    assert server.paths() == [API] * 3


def test_404_is_not_retried(server, make):
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and out.status == 404 and server.paths() == [API]


def test_timeout_is_retried_then_fails(server, make):
    server.routes[API] = [Reply(body="[]", delay=0.6)]
    out = make(timeout=0.2, max_attempts=2, hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "ReadTimeout" in out.error and len(server.requests) == 2


def test_truncated_body_is_a_failure_not_an_empty_day(server, make):
    server.routes[API] = [Reply(body=HF_3, truncate=True)]
    out = make(max_attempts=2, hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and out.papers == [] and "failed after 2 attempts" in out.error


def test_html_error_page_where_json_expected_is_a_failure(server, make):
    server.routes[API] = [Reply(body="<!DOCTYPE html><html><body>Oops</body></html>", ctype="text/html")]
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "HTML page where JSON was expected" in out.error


def test_error_object_is_a_failure_not_an_empty_day(server, make):
    server.routes[API] = [Reply(body='{"error": "Invalid date"}')]
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "Invalid date" in out.error


def test_api_failure_falls_back_to_the_html_day_page(server, make):
    server.routes[API] = [Reply(body='{"error": "down"}')]
    page = (FIX / "hf/hf_day_page_2026-08-03_built.html").read_text(encoding="utf-8")
    server.routes["/papers/date/2026-08-03"] = [Reply(body=page, ctype="text/html")]
    out = make().fetch_hf_day(DAY)
    assert out.ok and out.via == "html" and len(out.papers) == 3
    assert out.papers[0].authors[1] == "Zoë Ñúñez-Kowalski"


def test_both_api_and_html_failing_reports_both_reasons(server, make):
    server.routes[API] = [Reply(body='{"error": "down"}')]
    server.routes["/papers/date/2026-08-03"] = [Reply(body="<html><body>Nothing</body></html>", ctype="text/html")]
    out = make().fetch_hf_day(DAY)
    assert not out.ok and "API: HF API returned an error: down" in out.error
    assert "HTML page: HF page has no DailyPapers data" in out.error


def test_missing_required_field_is_a_failure(server, make):
    server.routes[API] = [Reply(body='[{"paper": {"id": "2608.00001"}}]')]
    out = make(hf_fallback_html=False).fetch_hf_day(DAY)
    assert not out.ok and "has no title" in out.error


# ---------------------------------------------------------------- arXiv

def test_arxiv_rss_200_keeps_validators_and_papers(server, make):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG, ctype="application/rss+xml", headers={"ETag": "abc123"})]
    out = make().fetch_arxiv("cs.LG", today=date(2026, 4, 27))
    assert out.ok and not out.not_modified and out.etag == "abc123"
    assert [p.arxiv_id for p in out.papers] == ["2604.21952", "2604.21953", "2604.21956"]
    assert {p.source for p in out.papers} == {"arxiv:cs.LG"}


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
def test_replace_entries_are_never_new(server, make, include_cross, expect):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=rss_with(["new", "cross", "replace", "replace-cross"]))]
    out = make(include_cross=include_cross).fetch_arxiv("cs.LG")
    assert [p.announce_type for p in out.papers] == expect
    assert out.skipped == 4 - len(expect)


def test_arxiv_feed_error_is_a_failure(server, make):
    body = '<rss version="2.0"><channel><title>Feed error for query: cs.XX</title></channel></rss>'
    server.routes["/arxiv/rss/cs.XX"] = [Reply(400, body, ctype="application/rss+xml")]
    out = make().fetch_arxiv("cs.XX")
    assert not out.ok and out.status == 400 and "Feed error for query: cs.XX" in out.error


def test_one_failing_category_does_not_stop_the_others(server, make):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG)]
    outs = make(categories=["cs.XX", "cs.LG"]).fetch_arxiv_all()
    assert [o.ok for o in outs] == [False, True] and len(outs[1].papers) == 3


def test_arxiv_requests_are_paced_three_seconds_apart(server, make, fake_time):
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG)]
    server.routes["/arxiv/rss/cs.AI"] = [Reply(body=RSS_LG)]
    server.routes["/api/query?id_list=1601.00001&max_results=1"] = [Reply(body=ATOM_ID)]
    f = make(categories=["cs.LG", "cs.AI"])
    f.fetch_arxiv_all()
    fake_time.now += 1.0                       # 1 s of work before the next request
    assert f.lookup_arxiv_ids(["1601.00001"]).ok
    assert fake_time.sleeps == [3.0, 2.0]      # the RSS and API hosts share one arXiv pace


def test_hf_pace_is_separate_from_arxiv(server, make, fake_time):
    server.routes[API] = [Reply(body="[]")]
    server.routes["/arxiv/rss/cs.LG"] = [Reply(body=RSS_LG)]
    f = make(hf_min_interval=0.5)
    f.fetch_arxiv("cs.LG")
    f.fetch_hf_day(DAY)
    f.fetch_hf_day(DAY)
    assert fake_time.sleeps == [0.5]


def test_arxiv_id_lookup_parses_atom(server, make):
    server.routes["/api/query?id_list=1601.00001&max_results=1"] = [Reply(body=ATOM_ID)]
    out = make().lookup_arxiv_ids(["1601.00001"])
    assert out.ok and out.papers[0].title == "Inelastic effects in molecular transport junctions: The probe technique at high bias"


def test_arxiv_id_lookup_empty_answer_is_a_failure(server, make):
    empty = '<feed xmlns="http://www.w3.org/2005/Atom"><title>arXiv Query</title></feed>'
    server.routes["/api/query?id_list=2601.00001&max_results=1"] = [Reply(body=empty)]
    out = make().lookup_arxiv_ids(["2601.00001"])
    assert not out.ok and "no entries" in out.error


# ---------------------------------------------------------------- helpers

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
    ("hf_daily", None, D(2026, 8, 3), 0, []),
]


@pytest.mark.parametrize("source,last,today,max_days,expect", DIGEST_DAYS, ids=[
    "hf-first-run", "hf-same-day-rereads", "hf-weekend-included-and-last-day-reread",
    "hf-bounded-by-max-days", "arxiv-monday-due", "arxiv-already-read-today",
    "arxiv-saturday-nothing-new", "arxiv-sunday-first-run", "max-days-zero"])
def test_digest_days(source, last, today, max_days, expect):
    assert digest_days(source, last, today, max_days) == expect
