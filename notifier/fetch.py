"""Fetch stage: the only module here that talks HTTP. Pages in, ``FetchOutcome`` out.

Etiquette (../shared/docs/RELIABILITY.md §5, FORMATS.md §4):
- one ``httpx.Client`` with explicit timeouts and an honest User-Agent naming a contact;
- retries on transport errors, 408, 429, 500, 502, 503, 504 (never other 4xx), at most
  ``max_attempts``; the delay is ``Retry-After`` (seconds or HTTP date) or HF's
  ``RateLimit: ...;t=<s>``, capped at ``max_retry_after_seconds``, else exponential backoff with
  full jitter ``uniform(0, min(cap, base * 2**n))``;
- a per-host-group pace: every arXiv host shares one gap of ``arxiv_min_interval`` (3 s, the
  arXiv terms count all our machines as one), HF hosts ``hf_min_interval``; the client is
  synchronous, so there is never more than one connection in flight;
- conditional GET with the stored validators; a 304, or a 200 whose ETag equals the stored one
  (arXiv's origin never answers 304 itself), is ``not_modified``: keep what is stored.

A failure is never an empty success: errors, HTML where JSON was expected, truncated bodies and
pages that miss required fields come back as ``ok=False`` with a one-line ``error``.
"""
from __future__ import annotations

import json
import logging
import random
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from notifier import __version__
from notifier.errors import FetchError, ParseError
from notifier.models import Paper
from notifier.parse import parse_arxiv_atom, parse_arxiv_rss, parse_hf_api, parse_hf_html

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
HF_PAGE_LIMIT = 100
HF_MAX_PAGES = 20
ARXIV_ID_BATCH = 100
_RATELIMIT_T = re.compile(r";\s*t=(\d+)")


@dataclass
class FetchOutcome:
    """One source/day attempt. ``papers`` is the complete list when ``ok``; empty otherwise."""

    source: str                          # "hf_daily", "arxiv:cs.LG", "arxiv_api"
    day: date | None
    ok: bool
    status: int | None = None            # last HTTP status seen
    papers: list[Paper] = field(default_factory=list)
    not_modified: bool = False           # keep what is stored; validators unchanged
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None             # one line, when not ok
    url: str = ""
    via: str = ""                        # "api", "html" (fallback), "rss", "atom"
    skipped: int = 0                     # arXiv RSS items not counted as new (replace, ...)


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


