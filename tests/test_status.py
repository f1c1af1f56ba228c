"""`notifier status`: what it says about each source is true for the configuration it runs with."""
import re

import pytest

NOT_FETCHED = [
    ("hf_daily", "[sources.hf_daily]\nenabled = false\n", "[sources.hf_daily] enabled = false"),
    ("hf_daily", "[sources.hf_daily]\nmax_catchup_days = 0\n", "[sources.hf_daily] max_catchup_days = 0"),
    ("arxiv:cs.LG", "[sources.arxiv]\nenabled = false\n", "[sources.arxiv] enabled = false"),
    ("arxiv:cs.LG", '[sources.arxiv]\nenabled = true\ncategories = ["cs.CL"]\n', "not in [sources.arxiv] categories"),
]


def failed_fetch(store, source: str) -> None:
    run_id = store.start_fetch(source, "2026-06-12")
    store.finish_fetch(run_id, outcome="failed", error="HTTP 503", http_status=503)


@pytest.mark.parametrize("source,settings,why", NOT_FETCHED,
                         ids=["hf-disabled", "hf-max-catchup-days-0", "arxiv-disabled", "arxiv-category-removed"])
def test_a_failed_source_the_configuration_no_longer_fetches_is_named_not_failing(cli, store, tmp_path, source,
                                                                                settings, why):
    """It said FAILING and exited 3 for good: nothing would ever fetch it again to end that."""
    failed_fetch(store, source)
    config = tmp_path / "config.toml"
    config.write_text(settings)
    code, out, _ = cli("--config", str(config), "status")
    assert code == 0 and re.search(rf"{re.escape(source)} +last ok: never; not fetched: {re.escape(why)}\n", out), out


def test_a_failed_source_still_fetched_is_failing_and_asks_for_attention(cli, store, tmp_path):
    failed_fetch(store, "arxiv:cs.LG")
    config = tmp_path / "config.toml"
    config.write_text('[sources.arxiv]\nenabled = true\ncategories = ["cs.LG"]\n')
    code, out, _ = cli("--config", str(config), "status")
    assert code == 3 and re.search(r"arxiv:cs.LG +last ok: never; FAILING since \S+ \S+ UTC: HTTP 503\n", out), out
