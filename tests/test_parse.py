"""Parse stage: every real fixture, the built HF pages, and edge cases as tables."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from notifier.errors import ParseError
from notifier.parse import (detect_format, parse_arxiv_atom, parse_arxiv_rss, parse_hf_api,
                            parse_hf_html, parse_text, split_creators, split_id)

FIX = Path(__file__).parent / "fixtures"


def load(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


def by_id(papers):
    return {p.arxiv_id: p for p in papers}


# file, format, count, one arxiv_id, title start, first author, author count, upvotes,
# abstract start, abstract end (all read off the raw files by hand)
REAL = [
    ("hf/hf_daily_papers_api_2026-06-12.json", "hf_api", 30, "2606.13106",
     "Demystifying Hidden-State Recurrence: Sw", "Jiayu Yang", 9, 18,
     "Latent chain-of-thought compre", "del from the inside."),
    ("hf/hf_daily_papers_api_2026-08-03_3items.json", "hf_api", 3, "2607.27851",
     "Beyond Feeling Better: Capability-Sustai", "Ming Wang", 5, 2,
     "Emotional dialogue research in", "ion, and governance."),
    ("hf/hf_paper_page_2509.24002_prettified.html", "hf_html", 1, "2509.24002",
     "MCPMark: A Benchmark for Stress-Testing ", "Zijian Wu", 15, 118,
     "MCP standardizes how LLMs inte", "g nature of MCPMark."),
    ("arxiv/arxiv_rss_cs.LG_2026-04-27.xml", "arxiv_rss", 3, "2604.21956",
     "Conditional anomaly detection using soft", "Michal Valko", 5, None,
     "Timely detection of concerning", "baseline approaches."),
    ("arxiv/arxiv_rss_cs.AI_2026-04-27.xml", "arxiv_rss", 3, "2604.21937",
     "MolClaw: An Autonomous Agent with Hierar", "Lisheng Zhang", 17, None,
     "Computational drug discovery, ", "iven drug discovery."),
    ("arxiv/arxiv_api_query_2026-06-14_new_format.atom", "arxiv_atom", 5, "2606.13501",
     "GF-DiT: Scheduling Parallelism for Diffu", "Xinwei Qiang", 9, None,
     "Diffusion Transformers (DiTs) ", "proximately 60 $μ$s."),
    ("arxiv/arxiv_api_query_2026-04-30_new_format_20_entries.atom", "arxiv_atom", 20, "2604.26835",
     "HalluCiteChecker: A Lightweight Toolkit ", "Yusuke Sakai", 3, None,
     "We introduce HalluCiteChecker,", "vailable on YouTube."),
    ("arxiv/arxiv_api_query_2025-10-17_legacy_format.atom", "arxiv_atom", 2, "2510.14827",
     "Neural Implicit Flow Fields for Spatio-T", "Yufei Zhu", 6, None,
     "Safe and efficient robot opera", "man motion patterns."),
    ("arxiv/arxiv_api_query_2020-09-04_legacy_format_id_list.atom", "arxiv_atom", 1, "1601.00001",
     "Inelastic effects in molecular transport", "Michael Kilgour", 2, None,
     'We extend the Landauer-B\\"utti', "ar-from-equilibrium."),
    ("hf/hf_day_page_2026-08-03_built.html", "hf_html", 3, "2607.27851",
     "Beyond Feeling Better: Capability-Sustai", "Ming Wang", 5, 2,
     "Emotional dialogue research in", "ion, and governance."),
    ("hf/hf_search_page_built.html", "hf_html", 2, "2607.28229",
     "EMBL AI Librarian: Life-Sciences Knowled", "Luigi Sigillo", 12, 4,
     "The web is increasingly access", "etroni-lab/librarian"),
]


@pytest.mark.parametrize("name,fmt,count,pid,title,author,n_authors,upvotes,abs_start,abs_end",
                         REAL, ids=[r[0].split("/")[1] for r in REAL])
def test_every_fixture_parses_with_right_fields(name, fmt, count, pid, title, author, n_authors,
                                                upvotes, abs_start, abs_end):
    text = load(name)
    assert detect_format(text) == fmt
    papers = parse_text(text)
    assert len(papers) == count
    assert len(by_id(papers)) == count, "ids are unique"
    p = by_id(papers)[pid]
    assert p.title.startswith(title)
    assert p.authors[0] == author and len(p.authors) == n_authors
    assert p.upvotes == upvotes
    assert p.abstract.startswith(abs_start) and p.abstract.endswith(abs_end)
    for q in papers:
        assert q.title == " ".join(q.title.split()) and q.abstract == " ".join(q.abstract.split())
        assert "v" not in q.arxiv_id and q.url and q.authors


def test_hf_api_matches_raw_json_for_every_item():
    raw = json.loads(load("hf/hf_daily_papers_api_2026-06-12.json"))
    papers = parse_hf_api(load("hf/hf_daily_papers_api_2026-06-12.json"))
    for item, p in zip(raw, papers):
        assert p.arxiv_id == item["paper"]["id"]
        assert p.upvotes == item["paper"]["upvotes"]          # upvotes live on paper, not outer
        assert p.comments == item["numComments"]
        assert p.authors == [a["name"] for a in item["paper"]["authors"]]   # hidden ones kept
        assert p.digest_day == "2026-06-12"
        assert p.raw is item or p.raw == item


def test_hf_optional_fields_kept_in_extra_and_urls():
    p = by_id(parse_hf_api(load("hf/hf_daily_papers_api_2026-06-12.json")))["2606.12730"]
    assert p.code_url == "https://github.com/psychology-of-AI/Rethinking-Pyschometric-Eval-LLMs"
    assert p.extra["githubStars"] == 1 and p.extra["ai_summary"].startswith("Psychometric")
    assert "LLMs" in p.extra["ai_keywords"]
    assert p.published == "2026-06-10" and p.hf_url == "https://huggingface.co/papers/2606.12730"


def test_hf_detail_page_title_hard_wrap_collapsed():
    p = parse_text(load("hf/hf_paper_page_2509.24002_prettified.html"))[0]
    assert "MCP Use" in p.title and "\n" not in p.title


def test_built_day_page_decodes_entities_and_non_ascii():
    p = by_id(parse_hf_html(load("hf/hf_day_page_2026-08-03_built.html")))["2607.26654"]
    assert p.title.endswith('& <More> "Quoted" Wrapped')
    assert p.authors[1] == "Zoë Ñúñez-Kowalski"
    assert p.digest_day == "2026-08-03"


def test_cards_only_page_falls_back_and_logs_layout_drift(caplog):
    with caplog.at_level(logging.WARNING):
        papers = parse_text(load("hf/hf_day_page_cards_only_built.html"))
    assert [p.arxiv_id for p in papers] == ["2607.26654", "2607.28229", "2607.27851"]
    assert [p.upvotes for p in papers] == [3, 4, 2]
    assert papers[1].title == "EMBL AI Librarian: Life-Sciences Knowledge Layer for AI Agents"
    assert "layout drift" in caplog.text


def test_rss_strips_prefix_and_keeps_announce_type_and_categories():
    p = by_id(parse_arxiv_rss(load("arxiv/arxiv_rss_cs.LG_2026-04-27.xml")))["2604.21952"]
    assert p.abstract.startswith("This work presents") and "Announce Type" not in p.abstract
    assert p.announce_type == "new" and p.version == "v1"
    assert p.categories[:2] == ["cs.LG", "cs.AI"] and p.source == "arxiv:cs.LG"
    assert p.digest_day == "2026-04-27"
    assert "&amp;" not in p.abstract and "visual resolution & stride" in p.abstract


def test_atom_primary_category_first_and_extras():
    p = parse_arxiv_atom(load("arxiv/arxiv_api_query_2020-09-04_legacy_format_id_list.atom"))[0]
    assert p.extra.get("doi") and p.extra.get("journal_ref")
    assert p.published == "2015-12-26" and p.version == "v1"


# The entry of arXiv's own example in its atom_specifications.md (rss.arxiv.org/atom/<cat>), abstract shortened.
DAILY_ATOM = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><id>http://rss.arxiv.org/atom/</id>
<title>math.OC updates on arXiv.org</title><updated>2024-02-23T16:08:30.941605+00:00</updated>
<entry><id>oai:arXiv.org:2203.01250v3</id>
<title>Mass concentration in rescaled first order integral functionals</title>
<updated>2024-02-23T16:08:30.942190+00:00</updated>
<link href="https://arxiv.org/abs/2203.01250" rel="alternate" type="text/html"/>
<summary>arXiv:2203.01250v3 Announce Type: replace-cross \nAbstract: We consider first order local minimization
problems of the form $\\min \\int_{\\mathbb{R}^N}f(u,\\nabla u)$ under a mass constraint.</summary>
<category term="math.AP"/><category term="math.OC"/><published>2024-08-23T00:00:00-04:00</published>
<arxiv:announce_type>replace-cross</arxiv:announce_type><dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
<dc:creator>Antonin Monteil, Paul Pegon</dc:creator></entry></feed>"""


