"""The matcher: what a subscriber would notice in what is matched, selected and explained."""
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.cli import main
from notifier.match import build_index, match_profile, match_profiles
from notifier.models import Paper
from notifier.profile import parse_profile

FILLER = ("We evaluate on standard benchmarks and report results. Our experiments cover several "
          "settings and show consistent gains over strong baselines in accuracy and efficiency.")


def paper(pid, title, abstract="", authors=()):
    return Paper(arxiv_id=pid, title=title, abstract=abstract + " " + FILLER, authors=list(authors))


def background(n=20):
    return [paper(f"bg{i}", f"A study of topic {i}", "We study image classification and language models.")
            for i in range(n)]


def ids(text, papers, **kw):
    index = build_index(papers, background())
    return [m.paper_id for m in match_profile(index, parse_profile(text), **kw)]


@pytest.mark.parametrize("profile, title, abstract", [
    ("distill", "Distilled students", "We distilled a large teacher."),
    ("distillation", "Fast students", "A teacher model is distilled into a student."),
    ("distilled", "Step distillation for diffusion", ""),
    ('"KV cache"', "Compressing the KV-cache", ""),
    ("KV-cache", "Fast inference", "We shrink the KV cache by eviction."),
    ('"kv caching"', "Fast inference", "Efficient KV cache management."),
    ("KVCache", "Fast inference", "Efficient KV cache management."),
    ('"KV cache"', "Fast inference", "Our KVCache compression halves memory."),
    ("MoE", "Scaling sparse models", "We train a Mixture-of-Experts (MoE) language model."),
    ('"mixture of experts"', "Routing tokens", "Our MoE routes tokens to experts. Mixture-of-Experts (MoE) layers scale."),
    ('"low-rank adaptation"', "Adapters", "We study LoRA for vision models."),
    ("rag", "Retrieval", "We propose a RAG pipeline."),
    ("mobile", "MobileNetV2 on phones", ""),
    ("lora", "MixLoRA: experts of adapters", ""),
    ('"kv cache"', "SnapKV cache eviction", ""),
    ("ViT", "EfficientViT at the edge", ""),
    ("GPT", "Probing GPT4 for facts", ""),
    ("mamba", "Improving Mamba2 with the delta rule", ""),
    ("frechet", "The Fréchet distance of generators", ""),
    ("beta", "Disentangling with β-VAE", ""),
    ("α", "Training with $\\alpha$-divergence", ""),
    ("KDE", "KDEformer: attention by density estimation", "Unlike the former methods, it is exact."),
], ids=["distill~distilled", "distillation~distilled", "distilled~distillation", "phrase~hyphen",
        "hyphen~space", "caching~cache", "squashed-query", "squashed-doc", "abbrev-defined-in-paper",
        "long-form~abbrev", "long-form-defined-elsewhere", "abbrev-as-word", "word-part-camel",
        "word-part-inner-capitals", "word-part-in-phrase", "word-part-acronym", "word-part-digits",
        "word-part-titlecase-with-digits", "accents-folded", "greek-letter-as-its-name",
        "tex-greek-letter-as-the-letter", "word-part-capitals-before-a-word"])
def test_variants_match(profile, title, abstract):
    corpus = [paper("hit", title, abstract), paper("lora-def", "Low-Rank Adaptation (LoRA) revisited",
                                                    "Low-Rank Adaptation (LoRA) trains few parameters."),
              paper("miss", "Unrelated work on proteins", "We fold proteins.")]
    assert "hit" in ids(profile, corpus)
    assert "miss" not in ids(profile, corpus)


@pytest.mark.parametrize("profile, abstract", [
    ("rag", "The average score improved on the leaderboard."),
    ("MoE", "A shoe recommender for online stores."),
    ("lora", "We study the flora of islands."),
    ("cache", "A cachet of prestige."),
    ("former", "Transformers everywhere."),
    ("net", "Internet traffic."),
    ("mo", "A MoE layer."),
    ('"test-time scaling"', "Decoding is 5.18\\times$ faster on GPUs."),
    ("EM", "We show {\\em entropy collapse} in deeper layers."),
    ("KD", "KDEformer approximates attention; unlike the former methods, it is exact."),
    ("tion", "A new atten\u00adtion kernel."),
], ids=["rag-in-average", "moe-in-shoe", "lora-in-flora", "cache-in-cachet", "no-parts-in-plain-words",
        "parts-only-at-capitals", "parts-of-two-letters-only-if-capitals", "tex-command-is-no-word",
        "tex-emphasis-is-no-word", "abbreviation-not-inside-a-longer-one", "no-parts-at-a-soft-hyphen"])
def test_term_does_not_match_inside_another_word(profile, abstract):
    assert ids(profile, [paper("trap", "Something else", abstract)]) == []


def test_an_abbreviation_stands_for_a_term_only_where_the_paper_does_not_define_it_otherwise():
    corpus = [paper("defines", "Estimating mutual information", "Mutual information (MI) is hard to bound."),
              paper("uses", "Bounds for deep networks", "We bound the MI between layers."),
              paper("other", "Influence in markets", "Macro influence (MI) moves prices; MI grows with size.")]
    assert set(ids('"mutual information"', corpus)) == {"defines", "uses"}


@pytest.mark.parametrize("stored", [True, False], ids=["defined-in-a-stored-paper", "defined-nowhere"])
def test_an_abbreviation_a_stored_paper_defined_finds_a_day_paper_that_only_uses_it(stored):
    """Only an earlier stored paper (the background) spells out LoRA; today's paper just says LoRA."""
    definition = [paper("lora-def", "Low-Rank Adaptation (LoRA) revisited", "Low-Rank Adaptation (LoRA) trains few weights.")]
    day = [paper("uses", "Fine-tuning vision transformers", "We study LoRA for vision models.")]
    index = build_index(day, background() + definition * stored)
    found = {m.paper_id: [w for e in m.evidence for w, lit in e.snippet if lit]
             for m in match_profile(index, parse_profile('"low-rank adaptation"'))}
    assert found == ({"uses": ["LoRA"]} if stored else {})


def test_phrase_in_order_ranks_above_scattered_words():
    corpus = [paper("scattered", "Caching tricks", "A KV store with a cache layer and key value pairs; the kv flag."),
              paper("phrase", "KV cache compression", "We compress the KV cache.")]
    assert ids('"kv cache"', corpus)[0] == "phrase"


def test_phrase_backs_off_to_its_words_below_an_exact_match():
    corpus = [paper("exact", "Step distillation of diffusion models", ""),
              paper("words", "Distilling diffusion sampling into one step", "")]
    assert ids('"step distillation"', corpus) == ["exact", "words"]


@pytest.mark.parametrize("profile, expected", [
    ("diffusion, -federated", ["plain"]),
    ('diffusion, -"federated learning"', ["plain"]),
    ("diffusion, +federated", ["fed"]),
    ('diffusion, +title:"federated"', ["fed"]),
], ids=["exclude-word", "exclude-phrase", "required", "required-in-title"])
def test_exclusions_remove_and_required_terms_gate(profile, expected):
    corpus = [paper("fed", "Federated diffusion", "Federated learning of diffusion models."),
              paper("plain", "Diffusion models", "Fast diffusion.")]
    assert ids(profile, corpus) == expected


def test_weight_changes_the_order():
    corpus = [paper("moe", "Sparse MoE routing", ""), paper("lora", "LoRA adapters", "")]
    assert ids("moe, lora^3", corpus)[0] == "lora"
    assert ids("moe^3, lora", corpus)[0] == "moe"


def test_title_field_looks_only_in_titles():
    corpus = [paper("in-abstract", "Vision models", "Uses diffusion."), paper("in-title", "Diffusion", "")]
    assert ids("title:diffusion", corpus) == ["in-title"]


def test_author_follows_a_person():
    corpus = [paper("a", "Attention kernels", authors=["Tri Dao", "Someone Else"]),
              paper("b", "Attention kernels", authors=["Dao Tri"])]
    assert ids('author:"Tri Dao"', corpus) == ["a"]


def test_author_names_match_without_accents():
    corpus = [paper("a", "Entropy", authors=["Alfréd Rényi"]), paper("b", "Entropy", authors=["Alfred Renner"])]
    assert ids('author:"Alfred Renyi"', corpus) == ["a"]


@pytest.mark.parametrize("profile_form, paper_form", [("NFD", "NFC"), ("NFC", "NFD")])
def test_accented_names_match_whether_their_accents_are_composed_or_combining(profile_form, paper_form):
    """'ë' is one character or 'e' + U+0308 (text pasted from a PDF, typed on macOS): the same name."""
    import unicodedata

    def form(kind, text):
        return unicodedata.normalize(kind, text)

    corpus = [paper("a", form(paper_form, "A naïve entropy"), authors=[form(paper_form, "Zoë Müller")]),
              paper("b", "Entropy", authors=["Zoe Mueller"])]
    assert ids(form(profile_form, 'author:"Zoë Müller"'), corpus) == ["a"]
    assert ids(form(profile_form, 'title:naïve'), corpus) == ["a"]


