"""Fetch stage: the only module here that talks HTTP. Pages in, ``FetchOutcome`` out.

Etiquette (docs/SOURCES.md says why):
- one ``httpx.Client`` with explicit timeouts and an honest User-Agent naming a contact;
- retries on transport errors, 408, 429, 500, 502, 503, 504 (never other 4xx), at most
  ``max_attempts``; the delay is ``Retry-After`` (seconds or HTTP date) or HF's
  ``RateLimit: ...;t=<s>``, else exponential backoff with full jitter
  ``uniform(0, min(cap, base * 2**n))``; a host no connection could be made to (no DNS,
  refused, no route) is not asked again in the same fetch cycle (``new_cycle``);
- a ``Retry-After`` holds every request to that host group, the next source's too, not only the
  retry; one longer than ``max_retry_after_seconds`` is not waited out (it would hold the
  daemon's one worker) nor cut short (asking early earns another 429): the fetch fails at once,
  naming the time the host may be asked again, and until then no request goes to it;
- a per-host-group pace: every arXiv host shares one gap of ``[sources.arxiv]
  min_interval_seconds`` (3 s, the arXiv terms count all our machines as one), HF hosts
  ``[sources.hf_daily] min_interval_seconds``; the client is synchronous, so there is never more
  than one connection in flight;
- given the store (``hosts``), the pace and the Retry-After are kept there (``notifier.pace``):
  every worker on the database takes its turns from one queue per host group, and keeps from
  its next request a Retry-After another worker or an earlier `notifier run` was answered;
- conditional GET with the stored validators; a 304, or a 200 whose ETag equals the stored one
  (arXiv's origin never answers 304 itself), is ``not_modified``: keep what is stored.

Bounded work: a body is streamed and reading stops past ``max_response_bytes``; a day with more
than ``max_items_per_day`` items is refused. Both are failures naming the key to raise. A response
still arriving ``total_timeout_seconds`` after its request was sent is abandoned, headers
included (``_Watchdog`` cuts a read that blocks; the body is also checked as each piece
arrives): a server that accepts and never answers, or trickles a byte every few seconds, cannot
hold the fetch, and the daemon's one worker, for hours. That is a timeout like any other,
retried up to ``max_attempts``.

Given a ``stop`` event (the daemon's), every wait (pacing, backoff) ends as soon as it is set and
no request starts after it: the fetch fails at once with ``STOPPING`` instead of holding a stop or
reload for the minutes of a Retry-After.

A failure is never an empty success: errors, HTML where JSON was expected, truncated bodies and
pages that miss required fields come back as ``ok=False`` with a one-line ``error``.
"""
from __future__ import annotations

import logging
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Callable
from urllib.parse import urlsplit

import httpx

from notifier import __version__
from notifier.config import Config, Sources, read_secret
from notifier.errors import FetchError, HeldOff, ParseError
from notifier.logs import event
from notifier.pace import OwnPaces, Turn
from notifier.parse import Papers, html_title, parse_arxiv_rss, parse_hf_api, parse_hf_html

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
HF_PAGE_LIMIT = 100
HF_MAX_PAGES = 20
SKIPPED_NAMED = 20          # malformed items a fetch's log line names, with their reasons
_FRAMING = ("content-encoding", "content-length", "transfer-encoding")   # of the wire body, not the decoded one
_RATELIMIT_T = re.compile(r";\s*t=(\d+)")
STOPPING = "not fetched: the daemon is stopping"


@dataclass
class FetchOutcome:
    """One source/day attempt. ``papers`` is the complete list when ``ok``; empty otherwise."""

    source: str                          # "hf_daily", "arxiv:cs.LG"
    day: date | None
    ok: bool
    status: int | None = None            # last HTTP status seen
    papers: Papers = field(default_factory=Papers)
    not_modified: bool = False           # keep what is stored; validators unchanged
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None             # one line, when not ok
    url: str = ""
    not_new: int = 0                     # arXiv RSS items not counted as new (replace, ...)

    @property
    def skipped(self) -> list[str]:
        """Why each malformed item was left out."""
        return self.papers.skipped

    @property
    def skipped_named(self) -> str | None:
        """The malformed items and why, for one log line: the first SKIPPED_NAMED, then how many more."""
        named = self.skipped[:SKIPPED_NAMED]
        more = len(self.skipped) - len(named)
        return "; ".join(named + ([f"{more} more"] if more else [])) or None