def test_arxiv_daily_atom_feed_reads_like_its_rss():
    [p] = parse_text(DAILY_ATOM)
    assert (p.arxiv_id, p.version, p.announce_type) == ("2203.01250", "v3", "replace-cross")
    assert p.abstract.startswith("We consider first order") and p.authors == ["Antonin Monteil", "Paul Pegon"]
    assert p.published == "2024-08-23" and p.categories == ["math.AP", "math.OC"]


def test_legacy_and_new_atom_give_same_shape():
    old = parse_arxiv_atom(load("arxiv/arxiv_api_query_2025-10-17_legacy_format.atom"))[0]
    new = parse_arxiv_atom(load("arxiv/arxiv_api_query_2026-06-14_new_format.atom"))[0]
    for p in (old, new):
        assert p.categories and p.pdf_url.startswith(("http://arxiv.org/pdf/", "https://arxiv.org/pdf/"))
        assert not p.abstract.startswith(" ") and "\n" not in p.title


# ---------------------------------------------------------------- edge cases

RSS_ITEM = """<item><title>{title}</title><link>https://arxiv.org/abs/{id}</link>
<description>arXiv:{id}v{v} Announce Type: {kind} \nAbstract: An  abstract.</description>
<guid isPermaLink="false">oai:arXiv.org:{id}v{v}</guid><category>cs.LG</category>
<pubDate>Tue, 28 Apr 2026 00:00:00 -0400</pubDate><arxiv:announce_type>{kind}</arxiv:announce_type>
<dc:creator>{creators}</dc:creator></item>"""
RSS = """<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
<channel><title>{chan}</title>{items}</channel></rss>"""