def squarely(i):
    return paper(f"good{i}", f"KV cache eviction for long-context inference {i}",
                 "We evict entries from the KV cache to speed up long-context inference.")


def test_three_squarely_matching_papers_are_selected_and_weak_ones_are_not():
    corpus = [squarely(i) for i in range(3)] + [
        paper(f"weak{i}", f"Image segmentation {i}", "A long study of images; in passing we mention eviction. " + FILLER * 3)
        for i in range(3)]
    index = build_index(corpus, background())
    matches = match_profile(index, parse_profile('"KV cache", "long-context inference", eviction'))
    assert {m.paper_id for m in matches if m.selected} == {"good0", "good1", "good2"}
    assert {m.paper_id for m in matches if not m.selected} == {"weak0", "weak1", "weak2"}


def test_selection_is_capped():
    index = build_index([squarely(i) for i in range(12)], background())
    matches = match_profile(index, parse_profile('"KV cache"'), max_items=5)
    assert sum(m.selected for m in matches) == 5
    assert [m.selected for m in matches] == sorted((m.selected for m in matches), reverse=True)


def test_upvotes_reorder_but_never_select():
    a = paper("quiet", "KV cache eviction", "KV cache eviction for long-context inference, KV cache.")
    b = paper("popular", "KV cache", "We study serving.")
    b.upvotes, a.upvotes = 500, 0
    index = build_index([a, b, paper("off", "Proteins", "Folding.")], background())
    plain = match_profile(index, parse_profile('"kv cache"'))
    blended = match_profile(index, parse_profile('"kv cache"'), upvote_weight=5.0)
    assert [m.paper_id for m in plain][0] == "quiet" and [m.paper_id for m in blended][0] == "popular"
    assert {m.paper_id: m.selected for m in plain} == {m.paper_id: m.selected for m in blended}


def test_threshold_sets_how_close_to_the_best_a_paper_must_be():
    corpus = [paper("best", "KV cache eviction for long-context inference", "KV cache eviction."),
              paper("good", "KV cache eviction", "We evict entries."),
              paper("fair", "Eviction policies", "Caches evict entries; one is a KV cache."),
              paper("thin", "Serving systems", "A KV cache is used.")]
    sent = {t: selected('"kv cache", eviction, "long-context inference"', corpus, threshold=t)
            for t in (0.1, None, 0.9)}
    assert sent[0.1] == ["best", "good", "fair", "thin"]
    assert sent[0.9][0] == "best" and "thin" not in sent[0.9]   # half the best's score, one mention: not enough
    assert set(sent[0.1]) >= set(sent[None]) > set(sent[0.9])