def user_agent(contact: str, project_url: str | None = None) -> str:
    """``digest-notifier/<version> (+<project url>; <contact>)``; the URL only when given."""
    parts = [f"+{project_url}"] if project_url else []
    return f"digest-notifier/{__version__} ({'; '.join(parts + [contact])})"


def retry_after_seconds(headers: httpx.Headers, now: datetime) -> float | None:
    """``Retry-After`` (delay-seconds or HTTP date) or HF's ``RateLimit ...;t=<s>``; None if absent."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError):
            pass
    m = _RATELIMIT_T.search(headers.get("ratelimit", ""))
    return float(m.group(1)) if m else None


def _looks_like_html(resp: httpx.Response) -> bool:
    ctype = resp.headers.get("content-type", "")
    return "html" in ctype or resp.text.lstrip()[:15].lower().startswith(("<!doctype", "<html"))


def _html_instead(resp: httpx.Response, expected: str) -> FetchError:
    """An HTML page (an error, captcha or maintenance page) where ``expected`` was: named by its title."""
    title = html_title(resp.text)
    return FetchError(f"GET {resp.url} returned an HTML page{f' ({title!r})' if title else ''} where {expected} "
                      "was expected", status=resp.status_code)


class Fetcher:
    """HTTP for every source. Use as a context manager, or call ``close()``."""

    def __init__(self, sources: Sources | None = None, *, contact: str = "", project_url: str | None = None,
                 hf_token: str | None = None, hf_fallback_html: bool = True, backoff_base_seconds: float = 1.0,
                 backoff_cap_seconds: float = 300.0, max_retry_after_seconds: float = 600.0,
                 client: httpx.Client | None = None, sleep=time.sleep, clock=None, timer=time.monotonic,
                 jitter=random.uniform, stop: threading.Event | None = None, hosts=None):
        """``clock``: the time in seconds since the epoch (default ``time.time``), the wall clock
        other workers share, for turns and Retry-After holds; ``timer``: the clock a request's
        total_timeout_seconds is measured on, which a step of the wall clock does not move;
        ``hosts``: the store, where the host groups' turns and Retry-After holds are shared with
        every fetcher on the database (``notifier.pace``)."""
        s = sources or Sources()
        self.hf_base_url = s.hf_daily.base_url.rstrip("/")
        self.arxiv_base_url = s.arxiv.base_url.rstrip("/")
        self.include_cross = s.arxiv.include_cross
        self.hf_token = hf_token
        self.max_attempts = max(1, s.max_attempts)
        self.max_response_bytes, self.max_items_per_day = s.max_response_bytes, s.max_items_per_day
        self.total_timeout_seconds = s.total_timeout_seconds
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self.hf_fallback_html = hf_fallback_html
        self.sleep, self.clock, self.jitter = (stop.wait if stop is not None else sleep), clock or time.time, jitter
        self.timer = timer
        self.stop = stop
        self._intervals = {"hf": s.hf_daily.min_interval_seconds, "arxiv": s.arxiv.min_interval_seconds}
        prefixes = {self.hf_base_url: "hf", self.arxiv_base_url: "arxiv", s.arxiv.api_url: "arxiv"}
        self._groups = sorted(prefixes.items(), key=lambda kv: -len(kv[0]))   # longest first
        self.hosts = hosts if hosts is not None else OwnPaces()
        self._unreachable: dict[str, httpx.ConnectError] = {}    # host -> why no connection was made, this cycle
        self._socket = None        # of the client's one connection (max_connections=1), for _Watchdog
        self._own_client = client is None
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(s.timeout_seconds, connect=min(s.timeout_seconds, 10.0)), follow_redirects=True,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        self.client.headers["User-Agent"] = user_agent(contact or "no contact configured", project_url)

    @classmethod
    def from_config(cls, config: Config, **options) -> Fetcher:
        """The fetcher ``config`` describes: its sources, contact and HF token (read from the
        environment or a systemd credential). ``options`` are the keyword arguments above."""
        return cls(config.sources, contact=config.general.contact,
                   hf_token=read_secret(config.sources.hf_daily.token_env), **options)

    def new_cycle(self) -> None:
        """Ask again the hosts no connection could be made to: a fetch cycle asks each at most once."""
        self._unreachable.clear()

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ HTTP core

    def _group(self, url: str) -> str:
        """The pacing group of a URL: "hf", "arxiv" (RSS and API share one), else its host."""
        return next((g for prefix, g in self._groups if url.startswith(prefix)), urlsplit(url).netloc)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc)

    def _pace(self, url: str) -> None:
        """Wait for the request's turn in its host group (``notifier.pace``: the group's gap since
        the turn before, any fetcher's on the store, and its Retry-After); a Retry-After ending
        later than a fetch waits (``max_retry_after_seconds``) refuses the request."""
        group, now = self._group(url), self._now()
        turn = self.hosts.take_turn(group, now, self._intervals.get(group, 0.0), self._latest(now))
        if not turn.granted:
            raise self._held_off(url, turn)
        wait = (turn.at - now).total_seconds()
        if wait > 0:
            self.sleep(wait)

    def _hold(self, url: str, resp: httpx.Response, problem: str) -> float | None:
        """Record a retryable answer's Retry-After for its whole host group (every fetcher on the
        store keeps it from its next turn); -> its seconds, None without one. A hold the next turn
        would refuse (``_pace``) fails the request now, the last attempt's too: no retry is logged
        that will not happen, and the error names when the host may be asked again."""
        now = self._now()
        after = retry_after_seconds(resp.headers, now)
        if after is not None:
            pace = self.hosts.hold_host(self._group(url), now + timedelta(seconds=after), problem, resp.status_code)
            refused = pace.refusal(self._latest(now))
            if refused:
                raise self._held_off(url, refused)
        return after

    def _latest(self, now: datetime) -> datetime:
        """The latest end of a Retry-After that a request waits for (``max_retry_after_seconds``)."""
        return now + timedelta(seconds=self.max_retry_after_seconds)

    def _held_off(self, url: str, refused: Turn) -> HeldOff:
        return HeldOff(f"{urlsplit(url).netloc} answered {refused.problem} with a Retry-After until "
                       f"{refused.at:%Y-%m-%d %H:%M} UTC, longer than a fetch waits "
                       f"({self.max_retry_after_seconds:g} s): GET {url} is not asked again before then",
                       status=refused.status)

    def _before_retry(self, url: str, attempt: int, problem: str, held: float | None) -> None:
        """Wait before attempt ``attempt + 2``; a Retry-After (``held`` seconds) is waited for by
        the next turn instead (``_pace``)."""
        delay = self._backoff(attempt, held)
        event(log, "fetch retry", logging.WARNING, url=url, attempt=attempt + 1, error=problem, delay=round(delay, 1))
        if held is None:
            self.sleep(delay)

    def _backoff(self, attempt: int, held: float | None) -> float:
        """The Retry-After's seconds, else exponential backoff with full jitter."""
        if held is not None:
            return held
        return self.jitter(0, min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** attempt))

    def _send_once(self, url: str, params, headers) -> httpx.Response:
        self._pace(url)
        if self.stop is not None and self.stop.is_set():
            raise FetchError(f"GET {url} {STOPPING}")
        deadline = self.timer() + self.total_timeout_seconds
        with _Watchdog(self.total_timeout_seconds, lambda: self._socket) as watchdog:
            try:
                with self.client.stream("GET", url, params=params, headers=headers,
                                        extensions={"trace": self._trace}) as resp:
                    body = self._read_capped(resp, deadline)     # a truncated body raises here, inside the retry loop
            except httpx.TransportError as err:
                if watchdog.fired:
                    raise self._too_slow(err.request) from err
                raise
        framing = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _FRAMING]
        return httpx.Response(resp.status_code, headers=framing, content=body, request=resp.request)

    def _trace(self, name: str, info: dict) -> None:
        """httpcore's trace: the socket of each connection it opens (TLS wraps it in a new one)."""
        if name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self._socket = info["return_value"].get_extra_info("socket")

    def _too_slow(self, request: httpx.Request) -> httpx.ReadTimeout:
        return httpx.ReadTimeout(f"response still arriving after sources.total_timeout_seconds = "
                                 f"{self.total_timeout_seconds:g} s; abandoned", request=request)

    def _read_capped(self, resp: httpx.Response, deadline: float) -> bytes:
        """The decoded body; a FetchError (not retried) as soon as it passes max_response_bytes."""
        limit, declared = self.max_response_bytes, resp.headers.get("content-length", "")
        if not (declared.isdigit() and int(declared) > limit):
            chunks, size = [], 0
            for chunk in self._until(deadline, resp):
                size += len(chunk)
                if size > limit:
                    break
                chunks.append(chunk)
            else:
                return b"".join(chunks)
        raise FetchError(f"GET {resp.url} answered more than sources.max_response_bytes = {limit} bytes; "
                         "stopped reading", status=resp.status_code)

    def _until(self, deadline: float, resp: httpx.Response):
        """The body's pieces as they arrive; a ReadTimeout (retried) once ``deadline`` has passed."""
        for chunk in resp.iter_bytes():
            if self.timer() > deadline:
                raise self._too_slow(resp.request)
            yield chunk

    def get(self, url: str, *, params: dict | None = None, headers: dict | None = None) -> httpx.Response:
        """GET with pacing and retries. Returns any non-retryable response (2xx, 304, 4xx);
        raises FetchError when retries are exhausted. A host no connection could be made to (no
        DNS, refused, no route: not a 5xx) is not asked again until ``new_cycle``: arXiv's
        categories share one host, and each paid every attempt and its pacing."""
        host = urlsplit(url).netloc
        self._refuse_unreachable(url, host)
        problem, cause = "", None
        for attempt in range(self.max_attempts):
            held = None
            try:
                resp = self._send_once(url, params, headers)
                if resp.status_code not in RETRY_STATUSES:
                    return resp
                problem, status, cause = f"HTTP {resp.status_code}", resp.status_code, None
                held = self._hold(url, resp, problem)
            except httpx.TransportError as e:
                problem, status, cause = _problem(e), None, e
            if attempt + 1 < self.max_attempts:
                self._before_retry(url, attempt, problem, held)
        if isinstance(cause, httpx.ConnectError):
            self._unreachable[host] = cause
        attempts = f"{self.max_attempts} attempt{'s' if self.max_attempts != 1 else ''}"
        raise FetchError(f"GET {url} failed after {attempts}: {problem}", status=status) from cause

    def _refuse_unreachable(self, url: str, host: str) -> None:
        if host in self._unreachable:
            cause = self._unreachable[host]
            raise FetchError(f"GET {url} not tried: {host} could not be connected to earlier in this cycle "
                             f"({_problem(cause)})") from cause

    def _hf_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.hf_token}"} if self.hf_token else {}

    # ------------------------------------------------------------ Hugging Face

    def _hf_api_page(self, day: date, page: int) -> Papers:
        url = f"{self.hf_base_url}/api/daily_papers"
        params = {"date": day.isoformat(), "limit": HF_PAGE_LIMIT}
        if page:
            params["p"] = page
        resp = self.get(url, params=params, headers=self._hf_headers())
        if resp.status_code != 200:
            raise FetchError(f"GET {resp.url} returned HTTP {resp.status_code}", status=resp.status_code)
        if _looks_like_html(resp):
            raise _html_instead(resp, "JSON")
        return parse_hf_api(resp.text)

    def _hf_api_day(self, day: date) -> Papers:
        papers = Papers()
        for page in range(HF_MAX_PAGES):
            batch = self._hf_api_page(day, page)
            papers.extend(batch)
            papers.skipped.extend(batch.skipped)
            self._check_count(papers, f"HF API for {day}")
            if len(batch) + len(batch.skipped) < HF_PAGE_LIMIT:
                return papers.unique()
        raise FetchError(f"HF API for {day} still returned full pages after {HF_MAX_PAGES} pages")

    def _check_count(self, papers: Papers, what: str) -> None:
        count = len(papers) + len(papers.skipped)
        if count > self.max_items_per_day:
            raise FetchError(f"{what} returned {count} items, more than sources.max_items_per_day = "
                             f"{self.max_items_per_day}")

    def _hf_html_day(self, day: date) -> Papers:
        url = f"{self.hf_base_url}/papers/date/{day.isoformat()}"
        resp = self.get(url, headers=self._hf_headers())
        if resp.status_code != 200:
            raise FetchError(f"GET {url} returned HTTP {resp.status_code}", status=resp.status_code)
        papers = parse_hf_html(resp.text)
        self._check_count(papers, f"HF page of {day}")
        return papers

    def fetch_hf_day(self, day: date) -> FetchOutcome:
        """The whole HF Daily Papers list of ``day`` (API, else the HTML day page). HF sends no
        validators, so every call re-reads the day: late papers and new upvotes."""
        url = f"{self.hf_base_url}/api/daily_papers?date={day.isoformat()}"
        try:
            return self._hf_ok(day, self._hf_api_day(day), url)
        except (FetchError, ParseError) as api_err:
            if not self.hf_fallback_html or _unreachable(api_err) or isinstance(api_err, HeldOff):
                return _failed("hf_daily", day, url, api_err)       # logged once, as the source's failure
            event(log, "HF API failed", logging.ERROR, day=day, error=str(api_err))
            try:
                return self._hf_ok(day, self._hf_html_day(day), url)
            except (FetchError, ParseError) as html_err:
                event(log, "HF HTML fallback failed", logging.ERROR, day=day, error=str(html_err))
                return _failed("hf_daily", day, url, f"API: {api_err}; HTML page: {html_err}", _status(html_err))

    def _hf_ok(self, day: date, papers: Papers, url: str) -> FetchOutcome:
        papers = _unless_another_day(papers, day)
        for p in papers:
            p.digest_day = p.digest_day or day.isoformat()
            p.source = "hf_daily"
        return FetchOutcome("hf_daily", day, True, 200, papers, url=url)

    # ------------------------------------------------------------ arXiv

    def fetch_arxiv(self, category: str, *, today: date | None = None, etag: str | None = None,
                    last_modified: str | None = None) -> FetchOutcome:
        """The current RSS listing of one category: ``new`` (and ``cross`` if configured)."""
        source, url = f"arxiv:{category}", f"{self.arxiv_base_url}/rss/{category}"
        headers = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", last_modified)) if v}
        try:
            resp = self.get(url, headers=headers)
        except FetchError as e:
            return _failed(source, today, url, e, e.status)
        new_etag = resp.headers.get("etag") or etag
        new_lm = resp.headers.get("last-modified") or last_modified
        if resp.status_code == 304 or (resp.status_code == 200 and etag and resp.headers.get("etag") == etag):
            return FetchOutcome(source, today, True, resp.status_code, Papers(), True, new_etag, new_lm, url=url)
        return self._arxiv_listing(source, today, url, resp, new_etag, new_lm)

    def _arxiv_listing(self, source, today, url, resp, etag, last_modified) -> FetchOutcome:
        try:
            papers = parse_arxiv_rss(resp.text)     # a 400 "Feed error" body raises with its title
            self._check_count(papers, f"arXiv RSS {source}")
        except (ParseError, FetchError) as e:
            return _failed(source, today, url, _html_instead(resp, "an RSS feed") if _looks_like_html(resp) else e,
                           resp.status_code)
        if resp.status_code != 200:
            return _failed(source, today, url, f"HTTP {resp.status_code}", resp.status_code)
        _warn_if_earlier(source, today, papers)
        wanted = {"new", "cross"} if self.include_cross else {"new"}
        kept = Papers([p for p in papers if p.announce_type in wanted], papers.skipped)
        for p in kept:
            p.source = source
        return FetchOutcome(source, today, True, 200, kept, False, etag, last_modified, url=url,
                            not_new=len(papers) - len(kept))