def rss(chan="cs.LG updates on arXiv.org", **item):
    fields = dict(title="T", id="2604.00001", v=1, kind="new", creators="A B") | item
    return RSS.format(chan=chan, items=RSS_ITEM.format(**fields) if item is not None else "")


@pytest.mark.parametrize("item,expect", [
    (dict(kind="replace", v=3), ("2604.00001", "v3", "replace")),
    (dict(kind="replace-cross", v=2), ("2604.00001", "v2", "replace-cross")),
    (dict(kind="cross"), ("2604.00001", "v1", "cross")),
    (dict(id="hep-th/9901001"), ("hep-th/9901001", "v1", "new")),
    (dict(id="math.GT/0309136", v=2), ("math.GT/0309136", "v2", "new")),
], ids=["replace", "replace-cross", "cross", "old-style-id", "old-style-id-with-subclass"])
def test_rss_announce_types_and_ids(item, expect):
    p = parse_arxiv_rss(rss(**item))[0]
    assert (p.arxiv_id, p.version, p.announce_type) == expect
    assert p.abstract == "An abstract."


@pytest.mark.parametrize("creators,authors", [
    ("Ada Lovelace, Alan Turing", ["Ada Lovelace", "Alan Turing"]),
    ("Ada Lovelace (Univ. A, London), Alan Turing", ["Ada Lovelace (Univ. A, London)", "Alan Turing"]),
    ("Solo Author", ["Solo Author"]),
    ("A (X, (Y, Z)), B", ["A (X, (Y, Z))", "B"]),
], ids=["plain", "affiliation-with-comma", "single", "nested-parens"])
def test_dc_creator_split_respects_parentheses(creators, authors):
    assert split_creators(creators) == authors


def test_rss_title_hard_wrap_collapsed():
    assert parse_arxiv_rss(rss(title="A long\n   wrapped  title"))[0].title == "A long wrapped title"


def test_rss_empty_listing_is_empty_list():
    assert parse_arxiv_rss(RSS.format(chan="cs.LG updates on arXiv.org", items="")) == []


