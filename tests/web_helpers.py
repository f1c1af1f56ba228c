"""Shared by the web tests: an app on a temp database with stored papers, and mail readers."""
from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from notifier.parse import parse_hf_api

FIXTURE = Path(__file__).parent / "fixtures" / "hf" / "hf_daily_papers_api_2026-06-12.json"
SECRET = "test-signing-key-0123456789abcdef"
SLACK_SECRET = "slack-signing-secret"
PUBLIC = "https://papers.example.org"
ENV = {"NOTIFIER_WEB_SECRET": SECRET, "NOTIFIER_SLACK_SIGNING_SECRET": SLACK_SECRET}


def store_sample_papers(store) -> list:
    papers = parse_hf_api(FIXTURE.read_text(encoding="utf-8"))
    store.ingest(papers, source="hf_daily", digest_day="2026-06-12")
    return papers


def csrf_of(html: str) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', html).group(1)


def link_in(text: str, path: str) -> str:
    """The first http(s) link to /<path>/<token> in a message."""
    return re.search(rf"https?://\S+/{path}/[A-Za-z0-9._-]+", text).group(0)


def wait_until_up(base: str, proc) -> None:
    """Until `notifier web` started as ``proc`` answers at ``base``."""
    for _ in range(300):
        if proc.poll() is not None:
            raise AssertionError(f"notifier web exited: {proc.stdout.read().decode()}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("notifier web did not answer within 30 s")