def _warn_if_earlier(source: str, today: date | None, papers: Papers) -> None:
    """A listing of a day before ``today`` (its items' pubDate): the feed did not hold today's yet.
    Listings reach it around 04:00 UTC (docs/SOURCES.md), so a fetch before then stores each
    listing a day late, and the first one misses a listing: the operator should know."""
    days = {p.digest_day for p in papers if p.digest_day}
    if today is not None and days and max(days) < today.isoformat():
        event(log, "arXiv listing older than the day fetched", logging.WARNING, source=source, day=today,
              listing=max(days), text="the feed did not hold this day's listing yet (it arrives around 04:00 UTC): "
              "a [schedule] time after that fetches each listing on its own day")


def _unless_another_day(papers: Papers, day: date) -> Papers:
    """No papers when every one is of another Daily Papers day: HF answers a day it has not
    published (today's, early; a future one) with its latest list (docs/SOURCES.md), which is
    that day's, not ``day``'s, and is stored when a cycle re-reads that day (its last success)."""
    days = {p.digest_day for p in papers}
    if not papers or None in days or day.isoformat() in days:
        return papers
    event(log, "HF answered another day's list", logging.INFO, day=day, answered=",".join(sorted(days)),
          papers=len(papers))
    return Papers(skipped=papers.skipped)