ATOM_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>arXiv Query</title>
<entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_1234.12345</id><title>Error</title>
<summary>incorrect id format for 1234.12345</summary></entry></feed>"""


@pytest.mark.parametrize("text,message", [
    ('{"error": "Invalid date"}', "HF API returned an error: Invalid date"),
    ('[{"paper": {"id": "2601.00001", "title": "x"}}, {"paper"', "not valid JSON"),
    ('[{"paper": {"title": "no id"}}]', "without paper.id"),
    ('[{"paper": {"id": "2601.00001"}}]', "has no title"),
    (RSS.format(chan="Feed error for query: cs.XX", items=""), "arXiv RSS error feed: Feed error for query: cs.XX"),
    (ATOM_ERROR, "arXiv API error: incorrect id format for 1234.12345"),
    ("<rss version='2.0'><channel><title>x</title><item><title>", "not well-formed XML"),
    ("<html><body><p>Nothing here</p></body></html>", "no DailyPapers data and no <article> cards"),
    ("<html><head><title>Human Verification</title></head><body><p>Confirm you are human</p></body></html>",
     "HF page 'Human Verification' has no DailyPapers data and no <article> cards"),
    ("just some text", "unknown format"),
], ids=["hf-error-object", "hf-truncated", "hf-missing-id", "hf-missing-title", "rss-error-feed",
        "atom-error-entry", "rss-truncated", "html-no-papers", "captcha-page", "unknown"])
def test_bad_inputs_raise_parse_error_with_reason(text, message):
    with pytest.raises(ParseError) as e:
        parse_text(text)
    assert message in str(e.value)


@pytest.mark.parametrize("item,check", [
    ({"paper": {"id": "2601.00001", "title": "T", "upvotes": 4}},
     lambda p: p.abstract == "" and p.authors == [] and p.comments is None and p.upvotes == 4),
    ({"paper": {"id": "2601.00001v2", "title": "T"}}, lambda p: p.arxiv_id == "2601.00001" and p.version == "v2"),
    ({"paper": {"id": "2601.00001", "title": "T", "newField": {"x": 1}}, "alsoNew": 1},
     lambda p: p.raw["alsoNew"] == 1 and p.raw["paper"]["newField"] == {"x": 1}),
    ({"paper": {"id": "2601.00001", "title": "T", "upvotes": "many"}}, lambda p: p.upvotes is None),
    ({"id": "2601.00001", "title": "Bare\n  paper", "summary": "S"}, lambda p: p.title == "Bare paper"),
], ids=["missing-optionals", "version-stripped", "unknown-keys-kept-raw", "bad-upvotes-type", "bare-paper-object"])
def test_hf_items_read_defensively(item, check):
    assert check(parse_hf_api(json.dumps([item]))[0])


def test_hf_empty_day_is_empty_list():
    assert parse_text("[]") == []


def test_parse_text_hint_and_day():
    p = parse_text(rss(), source_hint="arxiv:cs.LG", day="2026-04-29")[0]
    assert p.source == "arxiv:cs.LG" and p.digest_day == "2026-04-28"   # content wins for the day
    q = parse_text('[{"paper": {"id": "2601.00001", "title": "T"}}]', day="2026-01-05")[0]
    assert q.digest_day == "2026-01-05"


@pytest.mark.parametrize("text,expect", [
    ("http://arxiv.org/abs/2606.13591v1", ("2606.13591", "v1")),
    ("oai:arXiv.org:2604.21952v12", ("2604.21952", "v12")),
    ("0704.0001", ("0704.0001", None)),
    ("http://arxiv.org/abs/hep-th/9901001v1", ("hep-th/9901001", "v1")),
], ids=["abs-url", "guid", "four-digit", "old-style-url"])
def test_split_id(text, expect):
    assert split_id(text) == expect


def test_detects_format_despite_bom_and_leading_whitespace():
    assert detect_format("\ufeff\n  []") == "hf_api"


def test_hf_json_with_a_byte_order_mark_parses_like_without_one():
    """A JSON file saved with a BOM (Windows tools write one) is detected as HF JSON, so it must
    parse as such, not fail as invalid JSON."""
    text = load("hf/hf_daily_papers_api_2026-06-12.json")
    assert [p.to_json() for p in parse_text("\ufeff" + text)] == [p.to_json() for p in parse_text(text)]


def test_cards_without_paper_links_are_a_failure_not_an_empty_day():
    with pytest.raises(ParseError, match="cards but no paper links"):
        parse_text("<html><body><article><h3>Nothing linked</h3></article></body></html>")


# ---------------------------------------------------------------- `notifier parse`

def cli(capsys, *argv):
    from notifier.cli import main
    code = main(["parse", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name,count", [(r[0], r[2]) for r in REAL], ids=[r[0].split("/")[1] for r in REAL])
def test_cli_parse_json_prints_the_design_shape(capsys, name, count):
    code, out, err = cli(capsys, str(FIX / name), "--json")
    papers = json.loads(out)
    assert code == 0 and len(papers) == count
    for p in papers:
        assert {"arxiv_id", "title", "abstract", "authors", "upvotes", "published", "url"} <= p.keys()
        assert isinstance(p["arxiv_id"], str) and isinstance(p["authors"], list)


def test_cli_parse_jsonl_is_what_match_papers_reads(capsys, tmp_path):
    from notifier.cli import main

    code, out, _ = cli(capsys, str(FIX / "hf/hf_daily_papers_api_2026-06-12.json"), "--jsonl")
    (tmp_path / "papers.jsonl").write_text(out, encoding="utf-8")
    assert code == 0 and len(out.splitlines()) == 30
    assert main(["match", "--papers", str(tmp_path / "papers.jsonl"), "--profile", "agents", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["selected"]


def test_cli_parse_table_lists_papers(capsys):
    code, out, _ = cli(capsys, str(FIX / "hf/hf_daily_papers_api_2026-08-03_3items.json"))
    assert code == 0 and "2607.28229" in out and "EMBL AI Librarian" in out and out.rstrip().endswith("3 paper(s)")


@pytest.mark.parametrize("make_input,message", [
    (lambda tmp: tmp / "missing.json", "{path}: cannot read: No such file or directory"),
    (lambda tmp: tmp, "{path}: cannot read: Is a directory"),
    (lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("hello"))[0],
     "{path}: unknown format: not HF JSON, HF HTML, arXiv RSS or arXiv Atom"),
    (lambda tmp: (tmp / "err.json", (tmp / "err.json").write_text('{"error": "Invalid date"}'))[0],
     "{path}: HF API returned an error: Invalid date"),
    (lambda tmp: "ftp://example.org/daily.json", "{path}: cannot read: only http:// and https:// URLs are fetched"),
], ids=["missing", "directory", "unknown-format", "hf-error", "ftp-url"])
def test_cli_parse_bad_input_is_one_line_error(capsys, tmp_path, make_input, message):
    path = make_input(tmp_path)
    code, out, err = cli(capsys, str(path))
    assert code == 1 and out == ""
    assert err == f"notifier: error: {message.format(path=path)}\n"


def test_a_saved_feed_with_a_stray_latin1_byte_keeps_every_paper_as_a_fetch_does_and_names_the_byte(capsys, tmp_path):
    """One 0xe9 in a title refused the whole file, while the fetch path kept every entry (U+FFFD)."""
    good = (FIX / "arxiv/arxiv_rss_cs.AI_2026-04-27.xml").read_bytes()
    at = good.index(b"<title>", good.index(b"<item")) + len(b"<title>")
    path = tmp_path / "feed.xml"
    path.write_bytes(good[:at] + b"\xe9" + good[at:])
    code, out, err = cli(capsys, str(path), "--json")
    _, expected, _ = cli(capsys, str(FIX / "arxiv/arxiv_rss_cs.AI_2026-04-27.xml"), "--json")
    papers, wanted = json.loads(out), json.loads(expected)
    assert code == 0 and len(papers) == len(wanted) and papers[0]["title"] == "\ufffd" + wanted[0]["title"]
    assert err == (f"notifier: warning: {path}: not UTF-8 at byte offset {at} (0xe9): read as U+FFFD, "
                   "as a fetch reads it\n")


def test_a_file_that_is_not_utf8_at_all_is_named_so_and_refused_as_no_known_format(capsys, tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00[")
    code, out, err = cli(capsys, str(path))
    assert (code, out) == (1, "") and err == (
        f"notifier: warning: {path}: not UTF-8 at byte offset 0 (0xff): read as U+FFFD, as a fetch reads it\n"
        f"notifier: error: {path}: unknown format: not HF JSON, HF HTML, arXiv RSS or arXiv Atom\n")


# ---------------------------------------------------------------- malformed items (issue 11)

GOOD = {"paper": {"id": "2601.00001", "title": "Good paper", "summary": "Fine."}}


@pytest.mark.parametrize("bad,reason", [
    ({"paper": {"id": "2601.00002", "title": ["a", "list"]}}, "has no title"),
    ({"paper": {"id": "2601.00002"}}, "has no title"),
    ({"paper": {"id": 2601.00002, "title": "T"}}, "without paper.id"),
    ({"paper": {"id": "not an id", "title": "T"}}, "no arXiv id"),
    ([[["nested"]]], "HF item is a JSON list, not an object"),
    ("a string", "HF item is a JSON str, not an object"),
], ids=["list-title", "no-title", "numeric-id", "bad-id", "nested-list", "string"])
def test_one_malformed_hf_item_is_skipped_and_the_rest_kept(bad, reason):
    papers = parse_text(json.dumps([GOOD, bad]))
    assert [p.arxiv_id for p in papers] == ["2601.00001"]
    assert len(papers.skipped) == 1 and papers.skipped[0].startswith("HF item 2: ") and reason in papers.skipped[0]


@pytest.mark.parametrize("field,value", [
    ("summary", 5), ("summary", ["a"]), ("authors", 5), ("authors", "Ada"), ("githubRepo", ["x"]),
    ("projectPage", {"u": 1}), ("publishedAt", 20260101), ("upvotes", [1]), ("upvotes", 10 ** 30),
    ("upvotes", True), ("upvotes", -1),
], ids=lambda v: str(v))
def test_wrong_type_in_an_optional_field_reads_as_absent(field, value):
    [p] = parse_text(json.dumps([{"paper": GOOD["paper"] | {field: value}}]))
    assert p.title == "Good paper" and isinstance(p.abstract, str) and all(isinstance(a, str) for a in p.authors)
    assert p.code_url is None and p.project_url is None and p.upvotes is None


def test_a_day_whose_items_are_all_malformed_is_a_parse_error_not_an_empty_day():
    with pytest.raises(ParseError, match=r"all 2 HF items are malformed \(first: HF item 1: .*no title"):
        parse_text(json.dumps([{"paper": {"id": "2601.00001"}}, {"paper": {"id": "2601.00002", "title": 5}}]))


@pytest.mark.parametrize("text,message", [
    ("[" * 100000, "nested too deeply"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ('<html><body><div data-target="DailyPapers" data-props="' + "[" * 5000 + "]" * 5000 + '"></div></body></html>',
     "DailyPapers data-props is nested too deeply"),
    ('[{"paper": {"id": "2601.00001", "title": "T", "summary": "A"}, "x": ' + "[" * 101 + "]" * 101 + "}]",
     "nested too deeply"),
    ('<?xml version="1.0" encoding="utf-16"?><rss><channel></channel></rss>', "not well-formed XML"),
    ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
     + ']><rss><channel><title>&i;</title></channel></rss>', "not well-formed XML"),
], ids=["hf-json-100000-brackets", "hf-json-deep-but-closed", "hf-page-deep-props", "hf-paper-with-a-deep-field",
        "xml-utf16-declared", "xml-entity-bomb"])
def test_hostile_documents_are_a_parse_error(text, message):
    """The same error on every Python: 3.13's json parses 5,000 levels that 3.11's refuses, and a
    paper kept with such a field could stop the code that stores it."""
    with pytest.raises(ParseError, match=message):
        parse_text(text)


def test_rss_item_without_id_or_title_is_skipped_and_the_rest_kept():
    items = (RSS_ITEM.format(title="Kept", id="2604.00001", v=1, kind="new", creators="A")
             + RSS_ITEM.format(title="", id="2604.00002", v=1, kind="new", creators="A")
             + RSS_ITEM.format(title="No id", id="nothing", v=1, kind="new", creators="A").replace("2604", "x"))
    papers = parse_arxiv_rss(RSS.format(chan="cs.LG updates on arXiv.org", items=items))
    assert [p.title for p in papers] == ["Kept"]
    assert [s.split(":")[0] for s in papers.skipped] == ["arXiv RSS item 2", "arXiv RSS item 3"]


def test_cards_with_a_bad_link_are_skipped_and_the_rest_kept():
    page = ("<html><body><article><h3><a href='/papers/2607.26654'>Kept</a></h3></article>"
            "<article><h3><a href='/papers/not-an-id'>Bad</a></h3></article></body></html>")
    papers = parse_text(page)
    assert [p.arxiv_id for p in papers] == ["2607.26654"] and len(papers.skipped) == 1


# ---------------------------------------------------------------- properties: records or ParseError

from html import escape  # noqa: E402
from xml.sax.saxutils import escape as xml_escape, quoteattr  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from notifier.models import Paper  # noqa: E402

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.sampled_from([2 ** 64, "nul\x00", "\ud800 surrogate"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
ids = st.sampled_from(["2601.00001", "2601.00002v3", "hep-th/9901001", "nope", "", " 2601.1 "]) | st.text(max_size=12)
texts = st.sampled_from(["A title", "", "  ", "T\n wrapped"]) | st.text(max_size=30)
field_values = texts | json_values
counts = st.sampled_from([2 ** 64, -1, True, 7]) | json_values
optional_fields = {
    "summary": field_values, "authors": json_values | st.lists(st.fixed_dictionaries({"name": field_values}), max_size=3),
    "publishedAt": field_values, "submittedOnDailyAt": field_values, "upvotes": counts,
    "githubRepo": field_values, "projectPage": field_values, "organization": json_values}
hf_papers = (st.fixed_dictionaries({"id": ids, "title": texts}, optional=optional_fields)
             | st.fixed_dictionaries({}, optional={"id": ids | json_values, "title": field_values} | optional_fields))
hf_items = st.one_of(
    st.builds(lambda paper, outer: {"paper": paper} | outer, hf_papers,
              st.fixed_dictionaries({}, optional={"numComments": counts, "title": field_values, "id": ids})),
    st.fixed_dictionaries({}, optional={"paper": hf_papers | json_values, "numComments": counts,
                                        "title": field_values, "id": ids}),
    json_values)


def assert_records_or_parse_error(parse, text):
    try:
        papers = parse(text)
    except ParseError:
        return
    assert isinstance(papers, list) and all(isinstance(s, str) for s in papers.skipped)
    for p in papers:
        assert isinstance(p, Paper) and p.arxiv_id and p.title and p.title == " ".join(p.title.split())
        assert isinstance(p.abstract, str) and all(isinstance(a, str) and a for a in p.authors)
        assert p.upvotes is None or (type(p.upvotes) is int and 0 <= p.upvotes < 2 ** 63)
        assert "\x00" not in p.title + p.abstract + "".join(p.authors)
        assert all(u is None or isinstance(u, str) for u in (p.code_url, p.project_url, p.published, p.digest_day))
        json.dumps(p.to_json())


@PROPERTY
@given(st.text(max_size=300))
def test_any_text_gives_records_or_a_parse_error(text):
    assert_records_or_parse_error(parse_text, text)
    try:
        assert detect_format(text) in ("hf_api", "hf_html", "arxiv_rss", "arxiv_atom")
    except ParseError:
        pass


@PROPERTY
@given(st.lists(hf_items, max_size=6) | json_values)
def test_any_hf_json_gives_records_or_a_parse_error(data):
    assert_records_or_parse_error(parse_hf_api, json.dumps(data))


@PROPERTY
@given(st.lists(hf_items, max_size=4) | json_values, st.sampled_from(["dailyPapers", "searchResults", "other"]))
def test_any_hf_page_data_gives_records_or_a_parse_error(data, key):
    page = (f'<html><body><div data-target="DailyPapers" data-props="{escape(json.dumps({key: data}))}">'
            "</div></body></html>")
    assert_records_or_parse_error(parse_hf_html, page)


@PROPERTY
@given(st.lists(st.tuples(ids, texts), max_size=4), st.text(max_size=40))
def test_any_hf_cards_give_records_or_a_parse_error(cards, noise):
    page = "<html><body>" + "".join(
        f"<article><h3><a href=\"/papers/{escape(i)}\">{escape(t)}</a></h3>{escape(noise)}</article>"
        for i, t in cards) + "</body></html>"
    assert_records_or_parse_error(parse_hf_html, page)


xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
rss_items = st.fixed_dictionaries({}, optional={
    "title": xml_text, "guid": ids | xml_text, "link": ids | xml_text, "description": xml_text,
    "pubDate": st.sampled_from(["Tue, 28 Apr 2026 00:00:00 -0400", "Mon, 99 Foo 99999 99:99:99 +9999"]) | xml_text,
    "category": xml_text, "arxiv:announce_type": xml_text, "dc:creator": xml_text})


def elements(fields: dict) -> str:
    return "".join(f"<{k}>{xml_escape(v)}</{k}>" for k, v in fields.items())


@PROPERTY
@given(st.lists(rss_items, max_size=4), xml_text, st.integers(0, 400))
def test_any_arxiv_rss_gives_records_or_a_parse_error(items, title, cut):
    doc = ('<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/">'
           f"<channel><title>{xml_escape(title)}</title>"
           + "".join(f"<item>{elements(i)}</item>" for i in items) + "</channel></rss>")
    assert_records_or_parse_error(parse_arxiv_rss, doc)
    assert_records_or_parse_error(parse_arxiv_rss, doc[:cut])


atom_entries = st.fixed_dictionaries({}, optional={
    "id": ids | xml_text, "title": xml_text, "summary": xml_text, "published": xml_text,
    "arxiv:comment": xml_text, "arxiv:doi": xml_text})


@PROPERTY
@given(st.lists(atom_entries, max_size=4), st.lists(xml_text, max_size=3), st.integers(0, 400))
def test_any_arxiv_atom_gives_records_or_a_parse_error(entries, names, cut):
    authors = "".join(f"<author><name>{xml_escape(n)}</name></author>" for n in names)
    doc = ('<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">'
           + "".join(f"<entry>{elements(e)}{authors}<category term={quoteattr(n)}/></entry>"
                     for e, n in zip(entries, names + [""] * len(entries))) + "</feed>")
    assert_records_or_parse_error(parse_arxiv_atom, doc)
    assert_records_or_parse_error(parse_arxiv_atom, doc[:cut])


def test_cli_parse_names_each_skipped_item_on_stderr(capsys, tmp_path):
    path = tmp_path / "day.json"
    path.write_text(json.dumps([GOOD, {"paper": {"id": "2601.00002", "title": 7}}]))
    code, out, err = cli(capsys, str(path), "--json")
    assert code == 0 and [p["arxiv_id"] for p in json.loads(out)] == ["2601.00001"]
    assert err == f"notifier: warning: {path}: skipped HF item 2: HF paper 2601.00002 has no title\n"


@pytest.fixture
def page_server(hf):
    """The recorded 3-item answer from the HF stand-in, at a URL that names no day; and its size."""
    items = json.loads(load("hf/hf_daily_papers_api_2026-08-03_3items.json"))
    hf.days[""] = items
    return f"{hf.url}/api/daily_papers", len(json.dumps(items).encode())


def test_cli_parse_url_reads_within_the_configured_size_limit(capsys, tmp_path, page_server):
    url, size = page_server
    config = tmp_path / "config.toml"
    config.write_text(f"[sources]\nmax_response_bytes = {size}\n")
    code, out, _ = main_parse(capsys, config, url)
    assert code == 0 and len(json.loads(out)) == 3
    config.write_text(f"[sources]\nmax_response_bytes = {size - 1}\nmax_attempts = 1\n")
    code, out, err = main_parse(capsys, config, url)
    assert code == 1 and out == ""
    assert err == f"notifier: error: GET {url} answered more than sources.max_response_bytes = {size - 1} bytes; " \
                  "stopped reading\n"


def main_parse(capsys, config, url):
    from notifier.cli import main
    code = main(["--config", str(config), "parse", url, "--json"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def memory_store():
    from notifier.store import Store
    store = Store("sqlite://")
    yield store
    store.close()


@PROPERTY
@given(st.lists(hf_items, min_size=1, max_size=6))
def test_whatever_an_hf_day_parses_into_can_be_stored(memory_store, data):
    try:
        papers = parse_hf_api(json.dumps(data))
    except ParseError:
        return
    result = memory_store.ingest(papers, source="hf_daily", digest_day="2026-07-01")
    assert result.found == len(papers)
