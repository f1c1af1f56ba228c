"""`notifier match`: what it prints for a person, and that the other commands score alike."""
import json
import os
import subprocess
import sys

import pytest

from notifier.cli import main

PRODUCT = ("import numpy as np, hashlib; a = np.random.default_rng(0).random((1000, 1024), dtype=np.float32); "
           "print(hashlib.md5((a @ a.T).tobytes()).hexdigest())")


def product_digest(prelude: str, env: dict) -> str:
    return subprocess.run([sys.executable, "-c", prelude + PRODUCT], env=env, capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("prelude", ["import notifier.cli; ", "import notifier.match; "], ids=["command", "in-process"])
def test_notifier_loaded_either_way_multiplies_as_notifier_match_does_whatever_the_cpus(prelude):
    """On several BLAS threads a matrix product the size of 1,000 papers' similarity sums in another
    order (other scores, other selections): every command, and code that imports the matcher itself
    (benchmarks/eval_matcher.py's in-process checks), loads numpy with one, as `match` did alone.
    (On a machine of one CPU this cannot tell; on two or more it does.)"""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert product_digest(prelude, env) == product_digest("", {**env, "OPENBLAS_NUM_THREADS": "1"})


def test_a_paper_matched_only_through_part_of_a_phrase_says_which_part_and_where(tmp_path, capsys):
    papers = tmp_path / "papers.jsonl"
    papers.write_text(json.dumps({"id": "2601.00001", "title": "KV cache eviction for long contexts",
                                  "abstract": "We evict entries from the KV cache of a transformer."}) + "\n" +
                      json.dumps({"id": "2601.00002", "title": "A cache for retrieval",
                                  "abstract": "We cache retrieved documents to speed up serving."}) + "\n")
    assert main(["match", "--papers", str(papers), "--profile", '"kv cache"']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:3] == ["            matched: kv cache", "            title: [KV cache] eviction for long contexts"]
    assert lines[3].startswith("    ") and lines[3].endswith("2601.00002  A cache for retrieval")
    assert lines[4:6] == ["            matched: part of kv cache", "            title: A [cache] for retrieval"]


ROUTING = [{"id": "experts", "title": "Routing in sparse models",
            "abstract": "Tokens are sent to experts with a learned gate and load balancing."},
           {"id": "packets", "title": "Routing in sparse networks",
            "abstract": "Packets are sent to switches with a learned table and load shedding."},
           {"id": "roads", "title": "Traffic on city roads",
            "abstract": "We model congestion of cars over a city, with a note on routing at the end of a long survey "
                        "of signals, lanes and parking."},
           {"id": "proteins", "title": "Protein folding", "abstract": "Proteins fold."}]


def test_papers_past_max_items_are_counted_as_passing_the_bar_not_as_weaker(tmp_path, capsys):
    """"packets" passed the bar but --max-items 1 left it out: the text said "2 weaker matches", as if a
    lower --threshold would select it (a digest says "N more papers passed your bar"). The JSON, which
    DESIGN.md pins, stays as it was."""
    papers = tmp_path / "papers.jsonl"
    papers.write_text("".join(json.dumps(p) + "\n" for p in ROUTING))
    assert main(["match", "--papers", str(papers), "--profile", "routing", "--max-items", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == \
        "1 selected (*), 1 more passed the bar (--max-items 1), 1 weaker match, 4 papers"
    assert main(["match", "--papers", str(papers), "--profile", "routing", "--max-items", "1", "--json"]) == 0
    assert [(m["id"], m["selected"]) for m in json.loads(capsys.readouterr().out)] == \
        [("experts", True), ("packets", False), ("roads", False)]
    assert main(["match", "--papers", str(papers), "--profile", "routing"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 selected (*), 1 weaker match, 4 papers"