def _problem(err: httpx.TransportError) -> str:
    return f"{type(err).__name__}: {err}".rstrip(": ")


def _unreachable(err: Exception) -> bool:
    """No connection to the host after every attempt (no DNS, refused, no route): its HTML page,
    on the same host, cannot be reached either, and asking would double the wait for nothing."""
    return isinstance(err.__cause__, httpx.ConnectError)


def _status(err: Exception) -> int | None:
    """The HTTP status behind an error: a ParseError came with a 200 (the source answered, badly)."""
    return 200 if isinstance(err, ParseError) else getattr(err, "status", None)


def _failed(source: str, day, url: str, err, status: int | None = None) -> FetchOutcome:
    status = status if status is not None else _status(err) if isinstance(err, Exception) else None
    return FetchOutcome(source, day, False, status, error=str(err), url=url)


# ---------------------------------------------------------------- catch-up

def digest_days(source: str, last_success: date | None, today: date, max_days: int) -> list[date]:
    """The digest days a run should fetch, oldest first.

    HF (``hf_daily``): every calendar day from the last successful day (re-read, because a day
    keeps growing after it was first read) to today included (read as it stands, and again on
    the next cycle), weekends too (they are legitimately empty, and reading them is cheap),
    bounded to the newest ``max_days`` (the pipeline passes ``max_catchup_days + 1``: today and
    the days caught up, so at least today).

    arXiv RSS (``arxiv:*``): the feed only holds the current listing, so at most ``[today]``.
    Listings are announced Sun-Thu 20:00 US Eastern and appear in the feed around 04:00 UTC
    Mon-Fri; on Saturday and Sunday (UTC) there is no new listing, so nothing is due. A listing
    missed during an outage cannot be recovered from RSS.
    """
    if source.startswith("arxiv"):
        due = today.weekday() < 5 and (last_success is None or last_success < today)
        return [today] if due else []
    start = today if last_success is None or last_success > today else last_success
    start = max(start, today - timedelta(days=max_days - 1))
    return [start + timedelta(days=n) for n in range((today - start).days + 1)]