def test_same_papers_and_profiles_give_the_same_output_whatever_the_hash_seed(tmp_path):
    import os
    import subprocess
    import sys
    rows = [{"id": f"p{i}", "title": f"{w} {i}", "abstract": "SnapKV and MobileNetV2 meet MixLoRA (MoLA) on GPT4."}
            for i, w in enumerate(["KVCache", "MoE", "LoRA", "Efficient ViT", "Diffusion"])]
    papers = tmp_path / "papers.jsonl"
    papers.write_text("\n".join(json.dumps(r) for r in rows))
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text('{"id": 1, "profile": "kv, mobile, lora"}\n{"id": 2, "profile": "\\"kv cache\\", gpt"}\n')
    outputs = {subprocess.run([sys.executable, "-m", "notifier", "match", "--papers", str(papers), "--profiles",
                               str(profiles), "--json"], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2", "3")}
    assert len(outputs) == 1 and '"p0"' in outputs.pop()


def test_explanation_highlights_the_word_a_part_of_which_matched():
    index = build_index([paper("p", "MobileNetV2 revisited", "")], background())
    [m] = match_profile(index, parse_profile("mobile"))
    assert [(e.field, [t for t, hit in e.snippet if hit]) for e in m.evidence] == [("title", ["MobileNetV2"])]


def test_explanation_does_not_highlight_a_tex_command_as_a_word():
    index = build_index([paper("p", "Forecasting", r"Decoding is 5\times$ faster at the same time.")], background())
    [m] = match_profile(index, parse_profile("time"))
    assert [t for ev in m.evidence for t, hit in ev.snippet if hit] == ["time"]


def test_a_phrase_with_a_soft_hyphen_in_a_word_is_found_whole():
    index = build_index([paper("p", "Pruning atten\u00adtion heads", "")], background())
    [m] = match_profile(index, parse_profile('"attention heads"'))
    assert m.matched == ["attention heads"]
    assert [t for ev in m.evidence for t, hit in ev.snippet if hit] == ["atten\u00adtion heads"]


def test_one_word_of_a_phrase_is_not_claimed_as_a_match():
    index = build_index([paper("p", "Sparse attention kernels", "Decoding is 7x faster.")], background())
    [m] = match_profile(index, parse_profile('"speculative decoding", "sparse attention"'))
    assert m.matched == ["sparse attention"] and [e.term for e in m.evidence] == ["sparse attention"]


def test_explanation_shows_the_field_with_the_whole_phrase():
    index = build_index([paper("p", "Lagged KV eviction", "Existing KV cache compression methods struggle.")],
                        background())
    [m] = match_profile(index, parse_profile('"kv cache"'))
    [ev] = m.evidence
    assert ev.field == "abstract" and [t for t, hit in ev.snippet if hit] == ["KV cache"]


def test_explanation_names_term_field_and_highlights_snippet():
    index = build_index([paper("p", "Sparse models", "We train a Mixture-of-Experts model with distilled experts.")],
                        background())
    [m] = match_profile(index, parse_profile("distillation"))
    assert m.matched == ["distillation"]
    [ev] = m.evidence
    assert (ev.term, ev.field) == ("distillation", "abstract")
    assert [t for t, hit in ev.snippet if hit] == ["distilled"]
    assert "Mixture-of-Experts" in "".join(t for t, _ in ev.snippet)


def test_plain_dicts_are_accepted():
    index = build_index([{"id": "x", "title": "MoE routing", "abstract": ""}, {"arxiv_id": "y", "title": "LoRA"}])
    assert [m.paper_id for m in match_profile(index, parse_profile("moe, lora"))] == ["x", "y"] or \
        sorted(m.paper_id for m in match_profile(index, parse_profile("moe, lora"))) == ["x", "y"]


# ----------------------------------------------------------------------------- the command line
@pytest.fixture
def papers_file(tmp_path):
    rows = [{"id": "kv", "title": "KV cache eviction", "abstract": "We evict the KV cache."},
            {"arxiv_id": "moe", "title": "Mixture-of-Experts (MoE) at scale", "abstract": "Sparse experts."},
            {"id": "none", "title": "Protein folding", "abstract": "Biology."}]
    path = tmp_path / "papers.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_match_profile_json(papers_file, capsys):
    assert main(["match", "--papers", str(papers_file), "--profile", '"kv cache", eviction', "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in out] == ["kv"]
    assert set(out[0]) == {"id", "score", "selected", "matched"}
    assert out[0]["selected"] is True and out[0]["matched"] == ["kv cache", "eviction"]


def test_match_profiles_one_line_each_in_input_order(papers_file, tmp_path, capsys):
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text('{"id": "b", "profile": "mixture of experts"}\n{"id": "a", "profile": "\\"kv cache\\""}\n')
    assert main(["match", "--papers", str(papers_file), "--profiles", str(profiles), "--json"]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert [(l["profile"], [m["id"] for m in l["matches"]]) for l in lines] == [("b", ["moe"]), ("a", ["kv"])]


def test_match_profiles_gives_subscribers_sharing_a_profile_the_same_matches_each_with_their_own_votes(
        papers_file, tmp_path, capsys):
    profiles = tmp_path / "profiles.jsonl"
    text = '"kv cache", mixture of experts, eviction'
    rows = [{"id": "a", "profile": text}, {"id": "b", "profile": "moe"}, {"id": "c", "profile": text},
            {"id": "d", "profile": text, "feedback": [{"id": "moe", "vote": -1}]}]
    profiles.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["match", "--papers", str(papers_file), "--profiles", str(profiles), "--json"]) == 0
    lines = {l["profile"]: l["matches"] for l in map(json.loads, capsys.readouterr().out.splitlines())}
    assert lines["a"] == lines["c"] and {m["id"] for m in lines["a"]} >= {"kv", "moe"}
    assert [m["id"] for m in lines["d"]] == [m["id"] for m in lines["a"] if m["id"] != "moe"]


def test_match_profiles_lists_a_term_written_twice_once_as_match_profile_does(papers_file, tmp_path, capsys):
    texts = ['moe, title:moe, "kv cache"', '"kv cache", title:experts, eviction, experts', "eviction, -moe, title:eviction"]
    alone = []
    for text in texts:
        assert main(["match", "--papers", str(papers_file), "--profile", text, "--json"]) == 0
        alone.append([(m["id"], m["matched"]) for m in json.loads(capsys.readouterr().out) if m["selected"]])
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text("".join(json.dumps({"id": k, "profile": t}) + "\n" for k, t in enumerate(texts)))
    assert main(["match", "--papers", str(papers_file), "--profiles", str(profiles), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [[(m["id"], m["matched"]) for m in line["matches"]] for line in lines] == alone
    assert alone == [[("moe", ["moe"]), ("kv", ["kv cache"])], [("kv", ["kv cache", "eviction"]), ("moe", ["experts"])],
                     [("kv", ["eviction"])]]


@pytest.mark.parametrize("values", [[12.3473, 0.0001, 7.0, 1234567.8912, 0.5], [], [0.0, -0.0],
                                    [float("nan"), 1.0], [float("inf")], [1e16, 2.5], [5e-05], [1e-07, 3.0]],
                         ids=["scores", "none", "zeros", "nan", "inf", "big", "tiny", "exponent"])
def test_match_profiles_writes_each_score_as_python_writes_it(values):
    from notifier.commands.match import numbers
    assert numbers(values) == [repr(v) for v in values]


def test_match_profiles_upvotes_reorder_selected_papers(tmp_path, capsys):
    rows = [{"id": "quiet", "title": "KV cache eviction", "abstract": "KV cache eviction, KV cache.", "upvotes": 0},
            {"id": "popular", "title": "KV cache", "abstract": "We study serving.", "upvotes": 500},
            {"id": "off", "title": "Protein folding", "abstract": "Biology.", "upvotes": 900}]
    papers = tmp_path / "papers.jsonl"
    papers.write_text("\n".join(json.dumps(r) for r in rows))
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text('{"id": "a", "profile": "\\"kv cache\\""}\n')
    order = {}
    for weight in ("0", "5"):
        assert main(["match", "--papers", str(papers), "--profiles", str(profiles), "--json", "--upvote-weight", weight]) == 0
        order[weight] = [m["id"] for m in json.loads(capsys.readouterr().out)["matches"]]
    assert order == {"0": ["quiet", "popular"], "5": ["popular", "quiet"]}


def test_match_readable_output_shows_why(papers_file, capsys):
    assert main(["match", "--papers", str(papers_file), "--profile", "eviction"]) == 0
    out = capsys.readouterr().out
    assert "kv" in out and "title: KV cache [eviction]" in out and "1 selected" in out


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "title": "x"}\nnot json\n', "line 2: not valid JSON"),
    ('{"title": "x"}\n', 'line 1: a paper needs an "id" (or "arxiv_id")'),
], ids=["bad-json-line", "missing-id"])
def test_bad_papers_file_is_one_line_naming_file_and_line(tmp_path, capsys, content, message):
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    assert main(["match", "--papers", str(path), "--profile", "moe", "--json"]) == 1
    err = capsys.readouterr().err.strip()
    assert str(path) in err and message in err and "\n" not in err


@pytest.mark.parametrize("line", ['{"id": "a", "n": [1, 2.5, null]}\n', ' {"id": "a"}\r\n', '{"id": "a"} x\n',
                                  '{"id": "a"}\x0c\n', '\ufeff{"id": "a"}\n', 'NaN\n', '{"id": "a"}{"id": "b"}\n',
                                  '{"id": 123456789012345678901234567890}\n', '{"id": "\\ud800"}\n'])
def test_a_jsonl_line_reads_as_json_loads_reads_it(line):
    from notifier.commands import json_line

    def outcome(read):
        try:
            return repr(read(line))
        except json.JSONDecodeError as err:
            return err.msg, err.pos
    assert outcome(json_line) == outcome(json.loads)


def test_threshold_out_of_range_is_one_line(papers_file, capsys):
    assert main(["match", "--papers", str(papers_file), "--profile", "moe", "--threshold", "2"]) == 1
    assert capsys.readouterr().err.strip().endswith(
        "--threshold 2: use a share of the best score between 0.05 and 0.95")


@pytest.mark.parametrize("content", ["", '{"id": "only", "title": "Protein folding", "abstract": ""}\n'],
                         ids=["no-papers", "one-paper"])
def test_a_day_with_no_or_one_paper_matches_without_error(tmp_path, capsys, content):
    papers = tmp_path / "papers.jsonl"
    papers.write_text(content)
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text('{"id": "a", "profile": "kv cache"}\n')
    assert main(["match", "--papers", str(papers), "--profile", "kv cache", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["match", "--papers", str(papers), "--profiles", str(profiles), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"profile": "a", "matches": []}


def test_missing_papers_file(tmp_path, capsys):
    assert main(["match", "--papers", str(tmp_path / "nope.jsonl"), "--profile", "moe"]) == 1
    assert "nope.jsonl: cannot read" in capsys.readouterr().err


def test_profile_check_shows_terms_and_rejects_malformed(capsys):
    assert main(["profile", "check", '"KV cache"^2, -federated']) == 0
    out = capsys.readouterr().out
    assert "phrase" in out and "kv cach" in out and "exclude" in out
    assert "in digest subjects as: KV cache\n" in out      # said "labels: KV cache", a word the user never met
    assert main(["profile", "check", '"KV cache']) == 1
    assert "unbalanced quote in term" in capsys.readouterr().err


def test_profile_check_counts_each_way_a_term_is_found_in_given_papers(papers_file, capsys):
    assert main(["profile", "check", 'MoE, "kv cache", -federated', "--papers", str(papers_file)]) == 0
    out = capsys.readouterr().out
    assert "moe: 1 paper · Mixture-of-Experts (x0.9, as the papers define it): 1 paper" in out
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    shown = " ".join(re.search(r'`notifier profile check .*? each finds: "(.*?)"', readme, re.S)[1].split())
    assert re.sub(r"\d+ papers", "1 paper", shown) in out          # the README's example, as printed
    assert "kv cache: 1 paper" in out and "kvcache" not in out      # spellings found nowhere are not listed
    assert "counted in 3 papers from" in out


def test_profile_check_without_papers_explains_only_the_syntax(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path / "state"))
    assert main(["profile", "check", "moe"]) == 0
    assert "no papers to count in" in capsys.readouterr().out
    assert not (tmp_path / "state").exists()       # checking a profile creates no database


def test_profile_check_without_papers_counts_in_the_stored_papers(cli, db_url):
    from notifier.store import Store
    store = Store(db_url)
    store.ingest([paper("2607.00001", "Mixture-of-Experts (MoE) at scale", "Sparse experts."),
                  paper("2607.00002", "Protein folding", "Biology.")], source="hf_daily", digest_day="2026-07-01")
    store.close()
    code, out, _ = cli("profile", "check", "moe")
    assert code == 0
    assert "moe: 1 paper · Mixture-of-Experts (x0.9, as the papers define it): 1 paper" in out
    assert out.splitlines()[-1] == "counted in the 2 most recent stored papers"


def selected(text, papers, n_background=20, **kw):
    index = build_index(papers, background(n_background))
    return [m.paper_id for m in match_profile(index, parse_profile(text), **kw) if m.selected]


@pytest.mark.parametrize("profile, abstract", [
    ('"speculative decoding", "sparse attention"',
     "We decode protein sequences with a sparse regression model."),
    ('"speculative decoding", "sparse attention", distillation',
     "A sparse codebook lets us decode images quickly."),
    ('"step distillation"', "Each step of the pipeline is logged."),
], ids=["two-phrases-one-word-each", "one-word-each-plus-unmatched-word", "one-word-of-one-phrase"])
def test_single_backoff_words_of_phrases_never_pass_the_floor(profile, abstract):
    corpus = [paper("unrelated-sense", "A method for something else", abstract)]
    index = build_index(corpus, background())
    matches = match_profile(index, parse_profile(profile))
    assert matches and not any(m.selected for m in matches)   # ranked, never sent


@pytest.mark.parametrize("profile, title, abstract", [
    ('"speculative decoding"', "Faster generation", "A draft model proposes tokens; speculative sampling with decoding checks."),
    ('"sparse attention"', "Efficient transformers", "Attention over sparse blocks of tokens."),
    ('"speculative decoding", "sparse attention"', "Speculative decoding at scale", ""),
], ids=["both-words-of-a-phrase-apart", "both-words-reordered", "exact-phrase"])
def test_phrase_whole_or_all_its_words_still_selects(profile, title, abstract):
    assert selected(profile, [paper("hit", title, abstract)]) == ["hit"]


def test_feedback_lifts_a_paper_in_the_vocabulary_of_the_best_matches_but_cannot_select_it_alone():
    shared = "Token routing with load balancing across gating networks and expert capacity factors."
    corpus = [paper(f"moe{i}", f"Mixture-of-Experts model {i}", shared) for i in range(3)]
    corpus += [paper("same-topic", "Routing tokens at scale", shared),
               paper("other", "Routing packets in networks", "We study internet routers.")]
    index = build_index(corpus, background())
    ranked = {m.paper_id: m for m in match_profile(index, parse_profile('"mixture of experts"'))}
    assert "same-topic" in ranked and not ranked["same-topic"].selected
    assert ranked.get("other") is None or ranked["same-topic"].score > ranked["other"].score
    assert all(ranked[f"moe{i}"].selected for i in range(3))


@pytest.mark.parametrize("n_relevant, max_items, expected", [
    (30, None, 30),        # the CLI default cap (50) is a safety net: thresholds decide
    (30, 10, 10),          # the pipeline's digest size caps it (a day among many stored papers)
    (3, None, 3),
], ids=["many-good-all-sent-by-default", "digest-cap", "three-good-three-sent"])
def test_selection_count_follows_the_evidence_within_the_cap(n_relevant, max_items, expected):
    corpus = [paper(f"kv{i}", f"KV cache compression method {i}", "We evict KV cache entries.")
              for i in range(n_relevant)] + [paper("x", "Protein folding", "Proteins fold.")]
    assert len(selected('"kv cache"', corpus, n_background=300, max_items=max_items)) == expected


@settings(deadline=None)        # a split takes microseconds; a busy machine (the suite on 2 workers) is no failure
@given(st.text(st.characters(max_codepoint=0x7f)) | st.text(st.characters(max_codepoint=0x17f)))
def test_a_text_is_split_into_the_same_words_whether_ascii_or_not(text):
    from notifier.index import TOKEN, tokens
    from notifier.tex import without_commands
    assert tokens(text) == TOKEN.findall(without_commands(text))


def test_terms_resolved_together_score_to_the_bit_as_each_alone():
    from notifier.match import TermMatrix
    corpus = [paper("kv", "KV cache eviction", "We evict KV cache entries; the cache of keys and values shrinks."),
              paper("moe", "Mixture-of-Experts (MoE) routing", "Sparse experts with expert parallelism."),
              paper("both", "MoE meets KV cache", "Compressing the KV cache of a Mixture-of-Experts model."),
              paper("far", "Cache policies", "Eviction of entries from a KV store and its cache.")]
    terms = list(parse_profile('"kv cache", "cache eviction", title:cache, "mixture of experts", "expert '
                               'parallelism", moe, title:"kv cache", "eviction cache kv", "no such phrase"').terms)
    together = TermMatrix(build_index(corpus, background()))
    rows = together.rows(terms)
    for term, row in zip(terms, rows):
        alone = TermMatrix(build_index(corpus, background()))
        [own] = alone.rows([term])
        for name in ("scores", "strong", "solid", "ceiling"):
            assert getattr(together, name)[row].tobytes() == getattr(alone, name)[own].tobytes(), (term.raw, name)
    assert together.scores[rows].any(axis=1).sum() == len(terms) - 1      # only "no such phrase" matches nothing


@pytest.mark.parametrize("chunk_cells", [1, 8, 128 * 1024], ids=["one-profile-chunks", "small-chunks", "one-chunk"])
def test_a_profile_matches_the_same_alone_or_in_a_batch(monkeypatch, chunk_cells):
    import notifier.match as m
    corpus = [paper("kv", "KV cache eviction", "We evict KV cache entries for long-context inference."),
              paper("moe", "Mixture-of-Experts (MoE) routing", "Sparse experts with expert parallelism."),
              paper("both", "MoE meets KV cache", "Compressing the KV cache of a Mixture-of-Experts model."),
              paper("fed", "Federated KV cache", "Federated learning of the KV cache.", authors=["Ada Lovelace"])]
    texts = ['"kv cache", MoE, -federated', '+MoE, "kv cache"^2', '"sparse experts", eviction', "title:cache",
             'author:"Ada Lovelace"', "proteins"]
    index = build_index(corpus, background())
    alone = [[(x.paper_id, x.score, x.selected, x.matched) for x in match_profile(index, parse_profile(t))]
             for t in texts]
    monkeypatch.setattr(m, "CHUNK_CELLS", chunk_cells)
    batch = m.match_profiles(build_index(corpus, background()), [parse_profile(t) for t in texts])
    together = [[(index.docs[d].id, score, sel, r.labels(code))
                 for d, score, sel, code in zip(r.docs, r.scores, r.selected, r.codes)] for r in batch]
    assert together == alone
    assert alone[0] and alone[-1] == []


def test_profiles_matched_later_on_a_kept_index_get_what_a_fresh_index_gives():
    """The Matcher keeps an index with its resolved terms between batches: a later batch that
    brings many new terms (the term matrix grows) scores the earlier terms as before."""
    import notifier.match as m
    corpus = [paper(f"p{i}", f"Topic{i} methods", f"Word{i} and word{i + 1} with KV cache eviction.")
              for i in range(40)]
    first = ['"kv cache", topic3', "eviction, -word7", "word5^2, +methods"]
    later = [f"word{i}, topic{i + 1}" for i in range(40)] + first + ['"kv cache eviction"', "topic3"]

    def rows(index, texts):
        batch = m.match_profiles(index, [parse_profile(t) for t in texts])
        return [(r.docs, r.scores, r.selected, r.codes) for r in batch]
    kept = build_index(corpus, background())
    assert rows(kept, first) == rows(build_index(corpus, background()), first)
    assert rows(kept, later) == rows(build_index(corpus, background()), later)
    assert m.TermMatrix.of(kept).n > 64                       # past the matrix's first allocation


@pytest.mark.parametrize("abstract, removed", [
    ("We use activation checkpointing to fit larger models.", True),
    ("Activation-checkpointing halves memory.", True),
    ("Our ActivationCheckpointing pass halves memory.", True),
    ("Activations are checkpointed to halve memory.", False),
    ("Checkpointing the optimizer; activation of recovery after a crash is fast.", False),
    ("Checkpointing with activation recomputation halves memory.", False),
], ids=["as-typed", "hyphenated", "squashed", "a-word-between", "words-near-each-other",
        "words-adjacent-in-another-construction"])
def test_an_excluded_phrase_removes_a_paper_only_where_the_phrase_appears(abstract, removed):
    corpus = [paper("p", "Checkpointing for large-scale training", abstract)]
    assert (ids('checkpointing, -"activation checkpointing"', corpus) == []) is removed


def test_an_excluded_phrase_matches_its_inflections_and_defined_abbreviation():
    corpus = [paper("inflected", "Checkpointing", "Activations checkpointing saves memory."),
              paper("abbrev", "Checkpointing", "Activation checkpointing (AC) is common; we study AC."),
              paper("kept", "Checkpointing", "We restart from a checkpoint after failures.")]
    assert ids('checkpoint, -"activation checkpointing"', corpus) == ["kept"]


def test_a_compound_is_claimed_only_where_it_appears_not_from_its_words_apart():
    corpus = [paper("apart", "Robust training", "Networks resistant to low numerical precision keep few bits per weight."),
              paper("whole", "Training in low precision", "Low numerical precision hurts; we train with low-bit weights.")]
    index = build_index(corpus, background())
    found = {m.paper_id: m for m in match_profile(index, parse_profile("low-bit, quantization"))}
    assert found["apart"].matched == [] and not found["apart"].selected and not found["apart"].evidence
    assert found["whole"].matched == ["low-bit"]
    [ev] = found["whole"].evidence
    assert [t for t, hit in ev.snippet if hit] == ["low-bit"]      # not the 'Low' of 'Low numerical'


# ----------------------------------------------------------------------------- votes
EXPERTS = paper("experts", "Routing in sparse models", "Tokens are sent to experts with a learned gate and load balancing.")
PACKETS = paper("packets", "Routing in sparse networks", "Packets are sent to switches with a learned table and load shedding.")
LIKED = {"id": "old-1", "title": "Load balancing for mixture-of-experts", "abstract": "A gate sends tokens to experts."}
DISLIKED = {"id": "old-2", "title": "Datacenter switches", "abstract": "Switches forward packets; shedding load."}


def order(feedback=None, corpus=(EXPERTS, PACKETS)):
    index = build_index(list(corpus), background())
    return {m.paper_id: m for m in match_profile(index, parse_profile("routing"), feedback=feedback)}


@pytest.mark.parametrize("votes, first", [
    ([], None),
    ([(LIKED, 1)], "experts"),
    ([(DISLIKED, -1)], None),
    ([(LIKED, 1), (DISLIKED, -1)], "experts"),
    ([({**LIKED, "id": "old-3", "title": "Packet routing", "abstract": "Switches forward packets to a table."}, 1)],
     "packets"),
], ids=["no-votes-a-tie", "liked-lifts-the-similar-paper", "a-dislike-alone-hides-only-that-paper",
        "disliked-sinks-the-similar-paper-below-the-liked", "the-other-way"])
def test_votes_move_papers_like_the_liked_up_and_like_the_disliked_down(votes, first):
    matches = order(votes)
    scores = {pid: m.score for pid, m in matches.items()}
    if first is None:
        assert scores["experts"] == pytest.approx(scores["packets"], rel=0.1)
    else:
        assert max(scores, key=scores.get) == first and scores[first] > 1.1 * min(scores.values())


def test_a_dislike_moves_down_only_the_papers_more_like_it_than_like_the_liked_ones():
    mixed = paper("mixed", "Routing in sparse mixtures", "Tokens and packets are sent to experts and switches with a gate.")
    corpus = (EXPERTS, PACKETS, mixed)
    liked = {pid: m.score for pid, m in order([(LIKED, 1)], corpus).items()}
    both = {pid: m.score for pid, m in order([(LIKED, 1), (DISLIKED, -1)], corpus).items()}
    assert both["experts"] == liked["experts"] and both["mixed"] == liked["mixed"]
    assert both["packets"] < 0.98 * liked["packets"]


def test_a_day_paper_marked_not_for_me_is_not_ranked_again_for_that_subscriber_only():
    index = build_index([EXPERTS, PACKETS], background())
    voted, other = match_profiles(index, [parse_profile("routing")] * 2, feedback=[[(EXPERTS, -1)], []])
    assert [index.docs[d].id for d in voted.docs] == ["packets"]
    assert sorted(index.docs[d].id for d in other.docs) == ["experts", "packets"]


def test_a_day_paper_marked_not_for_me_is_dropped_for_its_subscriber_alone_wherever_it_is_in_a_batch(monkeypatch):
    import notifier.match as m
    monkeypatch.setattr(m, "CHUNK_CELLS", 2 * 2)           # 2 profiles a chunk over the 2 day papers
    votes = [[], [(PACKETS, -1)], [], [(EXPERTS, -1), (LIKED, 1)], [(PACKETS, -1), (EXPERTS, 1)]]
    index = build_index([EXPERTS, PACKETS], background())
    ranked = m.match_profiles(index, [parse_profile("routing")] * len(votes), feedback=votes)
    assert [sorted(index.docs[d].id for d in r.docs) for r in ranked] == [
        ["experts", "packets"], ["experts"], ["experts", "packets"], ["packets"], ["experts"]]


def test_votes_never_match_or_send_a_paper_without_profile_evidence():
    unrelated = paper("unrelated", "Gates and experts", "Tokens are sent to experts with a learned gate and load balancing.")
    plain = order(None, (EXPERTS, PACKETS, unrelated))
    voted = order([(LIKED, 1), (EXPERTS, 1)], (EXPERTS, PACKETS, unrelated))
    assert "unrelated" not in plain and "unrelated" not in voted


def test_the_explanation_says_which_votes_moved_a_paper():
    matches = order([(LIKED, 1), ({**LIKED, "id": "old-4"}, 1), (DISLIKED, -1)])
    assert (matches["experts"].liked, matches["experts"].disliked) == (2, 0)
    assert (matches["packets"].liked, matches["packets"].disliked) == (0, 1)
    assert (order()["experts"].liked, order()["experts"].disliked) == (0, 0)


def test_votes_on_a_day_paper_use_it_as_it_is_and_batches_match_single_profiles():
    import notifier.match as m
    corpus = [EXPERTS, PACKETS, paper("mixed", "Routing in sparse mixtures", "Tokens and packets go to experts and switches.")]
    votes = [[(EXPERTS, 1)], [], [(DISLIKED, -1), (LIKED, 1)]]
    texts = ["routing", "routing", '"sparse models", routing']
    index = build_index(corpus, background())
    alone = [[(x.paper_id, x.score, x.selected, x.liked, x.disliked)
              for x in match_profile(index, parse_profile(t), feedback=v)] for t, v in zip(texts, votes)]
    batch = m.match_profiles(build_index(corpus, background()), [parse_profile(t) for t in texts], feedback=votes)
    together = [[(index.docs[d].id, score, sel, *r.votes(i)) for i, (d, score, sel) in
                 enumerate(zip(r.docs, r.scores, r.selected))] for r in batch]
    assert together == alone
    assert alone[0][0][0] == "experts" and alone[0] != alone[1]


def test_the_matcher_keeps_background_and_indexes_until_the_papers_change():
    from notifier.match import Matcher
    loads = []
    matcher = Matcher(lambda: loads.append(1) or background(), kept=2)
    day = [paper("kv", "KV cache eviction"), paper("moe", "MoE routing")]
    matcher.refresh(("v1",))
    first = matcher.index(day)
    assert matcher.index(day) is first and matcher.index(day[:1]) is not first and len(loads) == 1
    matcher.refresh(("v1",))                                  # same papers: everything kept
    assert matcher.index(day) is first
    matcher.index(day[1:])                                    # a third candidate set: the oldest goes
    assert len(matcher.indexes) == 2 and tuple(p.arxiv_id for p in day[:1]) not in matcher.indexes
    matcher.refresh(("v2",))                                  # papers changed: both dropped, reloaded
    assert not matcher.indexes and matcher.index(day) is not first and len(loads) == 2


UNRELATED_DAY = [     # each term's words at most one at a time, or a word term once deep in a long abstract
    ("Protein structure from sequence", "We predict folds; a cache of templates speeds up the search."),
    ("Housing markets", "Rents rise faster in dense cities. In passing we note eviction rates."),
    ("Bayesian methods for ecology", "Variational methods for species counts over long periods."),
    ("Graph coloring", "A greedy heuristic colors sparse graphs."),
    ("Speech enhancement", "We denoise recordings; distillation of the labels cleans them."),
    ("Robot grasping", "Grasps are planned from point clouds; sampling is slow."),
    ("Weather forecasting", "A model predicts rain from radar images."),
    ("Code review bots", "Comments are generated for pull requests."),
]


def unrelated_day():
    return [paper(f"d{i}", title, abstract + " " + FILLER * 3) for i, (title, abstract) in enumerate(UNRELATED_DAY)] + \
        [paper(f"x{i}", f"Field notes {i}", f"Observations of site {i} in spring.") for i in range(24)]


@pytest.mark.parametrize("profile", ['"KV cache", eviction, "long-context inference"', '"step distillation", "fast sampling"'])
def test_a_day_with_nothing_relevant_sends_nothing(profile):
    """Passing mentions of a term's words deep in long abstracts are all such a day has: nothing is sent."""
    day = unrelated_day()
    index = build_index(day, background(300))
    matches = match_profile(index, parse_profile(profile))
    assert matches and not any(m.selected for m in matches)


@pytest.mark.parametrize("threshold, sent", [(None, []), (0.2, ["d1"])], ids=["default", "set-lower"])
def test_a_threshold_set_below_the_floor_lowers_the_floor_too(threshold, sent):
    """On a day with nothing relevant, the passing mention of 'eviction' deep in one abstract is
    below the 0.4 floor; a subscriber who set a lower threshold asked for more, and gets it."""
    index = build_index(unrelated_day(), background(300))
    matches = match_profile(index, parse_profile("eviction"), threshold=threshold)
    assert [m.paper_id for m in matches if m.selected] == sent


@pytest.mark.parametrize("abstract, sent", [
    ("We reduce each step by distillation.", False),
    ("We use step distillation.", True),
], ids=["its-words-apart", "as-written"])
def test_the_best_paper_of_an_unrelated_day_with_a_phrases_words_only_apart_is_not_sent(abstract, sent):
    """A day's best paper has a phrase's words near each other, not the phrase: it needs more of
    them than a paper with a term as written, so the day sends nothing (the same paper with the
    phrase written is sent)."""
    index = build_index(unrelated_day() + [paper("best", "Diffusion models", abstract + " " + FILLER)], background(300))
    matches = {m.paper_id: m for m in match_profile(index, parse_profile('"step distillation", "fast sampling"'))}
    assert matches["best"].score == max(m.score for m in matches.values())
    assert matches["best"].selected is sent


def test_a_relevant_paper_on_an_otherwise_unrelated_day_is_sent_alone():
    day = unrelated_day()
    index = build_index(day + [squarely(0)], background(300))
    matches = match_profile(index, parse_profile('"KV cache", eviction, "long-context inference"'))
    assert [m.paper_id for m in matches if m.selected] == ["good0"]


def bundled_day() -> list[Paper]:
    """The 30 papers of the real day `notifier demo` fetches."""
    from importlib.resources import files
    from notifier.parse import parse_text
    return parse_text(files("notifier.samples").joinpath("hf_daily_papers_api_2026-06-12.json").read_text())


def test_a_common_word_on_a_small_day_is_still_sent():
    """'agents' is in 12 of the 30 papers of a real day: low specificity must not hide them all."""
    day = bundled_day()
    matches = match_profile(build_index(day, background=day), parse_profile("agents"))
    assert len(matches) == 12 and sum(m.selected for m in matches) >= 10


def test_a_paper_whose_title_names_what_the_best_matches_are_about_ranks_above_a_passing_mention():
    """Two papers with the same words and the same one back-off word of the profile: the one whose
    title says what the best matches are about (reversible layers) ranks first, whatever their order."""
    corpus = [paper(f"seed{i}", f"Reversible layers for memory-efficient training {i}",
                    "Activation checkpointing is replaced by reversible layers that recompute activations.")
              for i in range(3)]
    corpus += [paper("passing", "Coral ocean networks", "Reversible layers store few activations; we study reefs."),
               paper("about", "Reversible ocean networks", "Coral layers store few activations; we study reefs.")]
    corpus += [paper(f"db{i}", f"Database transactions {i}", "Transactions are checkpointed to disk.") for i in range(5)]
    ranked = ids('"activation checkpointing"', corpus)
    assert ranked.index("about") < ranked.index("passing")


@pytest.mark.parametrize("typed", [
    '"multi-agent frameworks", "speculative decoding", "web agents", -"robot manipulation"',   # reversed
    '-"robot manipulation", "web agent", "speculative decoding", "multi-agent framework"',     # singular
    '-"ROBOT MANIPULATION", "Web Agents", "Speculative Decoding", "Multi-Agent Frameworks"',   # capitals
], ids=["reversed", "singular", "capitals"])
def test_a_profile_typed_another_way_ranks_and_sends_the_same_papers(typed):
    """How subscribers type the same wish (term order, case, singular or plural) changes nothing they get
    (benchmarks/eval_matcher.py --rewritten measures the same on the 24 judged profiles)."""
    day = bundled_day()
    index = build_index(day, background=day)

    def got(text):
        return [(m.paper_id, round(m.score, 4), m.selected) for m in match_profile(index, parse_profile(text))]
    written = got('-"robot manipulation", "web agents", "speculative decoding", "multi-agent frameworks"')
    assert sum(sent for *_, sent in written) >= 3 and got(typed) == written


# ----------------------------------------------------------------------------- votes: phrases, explanations, the cache
WHOLE = paper("whole", "Routing of tokens", "Load balancing keeps every expert busy during routing.")
APART = paper("apart", "Routing of tokens", "Balancing keeps every expert busy during load routing.")   # same words
HOST = paper("host", "Serving requests", "Load balancing spreads requests across servers.")
BALANCING = {"id": "old-9", "title": "Load balancing in sparse networks", "abstract": "Load balancing for experts."}


def routing(feedback=None):
    index = build_index([WHOLE, APART, HOST], background())
    return {m.paper_id: m for m in match_profile(index, parse_profile("routing"), feedback=feedback)}


def test_votes_lift_the_paper_that_shares_the_liked_papers_phrases_over_one_with_the_same_words_apart():
    plain, voted = routing(), routing([(BALANCING, 1)])
    assert plain["whole"].score == pytest.approx(plain["apart"].score)
    assert voted["whole"].score > 1.1 * voted["apart"].score and "host" not in voted


def test_a_paper_the_votes_moved_down_is_not_said_to_be_like_the_papers_you_liked():
    voted = routing([(BALANCING, 1)])
    assert (voted["whole"].liked, voted["apart"].liked) == (1, 0)     # both have its words; only one rose


def test_papers_voted_on_are_compared_once_per_index_and_a_bounded_number_kept(monkeypatch):
    import notifier.match as m
    import notifier.votes as nv
    corpus = [EXPERTS, PACKETS]
    votes = [[({**LIKED, "id": f"old-{i}"}, 1), (DISLIKED, -1)] for i in range(6)]
    texts = ["routing"] * len(votes)
    index = build_index(corpus, background())
    roomy = [(r.docs, r.scores) for r in m.match_profiles(index, [parse_profile(t) for t in texts], feedback=votes)]
    monkeypatch.setattr(nv, "VOTE_KEPT_CELLS", 2 * len(corpus))         # room for two papers' similarities
    index = build_index(corpus, background())
    tight = [(r.docs, r.scores) for r in m.match_profiles(index, [parse_profile(t) for t in texts], feedback=votes)]
    assert tight == roomy and all(len(index.cache[("similar", space)]) == 2 for space in ("stems", "phrases"))


def test_a_paper_squarely_about_one_term_is_sent_even_when_the_best_papers_match_them_all():
    """The best papers match all three terms, so one about the KV cache alone scores well under
    0.4 of them; its title, its phrase as written and its likeness to the best papers send it."""
    corpus = [squarely(i) for i in range(3)] + [
        paper("one-term", "Quantizing the KV cache", "Two bits per value suffice."),
        paper("passing", "Image segmentation", "A long study of images; in passing we mention eviction. " + FILLER * 3)]
    index = build_index(corpus, background(300))
    matches = {m.paper_id: m for m in match_profile(index, parse_profile('"KV cache", eviction, "long-context inference"'))}
    assert matches["one-term"].score < 0.4 * matches["good0"].score
    assert matches["one-term"].selected and not matches["passing"].selected


def test_a_paper_squarely_about_a_common_phrase_is_sent_though_a_rarer_term_can_score_far_more():
    """'long-context inference' is in many stored papers, 'eviction' in few: a paper about the phrase
    alone (its words apart) scores a quarter of the best papers and under what eviction could score
    in one paper, yet about all the phrase itself can: it is sent, a passing mention of each of its
    words is not, and a high threshold still asks for papers near the best."""
    about = paper("about", "Inference over long context windows",
                  "Long context makes inference slow. We make inference over a long context fast: inference cost "
                  "grows with context, so long inputs are split.")
    passing = paper("passing", "Field notes", "A long walk; in context, the inference is uncertain. " + FILLER)
    stored = background(300) + [paper(f"lc{i}", f"Notes {i}", "Inference over long context is common.") for i in range(40)]
    profile = parse_profile('"KV cache", eviction, "long-context inference"')

    def sent(**kw):
        index = build_index([squarely(i) for i in range(3)] + [about, passing], stored)
        return {m.paper_id: m for m in match_profile(index, profile, **kw)}
    matches = sent()
    assert matches["about"].score < 0.3 * matches["good0"].score
    assert matches["about"].selected and not matches["passing"].selected
    assert not sent(threshold=0.9)["about"].selected


def test_a_papers_likeness_to_the_best_does_not_hang_on_how_strongly_feedback_is_weighted(monkeypatch):
    """The selection's evidence from feedback is how like the best papers a paper reads, against how
    like one another they read: the same whatever PRF_WEIGHT, measured on a day too small for
    feedback to be added, and nothing at all when the best papers have nothing in common."""
    import numpy as np
    import notifier.match as match
    corpus = [paper(f"seed{i}", f"Reversible layers for training {i}", "Reversible layers recompute activations.")
              for i in range(3)]
    corpus += [paper("alike", "Reversible activations", "Layers that recompute their activations."),
               paper("other", "Coral reefs", "Ocean currents move coral larvae.")]
    index = build_index(corpus, background(300))
    totals = np.array([[3.0, 2.5, 2.0, 1.0, 0.5]], np.float32)
    added, small_day = match.pseudo_feedback(index, totals)       # 5 matched: fewer than PRF_MIN_MATCHED
    assert not added.any() and small_day[0, 3] > 0.5 > small_day[0, 4]
    monkeypatch.setattr(match, "PRF_MIN_MATCHED", 0)
    added, likeness = {}, {}
    for weight in (0.5, 2.0):
        monkeypatch.setattr(match, "PRF_WEIGHT", weight)
        added[weight], likeness[weight] = match.pseudo_feedback(index, totals)
    assert np.allclose(added[2.0], 4 * added[0.5]) and added[0.5][0, 3] > 0
    assert np.allclose(likeness[0.5], likeness[2.0]) and np.allclose(likeness[0.5], small_day)

    monkeypatch.setattr(match, "PRF_DOCS", 2)       # the best two: "seed0" and "other", nothing in common
    _, unrelated = match.pseudo_feedback(index, np.array([[3.0, 0.1, 0.1, 0.1, 2.5]], np.float32))
    assert not unrelated.any()


def test_votes_choose_which_papers_fill_a_full_digest_but_never_move_the_bar():
    def sent(votes, corpus=(EXPERTS, PACKETS, WHOLE, APART), **kw):
        index = build_index(list(corpus), background())
        return [m.paper_id for m in match_profile(index, parse_profile("routing"), feedback=votes, **kw) if m.selected]
    without = sent(None)
    assert len(without) == 4
    for votes in ([(LIKED, 1)], [(DISLIKED, -1)], [(LIKED, 1), (DISLIKED, -1)], [(BALANCING, 1)]):
        assert sorted(sent(votes)) == sorted(without)          # the profile's evidence decides what may be sent
    assert sent([(LIKED, 1)], max_items=1) == ["experts"]      # the votes decide what makes a full digest
    assert sorted(sent([(DISLIKED, -1), (BALANCING, 1)], max_items=2)) == ["experts", "whole"]


def routing_day() -> list[dict]:
    """A day for the profile 'routing': papers squarely about it, its weakest matches (switches and
    packets) and two about experts and gates."""
    return ([paper(f"strong{i}", f"Routing in sparse models {i}", "Routing decides the path; routing is learned end to end.")
             for i in range(3)]
            + [paper(f"weak{i}", f"Datacenter switches {i}", "Switches forward packets by a table; routing is static.")
               for i in range(4)]
            + [paper(f"experts{i}", f"Expert models {i}", "Experts and gates with routing of tokens.") for i in range(2)])


GATES_LIKED = [({"id": f"old-{i}", "title": f"Gates for mixture-of-experts {i}", "abstract": "A gate sends tokens to experts."}, 1)
               for i in range(2)]


def test_of_two_papers_as_like_the_liked_ones_the_one_reading_like_the_weakest_matches_ranks_lower():
    """Both share the liked papers' gate; one otherwise reads like the profile's weakest matches
    (switches and packets), the other like nothing it matches (compilers): liking the gate papers
    says the subscriber wants what sets them apart from the weak matches, so the second ranks first."""
    switching = paper("switching", "Learned models", "We send a gate; switches forward packets, with routing.")
    compilers = paper("compilers", "Learned models", "We send a gate; compilers fuse kernels, with routing.")

    def scores(votes):
        index = build_index(routing_day() + [switching, compilers], background())
        return {m.paper_id: m.score for m in match_profile(index, parse_profile("routing"), feedback=votes)}
    plain, voted = scores(None), scores(GATES_LIKED)
    assert plain["compilers"] == pytest.approx(plain["switching"], rel=0.1)
    assert voted["compilers"] > 1.05 * voted["switching"] and voted["switching"] > plain["switching"]


def test_a_paper_the_votes_lift_only_for_reading_unlike_the_weakest_matches_is_not_said_to_be_like_the_liked_ones():
    """Liking the gate papers lifts a compilers paper that shares only 'tokens' with them (too little
    to resemble them) because it reads unlike the profile's weakest matches: it rises, but its "why"
    line must not claim it is like the papers the subscriber liked."""
    from notifier.render import votes_line
    compilers = paper("compilers", "Learned compilers", "Compilers fuse kernels and tokens, with routing of loops and schedules.")

    def matches(votes):
        index = build_index(routing_day() + [compilers], background())
        return {m.paper_id: m for m in match_profile(index, parse_profile("routing"), feedback=votes)}
    plain, voted = matches(None), matches(GATES_LIKED)
    assert voted["compilers"].score > 1.05 * plain["compilers"].score          # the votes lifted it
    assert (voted["compilers"].liked, voted["compilers"].disliked) == (0, 0) and votes_line(voted["compilers"]) == ""
    assert voted["experts0"].liked == 2 and votes_line(voted["experts0"]) == "ranked up: like 2 papers you voted up"



def test_a_paper_like_the_ones_the_votes_lift_to_the_top_gains_on_its_twin_but_is_not_said_to_be_like_the_liked(
        monkeypatch):
    """Liking the gate papers lifts the two expert papers, ranked below five routing papers before,
    to the top. 'capacity' shares their 'capacity factor', not the liked papers' words; its twin
    shares nothing with them: the votes' second round of feedback, on the ranking they made, moves
    'capacity' further ahead of its twin than the votes alone would, and its "why" line does not
    claim it is like the papers the subscriber liked."""
    import notifier.votes as nv
    day = ([paper(f"strong{i}", f"Routing in sparse models {i}", "Routing decides the path; routing is learned end to end.")
            for i in range(5)]
           + [paper(f"experts{i}", f"Expert routing {i}", "Experts and gates with routing of tokens under a capacity factor.")
              for i in range(2)]
           + [paper(f"weak{i}", f"Datacenter switches {i}", "Switches forward packets by a table; routing is static.")
              for i in range(5)]
           + [paper("capacity", "Planning queues", "A capacity factor bounds the queues, with routing."),
              paper("twin", "Planning queues", "A budget limit bounds the queues, with routing.")])

    def matches(votes):
        index = build_index(day, background())
        return {m.paper_id: m for m in match_profile(index, parse_profile("routing"), feedback=votes)}

    def lead(found):
        return found["capacity"].score / found["twin"].score
    plain, voted = matches(None), matches(GATES_LIKED)
    monkeypatch.setattr(nv, "VOTE_SECOND_ROUND", 0.0)
    first_round_only = matches(GATES_LIKED)
    assert not any(pid.startswith("experts") for pid in list(plain)[:5]) and list(voted)[:2] == ["experts0", "experts1"]
    assert lead(voted) > lead(first_round_only) and lead(voted) > lead(plain)
    assert voted["capacity"].liked == 0 and voted["experts0"].liked == 2


@pytest.mark.parametrize("batch_cells", [1 << 21, 0], ids=["similarities-kept-for-the-batch", "looked-up-per-chunk"])
def test_profiles_voting_on_one_side_only_match_in_a_batch_as_they_do_alone(monkeypatch, batch_cells):
    import notifier.match as m
    import notifier.votes as nv
    monkeypatch.setattr(nv, "VOTE_BATCH_CELLS", batch_cells)
    monkeypatch.setattr(m, "CHUNK_CELLS", 3 * 2)          # 3 profiles a chunk over the 2 day papers
    corpus = [EXPERTS, PACKETS]
    votes = [[(DISLIKED, -1)], [(LIKED, 1)], [(DISLIKED, -1), (LIKED, -1)], [], [(LIKED, 1), (DISLIKED, 1)],
             [(DISLIKED, -1)], [(LIKED, 1), (DISLIKED, -1)]]
    texts = ["routing"] * len(votes)
    alone = [[(x.paper_id, x.score, x.liked, x.disliked) for x in
              match_profile(build_index(corpus, background()), parse_profile(t), feedback=v)] for t, v in zip(texts, votes)]
    index = build_index(corpus, background())
    batch = m.match_profiles(index, [parse_profile(t) for t in texts], feedback=votes)
    together = [[(index.docs[d].id, score, *r.votes(i)) for i, (d, score) in enumerate(zip(r.docs, r.scores))]
                for r in batch]
    assert together == alone
    assert alone[1] != alone[0]         # the votes did move papers


@pytest.mark.parametrize("most", [1, 3, 7, 8, 12], ids=lambda n: f"up-to-{n}-votes")
def test_vote_sums_a_vote_at_a_time_equal_numpys_reduceat_to_the_last_bit(most):
    import numpy as np
    import notifier.votes as nv
    rng = np.random.default_rng(most)
    similar = rng.random((40, 300)) * rng.random((40, 1)) ** 3        # many digits, rows of unlike scales
    counts = rng.integers(0, most + 1, 60)
    counts[-1] = most                                                   # the last profile pads reduceat's cells
    profile = np.repeat(np.arange(60), counts)
    paper = rng.integers(0, 40, len(profile))
    w = np.where(rng.random(len(profile)) < 0.7, 1.0, -1.0) / rng.integers(1, 6, len(profile))
    owners = np.unique(profile)
    keep = w > 0
    fast = nv.vote_sums(similar, paper, w, profile, owners)
    assert np.array_equal(fast, nv.vote_sums_reduceat(similar, paper[keep], w[keep], profile[keep], owners))
    assert fast.any() and not fast[np.bincount(profile[keep], minlength=60)[owners] == 0].any()


def test_a_kept_index_asks_for_squarely_as_it_is_set_now(monkeypatch):
    """The eval tunes SQUARELY in-process on one index: its terms' flags (worked out for the terms
    resolved since last asked) follow the setting."""
    import notifier.match as m
    about = paper("about", "Inference over long context windows",
                  "Long context makes inference slow. We make inference over a long context fast: inference cost "
                  "grows with context, so long inputs are split.")
    stored = background(300) + [paper(f"lc{i}", f"Notes {i}", "Inference over long context is common.") for i in range(40)]
    profile = parse_profile('"KV cache", eviction, "long-context inference"')
    index = build_index([squarely(i) for i in range(3)] + [about], stored)
    match_profile(index, parse_profile("eviction"))        # the profile's other terms are resolved after

    def sent(index):
        return {x.paper_id for x in match_profile(index, profile) if x.selected}
    assert "about" in sent(index)
    monkeypatch.setattr(m, "SQUARELY", 1e9)                 # no paper is squarely about a term
    assert "about" not in sent(index)
    assert sent(index) == sent(build_index([squarely(i) for i in range(3)] + [about], stored))
    monkeypatch.setattr(m, "SQUARELY", 0.8)
    assert "about" in sent(index)


@settings(deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii"), max_size=60) | st.text(max_size=30))
def test_the_fast_ascii_split_finds_the_words_the_word_pattern_does(text):
    """Votes' papers and the index split text by ``tokens`` (translate and split for ASCII): the
    same words, in order, as the pattern both stand for, in the text's composed form (NFC: an accent
    pasted as a combining mark is part of its letter's word), TeX commands left out as the why line does."""
    import unicodedata

    from notifier.index import TOKEN, tokens
    from notifier.tex import without_commands
    assert tokens(text) == TOKEN.findall(unicodedata.normalize("NFC", without_commands(text)))


def test_the_weakest_matches_the_votes_contrast_with_are_taken_from_tied_scores_in_the_order_the_ranking_has_them():
    """Papers scoring the same rank in the order they came (the ranking's sort is stable): the lower
    half sampled for the votes' contrast follows that order, so the same day gives the same figures
    whatever numpy's sort does with ties."""
    import numpy as np
    import notifier.votes as nv
    scores = np.array([[3.0, 2.0, 2.0, 2.0, 2.0, 1.0] * 8])          # 48 papers, 32 of them tied at 2
    papers, real = nv.lower_half(scores, scores > 0, 4)                # ranks 24, 30, 36 and 42 of 48
    tied = [i for i in range(48) if scores[0, i] == 2.0]
    assert real.all() and papers[0].tolist() == [tied[16], tied[22], tied[28], 17]    # 17: the third paper at 1


# ----------------------------------------------------------------------------- README claims
def scored(corpus, text="pruning", **kw):
    index = build_index(list(corpus), background())
    return {m.paper_id: m for m in match_profile(index, parse_profile(text), **kw)}


def test_a_word_in_the_title_counts_as_three_in_the_abstract():
    found = scored([paper("title", "Quantization for language models", "We study methods."),
                    paper("thrice", "Methods for language models", "We study quantization, quantization and quantization."),
                    paper("once", "Methods for language models", "We study quantization here.")], "quantization")
    assert found["title"].score == pytest.approx(found["thrice"].score, rel=0.1)
    assert found["title"].score > 1.4 * found["once"].score


def test_a_term_found_in_few_stored_papers_counts_more_than_one_found_in_many():
    found = scored([paper("rare", "Pruning notes", "We study pruning."),                # no background paper says it
                    paper("common", "Image notes", "We study image classification.")],  # every background paper does
                   "pruning, image")
    assert found["rare"].score > 5 * found["common"].score


def test_a_paper_matching_more_of_the_profile_scores_higher():
    found = scored([paper("both", "Pruning and distillation", "We study pruning and distillation."),
                    paper("one", "Pruning alone", "We study pruning here.")], "pruning, distillation")
    assert found["both"].score > 1.5 * found["one"].score


MODERATE = [paper(f"m{i}", f"Notes on networks {i}", f"We apply pruning to model {i} and report results.")
            for i in range(4)]


def outstanding(n):
    return [paper(f"star{i}", "Pruning, pruning everywhere: structured pruning",
                  "Pruning pruning pruning of weights by pruning.") for i in range(n)]


def test_one_outstanding_paper_does_not_raise_the_bar_for_the_rest():
    def sent(corpus):
        return sorted(pid for pid, m in scored(corpus, threshold=0.7).items() if m.selected)
    moderate = [m.arxiv_id for m in MODERATE]
    assert sent(MODERATE) == moderate
    assert sent(MODERATE + outstanding(1)) == moderate + ["star0"]
    assert sent(MODERATE + outstanding(3)) == ["star0", "star1", "star2"]     # three raise the mean of the best


ROUTING = [paper(f"{kind}{i}", title, abstract)
           for i, topic in enumerate(["experts gate tokens load balancing", "packets switches tables shedding",
                                      "vehicles roads traffic maps", "molecules graphs chemistry bonds",
                                      "circuits wires chips placement", "queries databases joins plans",
                                      "robots arms grasping motion", "speech audio phonemes acoustics"])
           for kind, title, abstract in [
               ("t", f"Routing routing for {topic.split()[0]}", f"Routing of {topic}. {topic} {topic}"),
               ("a", f"Study of {topic.split()[0]}", f"We look at {topic}; some routing. {topic}")]]


def test_votes_move_a_papers_score_at_most_x2_7_either_way(monkeypatch):
    import notifier.votes as nv
    monkeypatch.setattr(nv, "VOTE_LIKED", 1.0)             # a pull strong enough to reach the cap

    def voted(paper_, vote, n=10):
        return [({"id": f"{vote}-{i}", "title": paper_.title, "abstract": paper_.abstract}, vote) for i in range(n)]
    index = build_index(ROUTING, background())
    plain = {m.paper_id: m.score for m in match_profile(index, parse_profile("routing"))}
    votes = voted(ROUTING[1], 1) + voted(ROUTING[15], -1)
    moved = {m.paper_id: m.score / plain[m.paper_id]
             for m in match_profile(index, parse_profile("routing"), feedback=votes)}
    assert max(moved.values()) == pytest.approx(2.718, abs=0.001)          # ten likes of its twin reach the cap
    assert min(moved.values()) >= 1 / 2.718 - 0.001                       # (scores are rounded to 4 places)


def test_a_not_for_me_without_any_like_hides_that_paper_and_moves_no_other():
    twin = paper("twin", "Routing in sparse switch networks", "Packets are sent to switches with a table and load shedding.")
    plain = {pid: m.score for pid, m in order(None, (EXPERTS, PACKETS, twin)).items()}
    voted = {pid: m.score for pid, m in order([(PACKETS, -1)], (EXPERTS, PACKETS, twin)).items()}
    assert voted == {"experts": plain["experts"], "twin": plain["twin"]}         # the twin of the disliked stays put
    liked_too = {pid: m.score for pid, m in order([(PACKETS, -1), (LIKED, 1)], (EXPERTS, PACKETS, twin)).items()}
    assert liked_too["twin"] < plain["twin"]                                      # with a like it would move down


def test_a_phrase_counts_fully_in_order_less_near_in_any_order_and_least_apart():
    corpus = [paper("order", "Notes on models", "We use step distillation for faster sampling of images."),
              paper("near", "Notes on models", "We use distillation in one step for faster sampling of images."),
              paper("apart", "Notes on models", "We take a step towards faster sampling of images, then study "
                                                "quality, cost, memory and finally distillation.")]
    assert ids('"step distillation"', corpus) == ["order", "near", "apart"]


def test_a_required_phrase_admits_a_paper_only_where_the_phrase_itself_appears():
    corpus = [paper("inflected", "Checkpointing for training", "Activations checkpointing saves memory."),
              paper("apart", "Checkpointing for training", "Checkpointing with activation recomputation saves memory."),
              paper("abbrev", "Checkpointing for training", "Activation checkpointing (AC) is common; we study AC."),
              paper("none", "Checkpointing for training", "We restart from a checkpoint after failures.")]
    assert sorted(ids('checkpointing, +"activation checkpointing"', corpus)) == ["abbrev", "inflected"]


@pytest.mark.parametrize("profile, title", [
    ("GNN", "Scaling GNNs to billions of edges"),
    ("LLM", "Serving LLMs on one machine"),
    ("LLMs", "An LLM for code review"),
    ("TPU", "Serving on EdgeTPUs"),
    ("A100", "Training on 64 A100s"),
], ids=["singular-finds-plural", "singular-finds-plural-of-consonants", "plural-finds-singular",
        "plural-as-a-word-part", "plural-with-digits"])
def test_an_abbreviation_finds_its_plural_and_its_plural_finds_it(profile, title):
    """The stemmer leaves 'gnns' and 'llms' as they are: "GNN" missed every paper writing "GNNs"."""
    assert ids(profile, [paper("hit", title)]) == ["hit"]


@pytest.mark.parametrize("profile, title", [
    ("TP", "Serving models on TPUs and GPUs"),
    ("LL", "Fine-tuning LLMs cheaply"),
    ("GN", "Scaling GNNs to billions of edges"),
    ("RA", "Fine-tuning with LoRA"),
    ("PE", "Extending RoPE to long contexts"),
    ("TP", "Training on a TPUv3 Pod"),
], ids=["tp-in-tpus", "ll-in-llms", "gn-in-gnns", "ra-in-lora", "pe-in-rope", "tp-in-a-tpu-version"])
def test_an_abbreviation_is_not_found_in_the_capitals_of_a_longer_one(profile, title):
    """"TPUs" was split as TP + Us, "TPUv3" as TP + Uv + 3: "tensor parallelism" reached papers on
    TPUs through a defined TP. Two capitals are a part only beside a word or a number (SnapKV, FP8)."""
    assert ids(profile, [paper("trap", title)]) == []


@pytest.mark.parametrize("profile, abstract", [
    ("naively", 'However, na\\"{\\i}vely implemented attention is slow.'),
    ("Schrödinger", 'We solve the Schr\\"odinger equation.'),
    ("schrodinger", "We solve the Schr{\\\"o}dinger equation."),
], ids=["dotless-i", "accent-typed", "accent-folded-braces"])
def test_a_word_with_a_tex_accent_is_found_as_the_word(profile, abstract):
    assert ids(profile, [paper("hit", "A study", abstract)]) == ["hit"]


@pytest.mark.parametrize("profile, title", [
    ("TPU", "Training on a TPUv3 Pod"),
    ("YOLO", "YOLOv9: detection in real time"),
    ("ViT", "MobileViTv2 on phones"),
], ids=["capitals-and-version", "capitals-and-two-digits", "word-part-and-version"])
def test_a_name_with_a_version_is_found_by_the_name(profile, title):
    """'TPUv3' was split as TP + Uv + 3: "TPU" did not find it."""
    assert ids(profile, [paper("hit", title)]) == ["hit"]


def test_a_term_only_in_a_papers_code_link_does_not_match_it():
    """'Code: https://github.com/org/fast-kv-cache' is where the paper's code is, not what it is
    about: a subscriber of "kv cache" got a paper on image tokenisers for its repository's name."""
    tokeniser = paper("tok", "Image tokenisers", "A tokeniser for images. Code: https://github.com/org/fast-kv-cache.")
    eviction = paper("evict", "Eviction for inference", "We shrink the KV cache. Code: https://github.com/org/evict.")
    assert ids('"kv cache"', [tokeniser, eviction]) == ["evict"]


def test_the_why_line_highlights_the_terms_words_in_the_text_not_in_its_code_link():
    """The paper has "KV cache" in its text and in its code link: the why line marks the text's."""
    p = paper("evict", "Eviction for inference",
              "Code: https://github.com/org/kv-cache-evict. We shrink the KV cache by eviction.")
    [m] = match_profile(build_index([p], background()), parse_profile('"kv cache"'))
    assert [t for ev in m.evidence for t, hit in ev.snippet if hit] == ["KV cache"]
