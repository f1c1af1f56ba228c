"""`notifier preview`: the digest a subscriber would get, before it is sent."""
from __future__ import annotations

import pytest

from web_helpers import PUBLIC, SECRET, store_sample_papers


@pytest.fixture
def web_cli(cli, tmp_path, monkeypatch):
    """`notifier` with the web set up ([web] public_url and its key), so that digests carry its links."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[web]\npublic_url = "{PUBLIC}"\n')
    monkeypatch.setenv("NOTIFIER_CONFIG", str(cfg))
    monkeypatch.setenv("NOTIFIER_WEB_SECRET", SECRET)
    return cli


@pytest.mark.parametrize("fmt", ["html", "text"])
def test_a_preview_has_no_browser_link_to_a_digest_not_sent_yet(web_cli, store, fmt):
    """Its "View this digest in your browser" named a page that answers 410 ("not stored here")
    until the digest is sent; the preview's other links (manage, votes) work, and stay."""
    store_sample_papers(store)
    web_cli("subscribe", "ada@example.org", "-k", '"speculative decoding", agents')
    code, out, err = web_cli("preview", "ada@example.org", "--date", "2026-06-12", "--format", fmt)
    assert code == 0, err
    assert f"{PUBLIC}/manage/" in out and f"{PUBLIC}/vote/" in out
    assert "browser" not in out.lower() and f"{PUBLIC}/digest/" not in out