def days_beyond_catchup(last_success: date | None, today: date, max_days: int) -> list[date]:
    """The HF days never fetched that ``digest_days`` leaves out after an outage longer than
    ``max_days``: from the day after the last success to the day before the newest ``max_days``."""
    if last_success is None:
        return []
    first, end = last_success + timedelta(days=1), today - timedelta(days=max_days)
    return [first + timedelta(days=n) for n in range((end - first).days + 1)]


class _Watchdog:
    """Ends a request still unanswered ``seconds`` after it started, wherever it blocks (the
    headers included: a server may accept and never answer, or send a header line every few
    seconds, each read within ``timeout_seconds``): it shuts the connection's socket
    (``current()``; the client keeps one connection, so a reused one is the last opened), the
    blocked read returns at once and the request fails; ``fired`` says why."""

    def __init__(self, seconds: float, current: Callable[[], socket.socket | None]):
        self.fired, self._current, self._done = False, current, threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        with self._done:
            if self._timer is None:                 # finished meanwhile
                return
            self.fired = True
            try:
                self._current().shutdown(socket.SHUT_RDWR)
            except (AttributeError, OSError):       # not connected yet (connect has its own timeout), or closed
                pass

    def __enter__(self) -> "_Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._done:
            self._timer.cancel()
            self._timer = None