class Fetcher:
    """HTTP for every source. Use as a context manager, or call ``close()``."""

    def __init__(self, *, hf_base_url: str = "https://huggingface.co",
                 arxiv_base_url: str = "https://rss.arxiv.org",
                 arxiv_api_url: str = "https://export.arxiv.org/api/query",
                 categories: list[str] | tuple[str, ...] = ("cs.LG",), include_cross: bool = True,
                 contact: str = "", project_url: str | None = None, timeout: float = 20.0,
                 max_attempts: int = 5, hf_min_interval: float = 0.5,
                 arxiv_min_interval: float = 3.0, hf_token: str | None = None,
                 backoff_base_seconds: float = 1.0, backoff_cap_seconds: float = 300.0,
                 max_retry_after_seconds: float = 600.0, hf_fallback_html: bool = True,
                 client: httpx.Client | None = None, sleep=time.sleep, clock=time.monotonic,
                 jitter=random.uniform):
        self.hf_base_url = hf_base_url.rstrip("/")
        self.arxiv_base_url = arxiv_base_url.rstrip("/")
        self.arxiv_api_url = arxiv_api_url
        self.categories = list(categories)
        self.include_cross = include_cross
        self.hf_token = hf_token
        self.max_attempts = max(1, max_attempts)
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self.hf_fallback_html = hf_fallback_html
        self.sleep, self.clock, self.jitter = sleep, clock, jitter
        self._intervals = {"hf": hf_min_interval, "arxiv": arxiv_min_interval}
        prefixes = {self.hf_base_url: "hf", self.arxiv_base_url: "arxiv", arxiv_api_url: "arxiv"}
        self._groups = sorted(prefixes.items(), key=lambda kv: -len(kv[0]))   # longest first
        self._last_request: dict[str, float] = {}
        self._own_client = client is None
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), follow_redirects=True,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        self.client.headers["User-Agent"] = user_agent(contact or "no contact configured", project_url)

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

    def _pace(self, url: str) -> None:
        group = self._group(url)
        interval = self._intervals.get(group, 0.0)
        last = self._last_request.get(group)
        if last is not None and interval > 0:
            wait = interval - (self.clock() - last)
            if wait > 0:
                self.sleep(wait)
        self._last_request[group] = self.clock()

    def _backoff(self, attempt: int, resp: httpx.Response | None) -> float:
        if resp is not None:
            after = retry_after_seconds(resp.headers, datetime.now(timezone.utc))
            if after is not None:
                return min(after, self.max_retry_after_seconds)
        return self.jitter(0, min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** attempt))

    def _send_once(self, url: str, params, headers) -> httpx.Response:
        self._pace(url)
        resp = self.client.get(url, params=params, headers=headers)
        resp.read()          # a truncated body raises here, inside the retry loop
        return resp

    def get(self, url: str, *, params: dict | None = None, headers: dict | None = None) -> httpx.Response:
        """GET with pacing and retries. Returns any non-retryable response (2xx, 304, 4xx);
        raises FetchError when retries are exhausted."""
        problem = ""
        for attempt in range(self.max_attempts):
            resp = None
            try:
                resp = self._send_once(url, params, headers)
                if resp.status_code not in RETRY_STATUSES:
                    return resp
                problem, status = f"HTTP {resp.status_code}", resp.status_code
            except httpx.TransportError as e:
                problem, status = f"{type(e).__name__}: {e}".rstrip(": "), None
            if attempt + 1 < self.max_attempts:
                delay = self._backoff(attempt, resp)
                log.warning("GET %s failed (%s); retry %d in %.1fs", url, problem, attempt + 1, delay)
                self.sleep(delay)
        raise FetchError(f"GET {url} failed after {self.max_attempts} attempts: {problem}", status=status)

    def _hf_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.hf_token}"} if self.hf_token else {}

    # ------------------------------------------------------------ Hugging Face

    def _hf_api_page(self, day: date, page: int) -> list[Paper]:
        url = f"{self.hf_base_url}/api/daily_papers"
        params = {"date": day.isoformat(), "limit": HF_PAGE_LIMIT}
        if page:
            params["p"] = page
        resp = self.get(url, params=params, headers=self._hf_headers())
        if resp.status_code != 200:
            raise FetchError(f"GET {resp.url} returned HTTP {resp.status_code}", status=resp.status_code)
        if _looks_like_html(resp):
            raise FetchError(f"GET {resp.url} returned an HTML page where JSON was expected", status=200)
        return parse_hf_api(resp.text)

    def _hf_api_day(self, day: date) -> list[Paper]:
        papers: list[Paper] = []
        for page in range(HF_MAX_PAGES):
            batch = self._hf_api_page(day, page)
            papers.extend(batch)
            if len(batch) < HF_PAGE_LIMIT:
                return _dedupe(papers)
        raise FetchError(f"HF API for {day} still returned full pages after {HF_MAX_PAGES} pages")

    def _hf_html_day(self, day: date) -> list[Paper]:
        url = f"{self.hf_base_url}/papers/date/{day.isoformat()}"
        resp = self.get(url, headers=self._hf_headers())
        if resp.status_code != 200:
            raise FetchError(f"GET {url} returned HTTP {resp.status_code}", status=resp.status_code)
        return parse_hf_html(resp.text)

    def fetch_hf_day(self, day: date) -> FetchOutcome:
        """The whole HF Daily Papers list of ``day`` (API, else the HTML day page). HF sends no
        validators (FORMATS §4), so every call re-reads the day: late papers and new upvotes."""
        url = f"{self.hf_base_url}/api/daily_papers?date={day.isoformat()}"
        try:
            return self._hf_ok(day, self._hf_api_day(day), url, "api")
        except (FetchError, ParseError) as api_err:
            log.error("HF API failed for %s: %s", day, api_err)
            if not self.hf_fallback_html:
                return _failed("hf_daily", day, url, api_err)
            try:
                return self._hf_ok(day, self._hf_html_day(day), url, "html")
            except (FetchError, ParseError) as html_err:
                log.error("HF HTML fallback failed for %s: %s", day, html_err)
                return _failed("hf_daily", day, url, f"API: {api_err}; HTML page: {html_err}")

    def _hf_ok(self, day: date, papers: list[Paper], url: str, via: str) -> FetchOutcome:
        for p in papers:
            p.digest_day = p.digest_day or day.isoformat()
            p.source = "hf_daily"
        return FetchOutcome("hf_daily", day, True, 200, papers, url=url, via=via)

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
            return FetchOutcome(source, today, True, resp.status_code, [], True, new_etag, new_lm, url=url, via="rss")
        return self._arxiv_listing(source, today, url, resp, new_etag, new_lm)

    fetch_arxiv_category = fetch_arxiv     # the name the pipeline calls

    def _arxiv_listing(self, source, today, url, resp, etag, last_modified) -> FetchOutcome:
        try:
            papers = parse_arxiv_rss(resp.text)     # a 400 "Feed error" body raises with its title
        except ParseError as e:
            return _failed(source, today, url, e, resp.status_code)
        if resp.status_code != 200:
            return _failed(source, today, url, f"HTTP {resp.status_code}", resp.status_code)
        wanted = {"new", "cross"} if self.include_cross else {"new"}
        kept = [p for p in papers if p.announce_type in wanted]
        for p in kept:
            p.source = source
        return FetchOutcome(source, today, True, 200, kept, False, etag, last_modified, url=url,
                            via="rss", skipped=len(papers) - len(kept))

    def fetch_arxiv_all(self, *, today: date | None = None, validators: dict | None = None) -> list[FetchOutcome]:
        """Every configured category; one failing does not stop the others.
        ``validators`` maps category -> (etag, last_modified)."""
        validators = validators or {}
        return [self.fetch_arxiv(c, today=today, etag=validators.get(c, (None, None))[0],
                                 last_modified=validators.get(c, (None, None))[1])
                for c in self.categories]

    def lookup_arxiv_ids(self, ids: list[str]) -> FetchOutcome:
        """Metadata for ``ids`` from the arXiv API (enrichment, catch-up), in batches."""
        papers: list[Paper] = []
        for start in range(0, len(ids), ARXIV_ID_BATCH):
            batch = ids[start:start + ARXIV_ID_BATCH]
            try:
                papers.extend(self._arxiv_api_batch(batch))
            except (FetchError, ParseError) as e:
                return _failed("arxiv_api", None, self.arxiv_api_url, e, getattr(e, "status", None))
        return FetchOutcome("arxiv_api", None, True, 200, papers, url=self.arxiv_api_url, via="atom")

    def _arxiv_api_batch(self, ids: list[str]) -> list[Paper]:
        params = {"id_list": ",".join(ids), "max_results": len(ids)}
        resp = self.get(self.arxiv_api_url, params=params)
        papers = parse_arxiv_atom(resp.text)     # error entries raise with arXiv's message
        if resp.status_code != 200:
            raise FetchError(f"arXiv API returned HTTP {resp.status_code}", status=resp.status_code)
        if ids and not papers:
            raise FetchError(f"arXiv API returned no entries for {len(ids)} ids (overloaded?)")
        return papers


