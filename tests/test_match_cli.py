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