def _dedupe(papers: list[Paper]) -> list[Paper]:
    seen: dict[str, Paper] = {}
    for p in papers:
        seen.setdefault(p.arxiv_id, p)   # pages can shift while we read; first sighting wins
    return list(seen.values())


def _failed(source: str, day, url: str, err, status: int | None = None) -> FetchOutcome:
    status = status if status is not None else getattr(err, "status", None)
    return FetchOutcome(source, day, False, status, [], error=str(err), url=url)


# ---------------------------------------------------------------- catch-up

def digest_days(source: str, last_success: date | None, today: date, max_days: int) -> list[date]:
    """The digest days a run should fetch, oldest first.

    HF (``hf_daily``): every calendar day from the last successful day (re-read, because a day
    keeps growing after it was first read) to today, weekends included (they are legitimately
    empty, and reading them is cheap), bounded to the newest ``max_days``. Never fetched: today.

    arXiv RSS (``arxiv:*``): the feed only holds the current listing, so at most ``[today]``.
    Listings are announced Sun-Thu 20:00 US Eastern and appear in the feed around 04:00 UTC
    Mon-Fri; on Saturday and Sunday (UTC) there is no new listing, so nothing is due. A listing
    missed during an outage cannot be recovered from RSS (use ``lookup_arxiv_ids``).
    """
    if max_days < 1:
        return []
    if source.startswith("arxiv"):
        due = today.weekday() < 5 and (last_success is None or last_success < today)
        return [today] if due else []
    start = today if last_success is None or last_success > today else last_success
    start = max(start, today - timedelta(days=max_days - 1))
    return [start + timedelta(days=n) for n in range((today - start).days + 1)]
